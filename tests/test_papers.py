"""Tests of the initmath.papers package: its import structure, the deprecated names of the
printed equations, the experiment tables as an explicit input, and the tests behind each
claim (the ledger itself names no tests; this file does)."""
import ast
import pathlib
import warnings

import pytest

import initmath
from initmath import kl, papers
from initmath.papers import horii_has, ledger

PAPERS_DIR = pathlib.Path(papers.__file__).parent
TESTS_DIR = pathlib.Path(__file__).parent

# Claim (paper, label) -> the tests (file::function in tests/) that re-check it.
BACKING_TESTS = {
    ("gurbuzbalaban-hu-2021", "Theorem 1 (3.1)–(3.2)"):
        ("test_series.py::test_float_matches_hypergeometric_reference",
         "test_critical_variance.py::test_three_routes_agree_in_float64"),
    ("gurbuzbalaban-hu-2021", "Theorem 1 (i)"):
        ("test_series.py::test_printed_relu_sigma_is_wrong_at_s_1",
         "test_series.py::test_printed_relu_sigma_agrees_at_s_2",
         "test_series.py::test_printed_sigma_fails_in_a_simulated_network"),
    ("gurbuzbalaban-hu-2021", "Theorem 1 (i)–(iii), growth and decay"):
        ("test_critical_variance.py::test_strictly_decreasing_in_a_d_and_s",),
    ("gurbuzbalaban-hu-2021", "Remark 2 and §2 (s = 2 is Kaiming)"):
        ("test_critical_variance.py::test_second_moment_is_kaiming",
         "test_asymptotics.py::test_s2_is_kaiming_exactly"),
    ("gurbuzbalaban-hu-2021", "Remark 3 (variable widths)"):
        ("test_critical_variance.py::test_widths_norm_convention_uses_fan_out",
         "test_critical_variance.py::test_widths_per_neuron_preserves_the_unit_moment",
         "test_critical_variance.py::test_widths_per_neuron_convention_is_he_at_s_2"),
    ("gurbuzbalaban-hu-2021", "Corollary 4"):
        ("test_asymptotics.py::test_corollary4_printed_expansion_is_right",
         "test_asymptotics.py::test_corollary4_printed_sigma_is_right",
         "test_critical_variance.py::test_expansion_converges_at_the_right_rate"),
    ("gurbuzbalaban-hu-2021", "Corollary 4 (consequence)"):
        ("test_claims.py::test_two_term_sigma_preserves_s_only_to_first_order",),
    ("gurbuzbalaban-hu-2021", "Figure 1 (left), slope −2"):
        ("test_critical_variance.py::test_expansion_converges_at_the_right_rate",),
    ("gurbuzbalaban-hu-2021", "Figure 1 (right)"):
        ("test_critical_variance.py::test_strictly_decreasing_in_a_d_and_s",),
    ("gurbuzbalaban-hu-2021", "Theorem 5"): ("test_lyapunov.py::test_relu_reproduces_theorem_5",),
    ("gurbuzbalaban-hu-2021", "Remark 6 / Figure 2"):
        ("test_lyapunov.py::test_sigma_only_shifts_the_law",
         "test_lyapunov.py::test_stochastic_dominance_of_remark_6"),
    ("gurbuzbalaban-hu-2021", "Theorem 7 (4.1)–(4.3)"):
        ("test_series.py::test_float_matches_hypergeometric_reference",
         "test_series.py::test_s_equal_2_is_the_exact_convention"),
    ("gurbuzbalaban-hu-2021", "Theorem 7 (i)"):
        ("test_series.py::test_printed_leaky_sigma_is_wrong_even_at_s_2",
         "test_series.py::test_printed_leaky_sigma_coincides_at_s_1"),
    ("gurbuzbalaban-hu-2021", "Theorem 7 (ii)–(iii)"):
        ("test_critical_variance.py::test_strictly_decreasing_in_a_d_and_s",),
    ("gurbuzbalaban-hu-2021", "Remark 8 (randomized leaky ReLU)"):
        ("test_critical_variance.py::test_rrelu_defaults_are_torchs_and_the_papers_are_swapped",
         "test_critical_variance.py::test_rrelu_per_neuron_matches_monte_carlo_and_rejects_per_layer",
         "test_critical_variance.py::test_rrelu_modes_differ_as_jensen_says"),
    ("gurbuzbalaban-hu-2021", "Corollary 9"):
        ("test_critical_variance.py::test_strictly_decreasing_in_a_d_and_s",),
    ("gurbuzbalaban-hu-2021", "Corollary 10 (a = 1)"):
        ("test_asymptotics.py::test_corollary10_printed_linear_expansion_is_right",
         "test_critical_variance.py::test_linear_activation_closed_form",
         "test_series.py::test_corollary_10_uses_the_correct_sigma"),
    ("gurbuzbalaban-hu-2021", "Corollary 10 (small a)"):
        ("test_asymptotics.py::test_corollary10_small_a_formula_misses_at_order_a4",
         "test_asymptotics.py::test_corollary10_small_a_formula_rejected",
         "test_asymptotics.py::test_corollary10_small_a_formula_miss_is_tiny_at_a_001"),
    ("gurbuzbalaban-hu-2021", "Theorem 11"):
        ("test_lyapunov.py::test_general_slope_matches_the_derivative_of_log_moment_at_zero",),
    ("gurbuzbalaban-hu-2021", "Remark 12"):
        ("test_lyapunov.py::test_normal_approximation_is_worse_at_small_depth_and_within_berry_esseen",
         "test_lyapunov.py::test_stochastic_dominance_of_remark_6"),
    ("gurbuzbalaban-hu-2021", "Remark 13 (dropout)"):
        ("test_asymptotics.py::test_remark13_printed_dropout_expansion_is_right",
         "test_critical_variance.py::test_dropout_matches_the_exact_sum_over_kept_units"),
    ("gurbuzbalaban-hu-2021", "Theorem 14"):
        ("test_lyapunov.py::test_theorem_14_sign_for_leaky",
         "test_lyapunov.py::test_theorem_14_sign_fails_for_relu_at_small_s",
         "test_lyapunov.py::test_relu_death_probability"),
    ("gurbuzbalaban-hu-2021", "§5, MNIST σ"):
        ("test_claims.py::test_two_term_sigma_preserves_s_only_to_first_order",),
    ("gurbuzbalaban-hu-2021", "Figure 5 (MNIST table)"):
        ("test_experiments.py::test_paired_is_ttest_rel_and_detects_a_shift",),
    ("skorski-2020", "§1, step size"):
        ("test_experiments.py::test_paired_is_ttest_rel_and_detects_a_shift",),
    ("skorski-2020", "Corollary 1 (training)"):
        ("test_experiments.py::test_paired_is_ttest_rel_and_detects_a_shift",),
    ("skorski-2020", "Theorem 1 and Remark 1"):
        ("test_torch_tools.py::test_factorized_form_exact_for_piecewise_linear",),
    ("skorski-2020", "Remark 2"):
        ("test_torch_tools.py::test_factorized_form_tanh_only_approximate",
         "test_torch_tools.py::test_factorized_form_tanh_first_layer_gap_grows_as_weights_shrink"),
    ("skorski-2020", "Theorem 2"):
        ("test_torch_tools.py::test_hessian_scales_quadratically_in_other_layers_jacobians",),
    ("skorski-2020", "Corollary 1"): ("test_torch_tools.py::test_hessian_calibrate",),
    ("skorski-2020", "Corollary 2, (7)–(8)"):
        ("test_hessian.py::test_gordon_inequality",
         "test_hessian.py::test_exact_against_monte_carlo",
         "test_hessian.py::test_gordon_is_paper_eq8_and_glorot"),
    ("skorski-2020", "§3.4 (proof of Corollary 2)"): ("test_hessian.py::test_exact_closed_forms",),
    ("skorski-2020", "Remark 3"): ("test_hessian.py::test_remark3_ratio_range",),
    ("juston-2026", "Abstract: exact marginal variance"):
        ("test_ldlt.py::test_monte_carlo_torch_cholesky_layer",
         "test_ldlt.py::test_closed_form_rank_one"),
    ("juston-2026", "Abstract: E tr S^k up to k = 10"):
        ("test_wishart.py::test_wick_enumerator_agrees",
         "test_wishart.py::test_monte_carlo"),
    ("juston-2026", "Abstract: series accuracy"):
        ("test_ldlt.py::test_exact_vs_series_inside_radius",),
    ("juston-2026", "Abstract: 0.41"):
        ("test_ldlt.py::test_abstract_numbers_hold_for_different_shapes",),
    ("juston-2026", "Abstract: 0.9"):
        ("test_ldlt.py::test_abstract_numbers_hold_for_different_shapes",),
    ("juston-2026", "Abstract: Monte Carlo"): ("test_ldlt.py::test_monte_carlo_eigen",),
    ("horii-has-2025", "(12), stationary law"):
        ("test_kl.py::test_bound_fails_for_the_sgd_recursion_itself",
         "test_kl.py::test_quadratic_monte_carlo_confirms_discrete_and_rejects_continuous",
         "test_kl.py::test_least_squares_monte_carlo_and_continuous_time_control"),
    ("horii-has-2025", "Proposition III.1, (14) = (17)"):
        ("test_kl.py::test_compare_with_paper_verdicts",
         "test_kl.py::test_slack_is_kl_divergence",
         "test_kl.py::test_derivation_equals_hand_formulas"),
    ("horii-has-2025", "Remark III.2, (18)"):
        ("test_kl.py::test_remark_III_2_limits",
         "test_kl.py::test_compare_with_paper_verdicts"),
    ("horii-has-2025", "Remark III.2, (19)"): ("test_kl.py::test_remark_III_2_limits",),
    ("horii-has-2025", "Theorem III.3, optimal σ0"):
        ("test_kl.py::test_optimal_sigma_minimises_bound_on_a_grid",),
    ("horii-has-2025", "Theorem III.3, (20)"):
        ("test_kl.py::test_printed_20_fails_in_the_quadratic_case",
         "test_kl.py::test_compare_with_paper_verdicts"),
    ("horii-has-2025", "Theorem III.3, (21)"):
        ("test_kl.py::test_printed_21_fails_in_the_quadratic_case",),
    ("horii-has-2025", "Remark III.4"): ("test_kl.py::test_remark_III_4_normaliser_is_not_small",),
    ("horii-has-2025", "§III summary"):
        ("test_kl.py::test_optimized_bound_is_tau_half_times_one_plus_log_am_over_gm",
         "test_kl.py::test_kl_zero_only_when_init_is_stationary"),
    ("horii-has-2025", "§IV, (18) restated"): ("test_kl.py::test_remark_III_2_limits",),
    ("horii-has-2025", "Abstract / §IV, He-normal"):
        ("test_experiments.py::test_paired_is_ttest_rel_and_detects_a_shift",),
}


def _imported_siblings(path):
    """The modules of initmath.papers that the module at ``path`` imports (anywhere in it)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.ImportFrom):
            continue
        module = node.module or ""
        if node.level == 1:                     # from . import x, from .x import y
            found |= {module.split(".")[0]} if module else {a.name for a in node.names}
        elif node.level == 0 and module == "initmath.papers":
            found |= {a.name for a in node.names}
        elif node.level == 0 and module.startswith("initmath.papers."):
            found.add(module.split(".")[2])
    return found


def _imports_papers_at_import_time(path):
    """Whether a top-level statement of the module at ``path`` imports initmath.papers."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom):
            modules = [node.module or ""] + [f"{node.module or ''}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
        else:
            continue
        if any("papers" in module.split(".") for module in modules):
            return True
    return False


def test_ledger_imports_no_paper_and_papers_import_only_the_ledger():
    """The package's import graph is two levels deep (papers and the renderer -> ledger),
    so it has no cycle; tests/test_architecture.py checks the whole library's graph."""
    graph = {path.stem: _imported_siblings(path) for path in PAPERS_DIR.glob("*.py")
             if path.stem != "__init__"}
    assert graph == {"ledger": set(), "_report": {"ledger"}, "gurbuzbalaban_hu": {"ledger"},
                     "horii_has": {"ledger"}, "juston": {"ledger"}, "skorski": {"ledger"}}


def test_no_initmath_module_imports_the_papers_at_import_time():
    """The numerics do not depend on the ledger: only the deprecated names reach into it,
    when they are looked up."""
    root = PAPERS_DIR.parent
    for path in root.rglob("*.py"):
        if PAPERS_DIR in path.parents:
            continue
        assert not _imports_papers_at_import_time(path), path


@pytest.mark.parametrize("name", ["printed_equations", "compare_with_paper"])
def test_deprecated_names_resolve_and_warn(name):
    with pytest.warns(DeprecationWarning, match=f"initmath.papers.horii_has.{name}"):
        value = getattr(initmath, name)
    assert value is getattr(horii_has, name)


def test_printed_equations_left_the_numerics():
    for name in ("printed_equations", "compare_with_paper"):
        assert name not in initmath.__all__
        assert not hasattr(kl, name) and name not in kl.__all__
        assert name in horii_has.__all__
    with pytest.raises(AttributeError, match="no attribute 'printed_equation'"):
        initmath.printed_equation                    # noqa: B018


def test_from_import_of_a_deprecated_name_warns():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from initmath import printed_equations
    assert printed_equations is horii_has.printed_equations
    # (raised twice, by importlib's hasattr check and by the import itself, both
    # attributed to the importing line: the default filter shows it once)
    assert caught and {(w.category, w.filename) for w in caught} == {(DeprecationWarning,
                                                                       __file__)}


def test_papers_work_without_a_docs_directory(tmp_path, monkeypatch):
    """Outside a repository checkout (an installed wheel) the experiment-backed claims are
    not checkable, with the command that writes their tables, and the report renders."""
    monkeypatch.chdir(tmp_path)
    evaluated = [(claim, claim.evaluate()) for claim in papers.all_claims()]
    waiting = [evidence for _, evidence in evaluated if evidence.note.startswith(ledger.NOT_RUN)]
    assert all(e.status == "not checkable" and not e.numbers for e in waiting)
    tables = [e for e in waiting if e.note.endswith("python -m experiments --out docs/experiments")]
    assert len(tables) >= 8 and len(waiting) - len(tables) >= 3
    report = papers.claims_report()
    assert report.startswith("# Paper claims")
    assert report.count("### ") == len(evaluated)
    assert not (tmp_path / "docs").exists()


def test_experiments_dir_is_an_explicit_input(tmp_path, monkeypatch):
    """A table in the given folder decides its claim, whatever the working directory."""
    monkeypatch.chdir(tmp_path)
    tables = tmp_path / "tables"
    tables.mkdir()
    (tables / "gh_vs_kaiming.json").write_text(
        '{"rows": [{"scheme": "2/d+3/d^2 (s~0.8)", "metric": "test_acc", "difference": 5.5,'
        ' "lo": 4.0, "hi": 7.0, "p Holm": 0.01}]}')
    for directory in (tables, str(tables)):
        claim = next(c for c in papers.all_claims(directory)
                     if c.label == "Figure 5 (MNIST table)")
        assert claim.evaluate().status == "confirmed"
    report = papers.claims_report(experiments_dir=tables)
    figure5 = report.split("### Figure 5 (MNIST table)")[1].split("###")[0]
    assert "**Status:** **confirmed**" in figure5
    missing = papers.claims_report(experiments_dir=tmp_path / "absent")
    assert f"run python -m experiments --out {tmp_path / 'absent'}" in missing


def test_library_names_no_tests_and_no_issues():
    for path in PAPERS_DIR.glob("*.py"):
        text = path.read_text()
        assert "tests/" not in text and "::test_" not in text, path
        assert "issue" not in text.lower(), path


def _test_functions():
    """Every 'file.py::test_function' defined at the top level of tests/test_*.py."""
    ids = set()
    for path in TESTS_DIR.glob("test_*.py"):
        ids |= {f"{path.name}::{node.name}" for node in ast.parse(path.read_text()).body
                if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")}
    return ids


def test_backing_tests_exist_and_belong_to_claims():
    claims = {(claim.paper, claim.label) for claim in papers.all_claims()}
    assert set(BACKING_TESTS) <= claims
    named = {node for nodes in BACKING_TESTS.values() for node in nodes}
    assert not named - _test_functions()

"""Tests of initmath.papers: the registry of paper claims and the generated report."""
import json
import math
import pathlib
import re

import pytest
from scipy import optimize

from initmath import hessian, log_moment_factor
from initmath import papers as claims
from initmath.asymptotics import critical_variance_expansion, d
from initmath.papers import gurbuzbalaban_hu as _claims_gh

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def evaluated():
    return [(claim, claim.evaluate()) for claim in claims.all_claims()]


def _errata():
    """Erratum number -> heading, from docs/errata.md ('### 12. Corollary 2: ...')."""
    text = (ROOT / "docs" / "errata.md").read_text()
    return {int(n): title for n, title in re.findall(r"^### (\d+)\. (.*)$", text, re.M)}


def test_every_claim_evaluates_to_an_allowed_status(evaluated):
    assert len(evaluated) > 40
    assert {claim.paper for claim, _ in evaluated} == set(claims.PAPERS)
    labels = [(claim.paper, claim.label) for claim, _ in evaluated]
    assert len(labels) == len(set(labels))
    for claim, evidence in evaluated:
        assert evidence.status in claims.STATUSES, claim.label
        assert isinstance(evidence.numbers, dict)
        # a correction exactly when the printed statement fails; a reason when nothing is computed
        assert (evidence.corrected is not None) == (evidence.status in ("corrected", "refuted"))
        assert evidence.status != "not checkable" or evidence.note
    # every status actually occurs: the registry is not uniformly "confirmed"
    assert {evidence.status for _, evidence in evaluated} == set(claims.STATUSES)


def test_every_referenced_check_exists(evaluated):
    pytest.importorskip("torch")
    import verification
    names = {check.name for check in verification.all_checks()}
    missing = {name for claim, _ in evaluated for name in claim.checks} - names
    assert not missing


@pytest.mark.repository
def test_statuses_agree_with_the_errata(evaluated):
    """Every erratum belongs to a claim; an erratum that says "correct" in its heading
    confirms all its claims, every other one corrects or refutes at least one."""
    errata = _errata()
    assert sorted(errata) == list(range(1, len(errata) + 1)) and len(errata) >= 21
    statuses = {n: [evidence.status for claim, evidence in evaluated if n in claim.errata]
                for n in errata}
    for n, title in errata.items():
        assert statuses[n], f"erratum {n} has no claim"
        if re.search(r"\bcorrect\b", title):
            assert set(statuses[n]) == {"confirmed"}, (n, title)
        else:
            assert {"corrected", "refuted"} & set(statuses[n]), (n, title)
    assert all(n in errata for claim, _ in evaluated for n in claim.errata)


def _write_rows(folder, stem, rows):
    (folder / f"{stem}.json").write_text(json.dumps({"rows": rows}))


def test_training_claims_follow_the_experiment_tables(tmp_path, monkeypatch):
    """Training claims are judged from the tables python -m experiments writes: not
    checkable without them, and each status follows the confidence intervals."""
    from initmath import papers as claims_module
    monkeypatch.setattr(claims_module, "EXPERIMENTS_DIR", tmp_path)
    by_key = {(c.paper, c.label): c for c in claims_module.all_claims()}
    he = by_key[("horii-has-2025", "Abstract / §IV, He-normal")]
    gh = by_key[("gurbuzbalaban-hu-2021", "Figure 5 (MNIST table)")]
    waiting = [c for c in by_key.values() if "training experiment not run" in c.evaluate().note]
    assert len(waiting) >= 8 and he in waiting and gh in waiting

    def he_rows(acc_lo, acc_hi):
        return [dict(choice="crossing sigma0", sigma0=0.3, metric="train_loss",
                     difference=-0.01, lo=-0.02, hi=-0.005, **{"p Holm": 0.01}),
                dict(choice="crossing sigma0", sigma0=0.3, metric="test_acc",
                     difference=(acc_lo + acc_hi) / 2, lo=acc_lo, hi=acc_hi, **{"p Holm": 0.01})]
    _write_rows(tmp_path, "horii_vs_he", he_rows(0.01, 0.03))
    assert he.evaluate().status == "confirmed"
    _write_rows(tmp_path, "horii_vs_he", he_rows(-0.06, -0.04))      # worse accuracy
    assert he.evaluate().status == "refuted"

    def gh_rows(lo, hi):
        return [dict(scheme="2/d+3/d^2 (s~0.8)", metric="test_acc", difference=(lo + hi) / 2,
                     lo=lo, hi=hi, **{"p Holm": 0.3})]
    _write_rows(tmp_path, "gh_vs_kaiming", gh_rows(4.0, 7.0))         # holds the printed 5.5
    assert gh.evaluate().status == "confirmed"
    _write_rows(tmp_path, "gh_vs_kaiming", gh_rows(-0.8, 4.2))        # excludes it
    assert gh.evaluate().status == "refuted"


def _synthetic_run():
    return {"date": "2026-01-01T00:00:00+00:00", "device": "cpu", "device_name": "test",
            "seed": 0, "quick": True,
            "checks": [{"name": "printed Theorem 1 sigma = 1/sqrt(I0)", "z": 274.83,
                        "verdict": "rejected (as it must be)"},
                       {"name": "layer factor at sigma-bar s=1 d=64 a=0", "z": -0.25,
                        "verdict": "pass"}]}


def test_report_renders_without_verification(evaluated):
    report = claims.claims_report()
    assert report.startswith("# Paper claims")
    for title in claims.PAPERS.values():
        assert f"## {title}" in report
    for claim, _evidence in evaluated:
        assert f"### {claim.label}\n" in report
    assert report.count("### ") == len(evaluated)
    assert "`printed Theorem 1 sigma = 1/sqrt(I0)`: not run in this report" in report
    # the summary counts add up to the registry
    total = re.search(r"\| \*\*all\*\* \|(.*)\| \*\*(\d+)\*\* \|", report)
    counts = [int(x) for x in re.findall(r"\d+", total.group(1))]
    assert sum(counts) == int(total.group(2)) == len(evaluated)


def test_report_renders_with_a_verification_json(tmp_path):
    path = tmp_path / "results.json"
    path.write_text(json.dumps(_synthetic_run()))
    report = claims.claims_report(str(path))
    assert "2 checks run 2026-01-01T00:00:00+00:00 on cpu (test), seed 0, quick budgets" in report
    assert ("`printed Theorem 1 sigma = 1/sqrt(I0)`: rejected (as it must be), z = +274.83"
            in report)
    assert "`layer factor at sigma-bar s=1 d=64 a=0`: pass, z = -0.25" in report
    assert "`decay at 0.95 sigma-bar, depth 20`: not in the given verification run" in report


def test_status_flips_when_the_library_returns_the_printed_sigma(monkeypatch):
    """Negative control: if initmath's critical sigma were Theorem 1's printed 1/sqrt(I_0),
    the claim would be reported as confirmed."""
    claim = next(c for c in claims.all_claims() if c.label == "Theorem 1 (i)")
    assert claim.evaluate().status == "corrected"
    monkeypatch.setattr(_claims_gh, "critical_sigma",
                        lambda s, d, a=0.0: _claims_gh.paper_critical_sigma_relu(s, d))
    evidence = claim.evaluate()
    assert evidence.status == "confirmed" and evidence.corrected is None


def test_status_flips_when_glorot_loses_its_sqrt2(monkeypatch):
    """Negative control: Remark 3's ratio without Glorot's factor sqrt(2) lies in
    [1/sqrt 2, 1], as printed."""
    claim = next(c for c in claims.all_claims() if c.label == "Remark 3"
                 and c.paper == "skorski-2020")
    assert claim.evaluate().status == "corrected"
    ratio = hessian.hessian_glorot_ratio
    monkeypatch.setattr(hessian, "hessian_glorot_ratio", lambda a, b: math.sqrt(2) * ratio(a, b))
    assert claim.evaluate().status == "confirmed"


def test_bad_verification_record_is_refused(tmp_path):
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"results": []}))
    with pytest.raises(ValueError, match="verification_json"):
        claims.claims_report(str(path))


def test_bad_status_is_refused(monkeypatch):
    bogus = claims.Claim("skorski-2020", "bogus", "x", lambda: claims.Evidence("plausible", {}))
    monkeypatch.setattr(claims, "all_claims", lambda: [bogus])
    with pytest.raises(ValueError, match="status must be one of"):
        claims.claims_report()


@pytest.mark.repository
def test_generated_docs_are_current(evaluated):
    """docs/paper-claims.md lists the same claims with the same statuses as the code."""
    text = (ROOT / "docs" / "paper-claims.md").read_text()
    documented = re.findall(r"^### (.*)\n\n- \*\*Printed:\*\* .*\n- \*\*Status:\*\* \*\*(.*)\*\*$",
                            text, re.M)
    assert documented == [(claim.label, evidence.status) for claim, evidence in evaluated]


def _preserved_order(variance, width):
    return optimize.brentq(lambda s: log_moment_factor(s, width) + 0.5 * s * math.log(variance),
                           0.05, 1.999, xtol=1e-14)


@pytest.mark.parametrize("s", [0.5, 0.8, 1.0])
def test_two_term_sigma_preserves_s_only_to_first_order(s):
    """Corollary 4: sigma^2 = 2/d + 5(2-s)/(2d^2) preserves the order s + 2 c3(s)/(5d) +
    O(1/d^2) (c3 the d^-3 coefficient of the exact expansion), not s + o(1/d) as printed.
    At d = 64 this is s = 0.828 for the paper's MNIST sigma^2 = 2/d + 3/d^2 (s = 0.8)."""
    c3 = float(critical_variance_expansion(s, order=3).coeff(d, -3))
    scaled = [w * (_preserved_order(2 / w + 5 * (2 - s) / (2 * w * w), w) - s)
              for w in (256, 1024, 4096)]
    errors = [abs(x - 2 * c3 / 5) for x in scaled]
    assert errors[0] > errors[1] > errors[2] and errors[2] < 2e-3 * abs(c3)   # O(1/d) -> limit
    assert abs(scaled[-1]) > 0.5                                              # not o(1/d)
    if s == 0.8:
        assert _preserved_order(2 / 64 + 3 / 64 ** 2, 64) == pytest.approx(0.8284, abs=1e-4)

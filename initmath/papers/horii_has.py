r"""Claims of Horii & Has (2025), the KL bound on the stationary SGD loss; see
:mod:`initmath.papers`.

The paper's equations (14), (17)-(21) are transcribed here (:func:`printed_equations`)
and compared with the derivation sympy does in :mod:`initmath.kl`
(:func:`compare_with_paper`); the claims also evaluate them on quadratic losses, where the
stationary law is exact (SGD step 0.05, batch 4, noise variance 2: τ = 0.0125).
"""
import functools
import math
import pathlib
import warnings
from typing import NamedTuple

import numpy as np

from .. import kl
from .ledger import RTOL, Claim, Evidence, from_experiment, relative_error, verdict

__all__ = ["PAPER", "TITLE", "EquationCheck", "claims", "compare_with_paper",
           "printed_equations"]

PAPER = "horii-has-2025"
TITLE = ("Horii & Has (2025), *Optimal condition for initialization variance in deep "
         "neural networks: an SGD dynamics perspective*")
SGD = dict(lr=0.05, batch_size=4, noise_var=2.0)
TAU = SGD["lr"] * SGD["noise_var"] / (2 * SGD["batch_size"])


# --------------------------------------------------------------------------- printed
def printed_equations() -> dict:
    r"""The paper's equations (14), (17)-(21), transcribed as sympy right-hand sides.

    (14) and (17) bound :math:`E_{ss}[L]/K`; (18) is :math:`K_1 \bar V` (σ0 → 0) and
    (19) :math:`K_2\log\sigma_0^2` (σ0 → ∞) with constants :math:`K_1, K_2`; (20) bounds
    :math:`E_{ss}[L]/K` and (21) the total :math:`E_{ss}[L]`, both at the optimal σ0.

    Returns
    -------
    dict
        Equation label -> sympy expression, in the symbols of
        :func:`initmath.kl.kl_bound_derivation`.

    Examples
    --------
    >>> from initmath.papers.horii_has import printed_equations
    >>> sorted(printed_equations())
    ['(14)', '(17)', '(18)', '(19)', '(20)', '(21)']
    """
    import sympy
    s = kl._symbols()
    tau_2K = s["alpha"] * s["sigma"] ** 2 / (2 * s["b"] * s["K"])
    tau_2 = s["alpha"] * s["sigma"] ** 2 / (4 * s["b"])
    pi, e = sympy.pi, sympy.E
    proposition = tau_2K * (s["K"] / 2 * sympy.log(2 * s["sigma0"] ** 2 * pi) + sympy.log(s["C"])
                            + s["E_W2"] / (2 * s["sigma0"] ** 2))
    return {"(14)": proposition, "(17)": proposition,
            "(18)": s["K1"] * s["Vbar"],
            "(19)": s["K2"] * sympy.log(s["sigma0"] ** 2),
            "(20)": tau_2 * (sympy.log(s["E_W2"] / s["K"]) + sympy.log(2 * pi * e * s["C"])),
            "(21)": tau_2 * (sympy.log(s["Vbar"]) + sympy.log(2 * pi * e * s["C"]))}


class EquationCheck(NamedTuple):
    """One printed equation against the derivation: ``equal``, and ``difference`` =
    printed - derived (simplified; for (18), (19) the σ0-dependence of the implied constant)."""
    printed: object
    derived: object
    equal: bool
    difference: object


def compare_with_paper() -> dict[str, EquationCheck]:
    r"""Each printed equation of :func:`printed_equations` against
    :func:`initmath.kl.kl_bound_derivation`.

    (14), (17), (20): the right-hand sides are compared directly; (21) against K times the
    optimized per-parameter bound (its left side is the total :math:`E_{ss}[L]`), written
    with :math:`\bar V`; (18), (19): the derived leading term is written as
    :math:`c\,\bar V` resp. :math:`c\log\sigma_0^2`, and the printed form holds iff the
    implied c is a constant, i.e. ``difference`` = dc/dσ0 vanishes.

    Returns
    -------
    dict
        Equation label -> :class:`EquationCheck`.

    Examples
    --------
    >>> from initmath.papers.horii_has import compare_with_paper
    >>> {label: check.equal for label, check in compare_with_paper().items()}
    {'(14)': True, '(17)': True, '(18)': False, '(19)': True, '(20)': False, '(21)': False}
    >>> compare_with_paper()["(20)"].difference     # log C where (2/K) log C belongs
    alpha*sigma**2*(K - 2)*log(C_1loc)/(4*K*b)
    """
    import sympy
    s, steps, printed = kl._symbols(), kl._derivation(), printed_equations()
    sigma0, Vbar, K = s["sigma0"], s["Vbar"], s["K"]
    optimized = steps["optimized bound on E_ss[L]/K"]
    derived = {"(14)": steps["bound on E_ss[L]/K"], "(17)": steps["bound on E_ss[L]/K"],
               "(18)": steps["sigma_0 -> 0: K_1 = leading term / Vbar"] * Vbar,
               "(19)": steps["sigma_0 -> oo: K_2 = lim bound / log sigma_0^2"]
               * sympy.log(sigma0 ** 2),
               "(20)": optimized,
               "(21)": K * optimized.subs(s["E_W2"], K * Vbar)}
    unknown_constant = {"(18)": s["K1"], "(19)": s["K2"]}
    checks = {}
    for label, expression in printed.items():
        if label in unknown_constant:
            implied = sympy.simplify(derived[label] * unknown_constant[label] / expression)
            difference = sympy.diff(implied, sigma0)
        else:
            difference = sympy.factor(sympy.simplify(kl._tidy(expression - derived[label])))
        checks[label] = EquationCheck(expression, derived[label], difference == 0, difference)
    return checks


def moved_from(old_module: str, name: str) -> object:
    """This module's ``name``, with a DeprecationWarning for the code that looked it up in
    ``old_module`` (through that module's ``__getattr__``), its home before the ledger."""
    warnings.warn(f"{old_module}.{name} is deprecated: the paper's printed equations live in "
                  f"initmath.papers.horii_has; use initmath.papers.horii_has.{name}",
                  DeprecationWarning, stacklevel=3)
    return globals()[name]


# --------------------------------------------------------------------------- claims
def _law(eigenvalues, discrete=False):
    return kl.quadratic_stationary(np.asarray(eigenvalues, float), discrete=discrete, **SGD)


def _bound_args(law, K):
    return dict(K=K, second_moment=law.second_moment, log_C=law.log_C, **SGD)


def _printed_20(law, K):
    """(20) as printed: (ασ²/(4b))[log(E‖W‖²/K) + log(2πe C)]."""
    return TAU / 2 * (math.log(law.second_moment / K) + math.log(2 * math.pi * math.e)
                      + law.log_C)


def _equation(label):
    return compare_with_paper()[label]


def stationary_law():
    """(12) for the recursion (4) itself, per mode αλ = 0.1, 1."""
    error = kl.discretization_error([2.0, 20.0], lr=SGD["lr"])
    return verdict(np.max(np.abs(error.variances)) < RTOL,
                   {"relative error of τ/λ per mode, αλ = 0.1, 1": error.variances,
                    "relative error of E_ss[L]": error.expected_loss},
                   "p_ss ∝ e^{−L/τ} is the stationary law of the SDE (5); the recursion (4) has "
                   "per-mode variance τ/(λ(1 − αλ/2)), so the bound holds for the continuous law "
                   "and fails for SGD itself by the factor 1/(1 − αλ/2)")


def proposition_iii_1():
    """(14) = (17) symbolically; slack = (τ/K) D(p_ss‖p_0) numerically."""
    eigenvalues, sigma0 = [0.5, 1.0, 2.0], 0.3
    law, K = _law(eigenvalues), 3
    slack = kl.kl_loss_bound(sigma0, **_bound_args(law, K)) - law.mean_loss
    divergence = kl.quadratic_kl_divergence(sigma0, eigenvalues, **SGD)
    equal = _equation("(14)").equal and _equation("(17)").equal
    return verdict(equal and relative_error(slack, TAU / K * divergence) < RTOL,
                   {"(14), (17) equal sympy's derivation": equal,
                    "slack / ((τ/K) D(p_ss‖p_0)) − 1": slack / (TAU / K * divergence) - 1},
                   "the bound differs from the KL derivation",
                   note="with L̄ = L/K; σ0 is called 'the variance' but is the standard deviation")


def remark_iii_2_small():
    check = _equation("(18)")
    return verdict(check.equal, {"dK₁/dσ0 (sympy)": check.difference},
                   "as σ0 → 0 the bound is (ασ²/(4bσ0²)) V̄ + O(log σ0): K₁ = ασ²/(4bσ0²) "
                   "diverges, so the bound is no fixed multiple of V̄; the regimes are "
                   "σ0² ≪ V̄ and σ0² ≫ V̄, not σ0² ≪ 1 and σ0² ≫ 1")


def remark_iii_2_large():
    check = _equation("(19)")
    return verdict(check.equal, {"dK₂/dσ0 (sympy)": check.difference,
                                 "K₂": kl.kl_bound_derivation()[
                                     "sigma_0 -> oo: K_2 = lim bound / log sigma_0^2"]},
                   "K₂ is not a constant", note="the regime is σ0² ≫ V̄ ('σ0² ≫ 1' depends on "
                                                "the scale of W)")


def optimal_sigma():
    """σ0 = √V̄ symbolically and as the minimiser on a grid."""
    law, K = _law([0.2, 1.0, 5.0]), 3
    best = kl.optimal_init_sigma(law.second_moment, K)
    grid = best * np.exp(np.linspace(-0.5, 0.5, 1001))
    on_grid = grid[np.argmin(kl.kl_loss_bound(grid, **_bound_args(law, K)))]
    derived = kl.kl_bound_derivation()["optimal sigma_0"]
    return verdict(str(derived) == "sqrt(E_W2)/sqrt(K)" and abs(on_grid / best - 1) < 1e-3,
                   {"sympy's optimal σ0": derived, "grid minimiser / √V̄": on_grid / best},
                   "the optimal σ0 is not √V̄")


def theorem_iii_3_20():
    check = _equation("(20)")
    examples = {}
    for K, lam in ((1000, 1.0), (10, 0.01)):
        law = _law(np.full(K, lam))
        examples[f"K = {K}, λ = {lam:g}: printed (20), true E_ss[L̄]"] = [
            _printed_20(law, K), law.mean_loss]
    return verdict(check.equal, {"printed − derived (sympy)": check.difference, **examples},
                   "E_ss[L̄] ≤ (ασ²/(4b))[log(2πe V̄) + (2/K) log C_{1,loc}]; printed − true = "
                   "ασ²(K − 2) log C_{1,loc}/(4Kb), so (20) is right only at K = 2 and can even "
                   "be negative")


def theorem_iii_3_21():
    check = _equation("(21)")
    law = _law([2.0, 2.0])
    printed = TAU / 2 * (math.log(law.second_moment / 2) + math.log(2 * math.pi * math.e)
                         + law.log_C)
    return verdict(check.equal, {"printed − derived (sympy)": check.difference,
                                 "K = 2, λ = 2: printed right side, true E_ss[L]":
                                 [printed, law.expected_loss]},
                   "E_ss[L] = K E_ss[L̄] ≤ K(ασ²/(4b))[log(2πe V̄) + (2/K) log C_{1,loc}] "
                   "(E_ss[W] = 0 is not needed)")


def remark_iii_4():
    law, K = _law(np.ones(1000)), 1000
    log_v = math.log(law.second_moment / K)
    return verdict(law.log_C < log_v, {"log C_{1,loc}, K = 1000, λ = 1": law.log_C,
                                       "log V̄": log_v},
                   "C_{1,loc} normalises a K-dimensional density (units W^−K) and cannot be "
                   "compared with V̄ (units W²); in the quadratic case log C = −½ Σ log(2πv_i)",
                   failure="refuted")


def section_iv_linear_bound():
    """'E_ss[L] ≤ K V̄': isotropic quadratic, E_ss[L] = Kτ/2, V̄ = τ/λ."""
    ratios = {lam: _law(np.full(4, lam)).expected_loss / _law(np.full(4, lam)).second_moment
              for lam in (1.0, 4.0)}
    return verdict(max(ratios.values()) <= 1, {"E_ss[L]/(K V̄) at λ = 1, 4": list(ratios.values())},
                   "no scale-free linear bound: E_ss[L]/(K V̄) = λ/2 for an isotropic quadratic",
                   failure="refuted")


def optimum_tightness():
    """At σ0 = √V̄ the bound is (τ/2)(1 + log(AM/GM)) for spectra over 1, 2, 4 decades."""
    looseness = []
    for decades in (1, 2, 4):
        lam = np.logspace(0, decades, 100)
        law = _law(lam)
        looseness.append(kl.optimized_loss_bound(**_bound_args(law, 100)) / law.mean_loss)
    return verdict(max(looseness) - 1 < RTOL, {"bound / E_ss[L̄], 1, 2, 4 decades": looseness},
                   "σ0 = √V̄ minimises D(p_ss‖p_0) over isotropic p_0, but D = (K/2) log(AM/GM) "
                   "of the mode variances: the optimized bound is (τ/2)(1 + log(AM/GM)), tight "
                   "only for an isotropic loss")


# ------------------------------------------------------------------ §IV experiments
PAPER_SIGMA0 = 0.15          # the paper's optimal sigma0 (Figures 4, 5)


def _row(rows, **match):
    return next((r for r in rows if all(r[k] == v for k, v in match.items())), None)


_NO_CROSSING = Evidence("not checkable", {}, None,
                        "V̄/σ0² does not cross 1 on this run's σ0 grid")


def _beats_he(rows):
    loss = _row(rows, choice="crossing sigma0", metric="train_loss")
    acc = _row(rows, choice="crossing sigma0", metric="test_acc")
    if loss is None:
        return _NO_CROSSING
    numbers = {"sigma0 (V̄/σ0² = 1)": loss["sigma0"], "Δ train loss": loss["difference"],
               "Δ train loss 95% CI": [loss["lo"], loss["hi"]], "Δ test acc": acc["difference"],
               "Δ test acc 95% CI": [acc["lo"], acc["hi"]], "Holm p (acc)": acc["p Holm"]}
    holds = loss["hi"] < 0 and acc["lo"] > 0
    return verdict(holds, numbers, f"on held-out seeds (digits) σ0 = {loss['sigma0']:g} vs "
                   f"He-normal: train loss {loss['difference']:+.3g} "
                   f"[{loss['lo']:.3g}, {loss['hi']:.3g}], test accuracy "
                   f"{acc['difference']:+.3g} [{acc['lo']:.3g}, {acc['hi']:.3g}]",
                   failure="refuted", note="docs/experiments.md")


def _sigma_rows(rows):
    return [r for r in rows if r["sigma0"] != "He"]


def _variance_moves(rows):
    above = [r for r in _sigma_rows(rows) if r["sigma0"] <= 0.1]
    below = [r for r in _sigma_rows(rows) if r["sigma0"] >= 0.2]
    wrong = ([r["sigma0"] for r in above if not r["ratio lo"] > 1]
             + [r["sigma0"] for r in below if not r["ratio hi"] < 1])
    numbers = {f"V̄/σ0² at σ0 = {r['sigma0']:g}": [r["Vbar/sigma0^2"], r["ratio lo"],
                                                   r["ratio hi"]] for r in _sigma_rows(rows)}
    return verdict(not wrong, numbers, f"the final V̄/σ0² (95% CI) is not on the printed side "
                   f"of 1 at σ0 = {', '.join(f'{s:g}' for s in wrong)}", failure="refuted",
                   note="digits, 3-layer ReLU network; docs/experiments.md")


def _estimate(rows, quantity):
    row = _row(rows, quantity=quantity)
    return row["estimate"], row["lo"], row["hi"]


def _crossing_is_min_loss(rows):
    cross = _estimate(rows, "sigma0 where Vbar/sigma0^2 = 1")
    best = _estimate(rows, "sigma0 of minimum mean train loss")
    if cross[0] is None:
        return _NO_CROSSING
    numbers = {"σ0 where V̄/σ0² = 1 (95% CI)": list(cross),
               "σ0 of minimum train loss (95% CI)": list(best)}
    holds = cross[1] <= PAPER_SIGMA0 <= cross[2] and best[1] <= cross[2] and cross[1] <= best[2]
    return verdict(holds, numbers, f"V̄/σ0² crosses 1 at σ0 = {cross[0]:.3g} "
                   f"[{cross[1]:.3g}, {cross[2]:.3g}] while the training loss is smallest at "
                   f"σ0 = {best[0]:.3g} [{best[1]:.3g}, {best[2]:.3g}]", failure="refuted",
                   note="digits; docs/experiments.md")


def _best_accuracy_sigma(rows):
    best = _estimate(rows, "sigma0 of maximum mean test accuracy")
    return verdict(best[1] <= PAPER_SIGMA0 <= best[2],
                   {"σ0 of maximum test accuracy (95% CI)": list(best)},
                   f"the test accuracy is highest at σ0 = {best[0]:.3g} "
                   f"[{best[1]:.3g}, {best[2]:.3g}]", failure="refuted",
                   note="digits; docs/experiments.md")


def _linear_bound_constant(rows):
    ratios = {f"{r['sigma0']:g}": r["train loss"] / r["Vbar"] for r in _sigma_rows(rows)}
    numbers = {"E[L]/V̄ per σ0": ratios,
               "smallest K with E[L] ≤ K V̄ everywhere": max(ratios.values())}
    return Evidence("not checkable", numbers,
                    None, "(18)'s constant is not specified: any K at least the largest "
                          "ratio makes it hold, so the claim is vacuous as stated")


def claims(experiments: pathlib.Path) -> list[Claim]:
    """The paper's claims, in paper order; training tables are read from ``experiments``."""
    claim = functools.partial(Claim, PAPER)
    return [
        claim("(12), stationary law", "SGD (4) reaches the quasi-steady state "
              "p_ss = C_{1,loc} e^{−2bL/(ασ²)}", stationary_law, (), (20,)),
        claim("Proposition III.1, (14) = (17)", "E_ss[L̄] ≤ (ασ²/(2bK))[(K/2) log(2πσ0²) + "
              "log C_{1,loc} + E_ss‖W‖²/(2σ0²)]", proposition_iii_1, (), (15,)),
        claim("Remark III.2, (18)", "for σ0² ≪ 1, E_ss[L̄] ≤ K₁ V̄ with K₁ a constant",
              remark_iii_2_small, (), (18,)),
        claim("Remark III.2, (19)", "for σ0² ≫ 1, E_ss[L̄] ≤ K₂ log σ0²", remark_iii_2_large,
              (), (18,)),
        claim("Theorem III.3, optimal σ0", "the optimal standard deviation is "
              "σ0 = √(E_ss‖W‖²/K) = √V̄", optimal_sigma, (), (15,)),
        claim("Theorem III.3, (20)", "E_ss[L̄] ≤ (ασ²/(4b))[log(E_ss‖W‖²/K) + "
              "log(2πe C_{1,loc})]", theorem_iii_3_20, (), (16,)),
        claim("Theorem III.3, (21)", "with E_ss[W] = 0: E_ss[L] ≤ (ασ²/(4b))[log V̄ + "
              "log(2πe C_{1,loc})]", theorem_iii_3_21, (), (17,)),
        claim("Remark III.4", "C_{1,loc} should be relatively smaller than V̄", remark_iii_4,
              (), (19,)),
        claim("§III summary", "with σ0 = √V̄ the initial distribution is very close to the "
              "steady state and the optimized bound is achieved", optimum_tightness, (), (21,)),
        claim("§IV, (18) restated", "E_ss[L(W)] ≤ K V̄(W), the most relaxed bound for small σ0",
              section_iv_linear_bound, (), (18,)),
        claim("Abstract / §IV, He-normal", "the optimal σ0 always gives lower final training "
              "loss and higher test accuracy than He-normal (MNIST, Fashion-MNIST)",
              from_experiment(experiments, _beats_he, "horii_vs_he")),
        claim("Figure 2", "σ0 ≤ 0.1: the steady-state variance ends above the initial one; "
              "σ0 ≥ 0.2: below", from_experiment(experiments, _variance_moves, "horii_per_sigma")),
        claim("Figure 4", "the ratio V̄(W)/σ0² approaches unity at σ0 = 0.15, the point of "
              "lowest loss", from_experiment(experiments, _crossing_is_min_loss, "horii_summary")),
        claim("Figure 5", "σ0 = 0.15 gives the highest final validation accuracy",
              from_experiment(experiments, _best_accuracy_sigma, "horii_summary")),
        claim("Figure 3", "for σ0² ≤ 1 the trained three-layer network satisfies (18)",
              from_experiment(experiments, _linear_bound_constant, "horii_per_sigma")),
    ]

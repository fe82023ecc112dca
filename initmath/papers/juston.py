"""Claims of the LDLT Lipschitz-layer abstract (Juston et al. 2026); see :mod:`initmath.papers`.
"""
import functools
import math
import pathlib

from scipy import optimize

from .. import ldlt
from .ledger import NO_EXPERIMENT, Claim, not_checkable, verdict

__all__ = ["PAPER", "TITLE", "claims"]

PAPER = "juston-2026"
TITLE = ("Juston et al. (2026), *LDLT L-Lipschitz network weight parameterization "
         "initialization* (abstract)")
_SQUARE = (1, 8, 64, 1024)


def _series(m, n, sigma2, terms):
    """(1/m) Σ_{k ≤ terms} (−1)^(k−1) σ^(2k) E tr S^k (α = 1), exact Wishart moments."""
    from ..wishart import wishart_trace_moment
    return sum((-1) ** (k - 1) * float(wishart_trace_moment(k, m, n)) * sigma2 ** k
               for k in range(1, terms + 1)) / m


def series_accuracy():
    """3- and 10-term series against the exact variance, 8 × 8, at 0.5 and 2 radii."""
    m = n = 8
    radius = ldlt.ldlt_series_radius(m, n)
    errors = {(terms, r): _series(m, n, r * radius, terms)
              / ldlt.ldlt_output_variance(m, n, math.sqrt(r * radius)) - 1
              for terms in (3, 10) for r in (0.5, 2.0)}
    return verdict(max(abs(e) for e in errors.values()) < 0.01,
                   {f"{terms}-term series relative error at σ² = {r:g} × radius": error
                    for (terms, r), error in errors.items()},
                   "the series in E tr S^k converges only while λ_max(S) < α; in expectation it "
                   "is asymptotic, accurate for σ² well below α/(√m + √n)² and useless beyond "
                   "(more terms make it worse); initmath's exact formula has no such limit")


def _square_variances(scale):
    return [float(ldlt.ldlt_output_variance(n, n, scale / math.sqrt(n))) for n in _SQUARE]


def _aspect_ratio_for(target, n=10 ** 4):
    """The m/n at which the Marchenko-Pastur variance at σ = 1/√n equals target."""
    f = lambda m: ldlt.ldlt_output_variance(int(m), n, 1 / math.sqrt(n),
                                            method="asymptotic") - target
    return optimize.brentq(f, n // 10, n, xtol=1) / n


def abstract_041():
    square = _square_variances(1.0)
    ratio = _aspect_ratio_for(0.41)
    return verdict(min(abs(v - 0.41) for v in square) < 0.005,
                   {"square n = 1, 8, 64, 1024": square, "limit (3 − √5)/2": (3 - 5 ** 0.5) / 2,
                    "m/n giving 0.41": ratio,
                    "σ = 10/√n at that m/n": ldlt.ldlt_output_variance(
                        round(ratio * 10 ** 4), 10 ** 4, 0.1, method="asymptotic")},
                   "square layers give 0.344 (1 × 1) to 0.382 ((3 − √5)/2, n → ∞) at σ = 1/√n; "
                   "0.41 needs m/n ≈ 0.74, where σ = 10/√n gives well above 0.9")


def abstract_09():
    square = _square_variances(10.0)
    return verdict(all(round(v, 1) == 0.9 for v in square[2:]),
                   {"square n = 1, 8, 64, 1024": square},
                   "the value is not 0.9",
                   note="true for square layers from n ≈ 64 (0.9016 … 0.9049); not for the "
                        "shape that gives 0.41")


def claims(experiments: pathlib.Path) -> list[Claim]:
    """The abstract's claims, in order (no training table is read from ``experiments``)."""
    claim = functools.partial(Claim, PAPER)
    ldlt_checks = ("LDLT Var[y_i] (exact) m=8 n=8 sigma^2/radius=0.5",
                   "LDLT Var[y_i] (exact) m=32 n=32 sigma^2/radius=1")
    return [
        claim("Abstract: exact marginal variance", "the marginal output variance is derived in "
              "closed form (zonal polynomials, James' theorem, a Laplace-integral expansion of "
              "(αI + S)^−1)", not_checkable(
                  "the abstract prints no formula; initmath's own exact formula (docs/ldlt.md) "
                  "is checked against Monte Carlo through a torch Cholesky layer"),
              ldlt_checks),
        claim("Abstract: E tr S^k up to k = 10", "an Isserlis/Wick expansion gives E tr(S^k), "
              "with explicit truncated moments up to k = 10", not_checkable(
                  "the moments are not printed in the abstract; initmath gives E tr S^k exactly "
                  "for any k (zonal polynomials, checked against a Wick enumerator)"),
              ("E tr S^5 m=5 n=8",)),
        claim("Abstract: series accuracy", "the moments yield accurate series approximations "
              "for small-to-moderate σ²", series_accuracy,
              ("LDLT Var[y_i] (3-term series) m=8 n=8 sigma^2/radius=2",), (10,)),
        claim("Abstract: 0.41", "with He/Kaiming scaling 1/√n the output variance is 0.41",
              abstract_041,
              ("LDLT Var[y_i] (abstract's 0.41, square) m=32 n=32 sigma^2/radius=4",), (10,)),
        claim("Abstract: 0.9", "with 10/√n and α = 1 the output variance is 0.9", abstract_09,
              ("LDLT Var[y_i] (sigma = 10/sqrt(n), square) m=32 n=32 sigma^2/radius=4e+02",),
              (10,)),
        claim("Abstract: Monte Carlo", "Monte Carlo experiments confirm the theoretical "
              "estimates", not_checkable(
                  "the abstract's estimates are not printed; initmath's exact variance passes "
                  "its Monte Carlo checks"), ldlt_checks),
        claim("Abstract: Higgs sweep", "He initialization still performs better than the "
              "variance-preserving scale; smaller scales give better test AUC; AdamW beats SGD",
              not_checkable(NO_EXPERIMENT)),
    ]

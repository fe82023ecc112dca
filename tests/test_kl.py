"""Tests of initmath.kl: the Horii & Has KL bound, its derivation, exact SGD stationary laws."""
import doctest
import itertools
import math
import subprocess
import sys
import time
from fractions import Fraction

import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, linalg

from initmath import kl
from initmath.kl import (
    burn_in_steps,
    discretization_error,
    kl_bound_derivation,
    kl_bound_derivation_latex,
    kl_loss_bound,
    least_squares_stationary,
    optimal_init_sigma,
    optimized_loss_bound,
    quadratic_kl_divergence,
    quadratic_stationary,
)
from initmath.papers.horii_has import compare_with_paper, printed_equations

SGD = dict(lr=0.05, batch_size=4, noise_var=2.0)
TAU = 0.05 * 2.0 / (2 * 4)
# z beyond which a Monte Carlo mean is declared different (two-sided false alarm ~7e-6)
Z_REJECT = 4.5


def test_doctests():
    assert doctest.testmod(kl, optionflags=doctest.NORMALIZE_WHITESPACE).failed == 0


def _rotated(eigenvalues, seed):
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(len(eigenvalues),) * 2))
    return q @ np.diag(eigenvalues) @ q.T


def _bound_args(law, K):
    return dict(K=K, second_moment=law.second_moment, log_C=law.log_C, **SGD)


# --------------------------------------------------------------------------- symbolic
positive_rationals = st.fractions(min_value=Fraction(1, 20), max_value=20, max_denominator=50)


def _at(expression, **values):
    names = {symbol.name: symbol for symbol in expression.free_symbols}
    return float(expression.subs({names[k]: sympy.Rational(v) for k, v in values.items()
                                  if k in names}).evalf(30))


@settings(max_examples=25, deadline=None)
@given(alpha=positive_rationals, sigma=positive_rationals, b=st.integers(1, 64),
       K=st.integers(1, 500), sigma0=positive_rationals, C=positive_rationals,
       E_W2=positive_rationals, E_L=positive_rationals)
def test_derivation_equals_hand_formulas(alpha, sigma, b, K, sigma0, C, E_W2, E_L):
    """Each sympy step against the formula derived by hand, at random rational parameters."""
    steps = kl_bound_derivation()
    p = dict(alpha=alpha, sigma=sigma, b=b, K=K, sigma_0=sigma0, C_1loc=C, E_W2=E_W2, E_L=E_L)
    tau = float(alpha * sigma ** 2 / (2 * b))
    kl_hand = (math.log(C) - float(E_L) / tau + K / 2 * math.log(2 * math.pi * sigma0 ** 2)
               + float(E_W2 / (2 * sigma0 ** 2)))
    bound_hand = tau / K * (K / 2 * math.log(2 * math.pi * sigma0 ** 2) + math.log(C)
                            + float(E_W2 / (2 * sigma0 ** 2)))
    vbar = float(E_W2 / K)
    assert _at(steps["D(p_ss||p_0)"], **p) == pytest.approx(kl_hand, rel=1e-12, abs=1e-12)
    assert _at(steps["bound on E_ss[L]/K"], **p) == pytest.approx(bound_hand, rel=1e-12,
                                                                  abs=1e-12)
    assert _at(steps["optimal sigma_0"], **p) == pytest.approx(math.sqrt(vbar), rel=1e-14)
    optimized_hand = tau / 2 * (math.log(2 * math.pi * math.e * vbar) + 2 / K * math.log(C))
    assert _at(steps["optimized bound on E_ss[L]/K"], **p) == pytest.approx(
        optimized_hand, rel=1e-12, abs=1e-12)
    # and the fast numpy functions agree with sympy
    numeric = dict(lr=float(alpha), batch_size=b, noise_var=float(sigma ** 2), K=K,
                   second_moment=float(E_W2), log_C=math.log(C))
    assert kl_loss_bound(float(sigma0), **numeric) == pytest.approx(bound_hand, rel=1e-11,
                                                                    abs=1e-12)
    assert optimized_loss_bound(**numeric) == pytest.approx(optimized_hand, rel=1e-11,
                                                            abs=1e-12)


def test_derivation_structure():
    steps = kl_bound_derivation()
    s = {x.name: x for e in steps.values() for x in e.free_symbols}
    # the derivative is (tau/K) (K sigma0^2 - E_W2) / sigma0^3
    hand = s["alpha"] * s["sigma"] ** 2 / (2 * s["b"] * s["K"]) * (
        s["K"] * s["sigma_0"] ** 2 - s["E_W2"]) / s["sigma_0"] ** 3
    assert sympy.simplify(steps["d bound/d sigma_0"] - hand) == 0
    tau = s["alpha"] * s["sigma"] ** 2 / (2 * s["b"])
    assert sympy.simplify(steps["slack / D(p_ss||p_0)"] - tau / s["K"]) == 0
    assert sympy.simplify(steps["sigma_0 -> 0: K_1 = leading term / Vbar"]
                          - tau / (2 * s["sigma_0"] ** 2)) == 0
    assert sympy.simplify(steps["sigma_0 -> oo: K_2 = lim bound / log sigma_0^2"] - tau / 2) == 0
    # quadratic, one mode: C = 1/sqrt(2 pi tau/lambda), E[L] = tau/2, E[w^2] = tau/lambda
    lam = s["lambda"]
    assert sympy.simplify(steps["quadratic K=1: C_1loc"]
                          - 1 / sympy.sqrt(2 * sympy.pi * tau / lam)) == 0
    assert sympy.simplify(steps["quadratic K=1: E_ss[L]"] - tau / 2) == 0
    assert sympy.simplify(steps["quadratic K=1: E_ss[w^2]"] - tau / lam) == 0
    assert sympy.simplify(steps["quadratic: E_ss[L]"] - s["K"] * tau / 2) == 0
    assert steps["quadratic K=1: optimized bound / E_ss[L]"] == 1
    assert sympy.simplify(steps["discrete K=1: E_ss[w^2]"]
                          - tau / (lam * (1 - s["alpha"] * lam / 2))) == 0
    assert sympy.simplify(steps["discrete K=1: relative error of the continuous variance"]
                          + s["alpha"] * lam / 2) == 0


def test_derivation_quadratic_sums_match_numbers():
    """The K-mode Sum expressions evaluated at numbers equal quadratic_stationary."""
    steps = kl_bound_derivation()
    lam = [0.5, 2.0, 3.0]
    law = quadratic_stationary(lam, **SGD)
    values = {"alpha": SGD["lr"], "sigma": math.sqrt(SGD["noise_var"]), "b": SGD["batch_size"],
              "K": len(lam)}
    for step, want in (("quadratic: log C_1loc", law.log_C),
                       ("quadratic: E_ss||W||^2", law.second_moment)):
        expression = steps[step]
        names = {x.name: x for x in expression.free_symbols}
        expression = expression.subs({names[k]: v for k, v in values.items() if k in names})
        got = expression.doit().replace(
            lambda e: isinstance(e, sympy.Indexed), lambda e: lam[int(e.indices[0]) - 1])
        assert float(got) == pytest.approx(want, rel=1e-13)


def test_latex_has_every_step():
    latex, steps = kl_bound_derivation_latex(), kl_bound_derivation()
    assert list(latex) == list(steps)
    assert r"\mathbb{E}_{ss}\lVert W\rVert^2" in latex["optimized bound on E_ss[L]/K"]
    assert r"C_{1,\mathrm{loc}}" in latex["bound on E_ss[L]/K"]


def test_kl_import_does_not_import_sympy():
    code = "import sys, initmath.kl; print('sympy' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "False"]


def test_initmath_loads_the_kl_module_on_first_use():
    """initmath exports the KL functions lazily (initmath._LAZY), so that importing
    initmath does not pay for scipy.linalg / scipy.sparse."""
    code = ("import sys, initmath; before = 'initmath.kl' in sys.modules or "
            "'scipy.sparse.linalg' in sys.modules; f = initmath.kl_loss_bound; "
            "import initmath.kl; print(before, f is initmath.kl.kl_loss_bound)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "True"]


# --------------------------------------------------------------------------- the paper
def test_compare_with_paper_verdicts():
    checks = compare_with_paper()
    assert {k: c.equal for k, c in checks.items()} == {
        "(14)": True, "(17)": True, "(18)": False, "(19)": True, "(20)": False, "(21)": False}
    s = {x.name: x for c in checks.values() for x in c.difference.free_symbols}
    tau = s["alpha"] * s["sigma"] ** 2 / (2 * s["b"])
    # (20) has log C where the derivation has (2/K) log C: equal only at K = 2 (or C = 1)
    assert sympy.simplify(checks["(20)"].difference
                          - tau / 2 * (1 - 2 / s["K"]) * sympy.log(s["C_1loc"])) == 0
    assert checks["(20)"].difference.subs(s["K"], 2) == 0
    # (18): K_1 = tau / (2 sigma0^2) is not a constant
    assert sympy.simplify(checks["(18)"].difference + tau / s["sigma_0"] ** 3) == 0


def test_printed_equations_are_transcribed():
    printed = printed_equations()
    s = {x.name: x for e in printed.values() for x in e.free_symbols}
    assert printed["(14)"] == printed["(17)"]
    at = {s["alpha"]: 1, s["sigma"]: 2, s["b"]: 4, s["K"]: 3, s["C_1loc"]: 5, s["E_W2"]: 6,
          s["sigma_0"]: 1}
    # (20) at these numbers, typed from the paper: (1*4/16) [log(6/3) + log(2 pi e 5)]
    assert float(printed["(20)"].subs(at)) == pytest.approx(
        0.25 * (math.log(2) + math.log(2 * math.pi * math.e * 5)), rel=1e-14)


def test_printed_20_fails_in_the_quadratic_case():
    """An isotropic quadratic with V > 1/(2 pi) has log C < 0: printed (20) then lies below
    the true E[L]/K, so it is not a bound (the corrected one is tight there)."""
    lam, K = [0.01] * 10, 10
    law = quadratic_stationary(lam, **SGD)          # v = tau/lambda = 1.25, log C < 0
    tau = TAU
    printed_20 = tau / 2 * (math.log(law.second_moment / K)
                            + math.log(2 * math.pi * math.e) + law.log_C)
    assert law.log_C < 0
    assert printed_20 < law.mean_loss * 0.5
    assert optimized_loss_bound(**_bound_args(law, K)) == pytest.approx(law.mean_loss, rel=1e-12)


def test_printed_21_fails_in_the_quadratic_case():
    """(21) puts the total E[L] on the left of the per-parameter bound.  At K = 2 (where
    (20)'s log C is right) an isotropic quadratic has E[L] = tau but right side tau/2."""
    law = quadratic_stationary([2.0, 2.0], **SGD)
    vbar = law.second_moment / 2
    printed_21 = TAU / 2 * (math.log(vbar) + math.log(2 * math.pi * math.e) + law.log_C)
    assert printed_21 == pytest.approx(TAU / 2, rel=1e-12)
    assert law.expected_loss == pytest.approx(TAU, rel=1e-14)


def test_remark_III_4_normaliser_is_not_small():
    """Remark III.4 says C_1loc should be small against V; in the quadratic case
    log C = -(1/2) sum log(2 pi v_i), astronomically large when V is small."""
    law = quadratic_stationary(np.full(1000, 1.0), **SGD)
    vbar = law.second_moment / 1000
    assert vbar == pytest.approx(TAU)
    assert law.log_C == pytest.approx(-500 * math.log(2 * math.pi * TAU), rel=1e-13)
    assert law.log_C > 1000 > math.log(vbar)


# --------------------------------------------------------------------------- bound, optimum
def test_slack_is_kl_divergence():
    lam = np.array([0.3, 1.0, 4.0, 9.0])
    law = quadratic_stationary(lam, **SGD)
    sigma0 = np.logspace(-3, 2, 60)
    slack = kl_loss_bound(sigma0, **_bound_args(law, 4)) - law.mean_loss
    D = quadratic_kl_divergence(sigma0, lam, **SGD)
    np.testing.assert_allclose(slack, TAU / 4 * D, rtol=1e-9)
    assert np.all(D > 0)


def test_kl_zero_only_when_init_is_stationary():
    lam = np.full(5, 2.5)
    v = TAU / 2.5
    D = quadratic_kl_divergence(np.sqrt(v) * np.array([1.0, 1 + 1e-6, 0.5, 2.0]), lam, **SGD)
    assert D[0] == pytest.approx(0.0, abs=1e-15)
    assert D[1] == pytest.approx(5 * 1e-12, rel=1e-4)     # 5 modes, (1/2)(r - 1)^2, r - 1 ~ 2e-6
    assert np.all(D[1:] > 0)
    law = quadratic_stationary(lam, **SGD)
    assert kl_loss_bound(math.sqrt(v), **_bound_args(law, 5)) == pytest.approx(law.mean_loss,
                                                                               rel=1e-13)


@pytest.mark.parametrize("lam", [[1.0, 1.0], [0.1, 3.0, 30.0]])
def test_optimal_sigma_minimises_bound_on_a_grid(lam):
    law = quadratic_stationary(lam, **SGD)
    K = len(lam)
    best = optimal_init_sigma(law.second_moment, K)
    grid = best * np.logspace(-2, 2, 4001)
    values = kl_loss_bound(grid, **_bound_args(law, K))
    assert grid[np.argmin(values)] == pytest.approx(best, rel=2e-3)
    assert values.min() >= optimized_loss_bound(**_bound_args(law, K)) - 1e-15
    assert kl_loss_bound(best, **_bound_args(law, K)) == pytest.approx(
        optimized_loss_bound(**_bound_args(law, K)), rel=1e-14)


def test_optimized_bound_is_tau_half_times_one_plus_log_am_over_gm():
    """Quadratic case: optimized bound = (tau/2)(1 + log(AM/GM of 1/lambda)) >= true tau/2."""
    lam = np.array([0.2, 1.0, 5.0, 40.0])
    law = quadratic_stationary(lam, **SGD)
    am, gm = np.mean(1 / lam), np.exp(np.mean(np.log(1 / lam)))
    assert optimized_loss_bound(**_bound_args(law, 4)) == pytest.approx(
        TAU / 2 * (1 + math.log(am / gm)), rel=1e-13)


def test_remark_III_2_limits():
    law = quadratic_stationary([0.5, 2.0], **SGD)
    args = _bound_args(law, 2)
    vbar = law.second_moment / 2
    small = np.array([1e-3, 1e-5, 1e-7]) * math.sqrt(vbar)
    ratio = kl_loss_bound(small, **args) / (TAU / (2 * small ** 2) * vbar)   # K_1 Vbar
    assert np.all(np.abs(np.diff(np.abs(ratio - 1))) > 0) and abs(ratio[-1] - 1) < 1e-11
    large = np.array([1e10, 1e100])
    ratio = kl_loss_bound(large, **args) / (TAU / 2 * np.log(large ** 2))    # K_2 log s0^2
    assert abs(ratio[1] - 1) < abs(ratio[0] - 1) < 0.1
    # the next term: bound - K_2 log s0^2 -> (tau/2) log(2 pi) + (tau/K) log C
    assert kl_loss_bound(1e100, **args) - TAU / 2 * math.log(1e200) == pytest.approx(
        TAU / 2 * math.log(2 * math.pi) + TAU / 2 * law.log_C, rel=1e-9)


# --------------------------------------------------------------------------- quadratic, exact
def test_continuous_law_against_numerical_integration_k1():
    lam = 1.7
    z = integrate.quad(lambda w: math.exp(-lam * w * w / (2 * TAU)), -np.inf, np.inf)[0]
    mean = lambda f: integrate.quad(lambda w: f(w) * math.exp(-lam * w * w / (2 * TAU)) / z,
                                    -np.inf, np.inf, epsabs=0, epsrel=1e-12)[0]
    law = quadratic_stationary([lam], **SGD)
    assert law.log_C == pytest.approx(-math.log(z), rel=1e-12)
    assert law.expected_loss == pytest.approx(mean(lambda w: lam * w * w / 2), rel=1e-10)
    assert law.second_moment == pytest.approx(mean(lambda w: w * w), rel=1e-10)


def test_continuous_law_against_numerical_integration_k2():
    A = np.array([[1.5, 0.6], [0.6, 0.8]])
    density = lambda x, y: math.exp(-(A[0, 0] * x * x + 2 * A[0, 1] * x * y + A[1, 1] * y * y)
                                    / (2 * TAU))
    r = 12 * math.sqrt(TAU / np.linalg.eigvalsh(A)[0])

    def mean(f):
        return integrate.dblquad(lambda y, x: f(x, y) * density(x, y), -r, r, -r, r,
                                 epsabs=0, epsrel=1e-10)[0]
    z = mean(lambda x, y: 1.0)
    law = quadratic_stationary(A=A, **SGD)
    assert law.log_C == pytest.approx(-math.log(z), rel=1e-9)
    loss = lambda x, y: (A[0, 0] * x * x + 2 * A[0, 1] * x * y + A[1, 1] * y * y) / 2
    assert law.expected_loss == pytest.approx(mean(loss) / z, rel=1e-8)
    assert law.second_moment == pytest.approx(mean(lambda x, y: x * x + y * y) / z, rel=1e-8)
    np.testing.assert_allclose(law.covariance, TAU * np.linalg.inv(A), rtol=1e-12)


@pytest.mark.parametrize("discrete", [False, True])
def test_eigenvalue_and_matrix_inputs_agree(discrete):
    lam = np.array([0.4, 1.0, 3.0, 12.0])
    A = _rotated(lam, 3)
    by_modes = quadratic_stationary(lam, discrete=discrete, **SGD)
    by_matrix = quadratic_stationary(A=A, discrete=discrete, **SGD)
    for field in ("expected_loss", "mean_loss", "second_moment", "log_C"):
        assert getattr(by_matrix, field) == pytest.approx(getattr(by_modes, field), rel=1e-12)
    np.testing.assert_allclose(np.linalg.eigvalsh(by_matrix.covariance),
                               np.sort(by_modes.variances), rtol=1e-12)
    assert quadratic_kl_divergence(0.1, A=A, discrete=discrete, **SGD) == pytest.approx(
        quadratic_kl_divergence(0.1, lam, discrete=discrete, **SGD), rel=1e-12)


def test_discrete_covariance_against_iterating_the_recursion():
    A = _rotated(np.array([0.5, 2.0, 30.0]), 5)
    lr, noise = 0.06, SGD["noise_var"] / SGD["batch_size"]
    step = np.eye(3) - lr * A
    C = np.zeros((3, 3))
    for _ in range(4000):                      # slowest mode contracts by (1 - 0.03)^2
        C = step @ C @ step + lr ** 2 * noise * np.eye(3)
    law = quadratic_stationary(A=A, lr=lr, batch_size=SGD["batch_size"],
                               noise_var=SGD["noise_var"], discrete=True)
    np.testing.assert_allclose(law.covariance, C, rtol=1e-12, atol=1e-16)
    np.testing.assert_allclose(law.covariance, linalg.solve_discrete_lyapunov(
        step, lr ** 2 * noise * np.eye(3)), rtol=1e-12)


def test_discrete_and_continuous_agree_as_lr_goes_to_zero():
    lam = np.array([1.0, 5.0])
    for lr in (1e-2, 1e-4, 1e-6):
        cont = quadratic_stationary(lam, lr=lr, batch_size=1, noise_var=1.0)
        disc = quadratic_stationary(lam, lr=lr, batch_size=1, noise_var=1.0, discrete=True)
        err = discretization_error(lam, lr=lr)
        assert cont.expected_loss / disc.expected_loss - 1 == pytest.approx(err.expected_loss,
                                                                            rel=1e-9)
        assert cont.second_moment / disc.second_moment - 1 == pytest.approx(err.second_moment,
                                                                            rel=1e-9)
        np.testing.assert_allclose(cont.variances / disc.variances - 1, -lr * lam / 2, rtol=1e-9)
        assert abs(err.expected_loss) < lr * 5


def test_bound_fails_for_the_sgd_recursion_itself():
    """Plugging the discrete law's E||W||^2 and log C into (14) at the optimal sigma0 gives
    tau/2, below the recursion's true E[L]/K = tau / (2 (1 - lr lam / 2)): the KL argument
    needs the Gibbs form exp(-L/tau), which the discrete law does not have."""
    lam = np.full(3, 10.0)                      # lr lam = 0.5
    law = quadratic_stationary(lam, discrete=True, **SGD)
    bound = optimized_loss_bound(**_bound_args(law, 3))
    assert bound == pytest.approx(TAU / 2, rel=1e-12)
    assert law.mean_loss == pytest.approx(TAU / 2 / 0.75, rel=1e-12)
    assert law.mean_loss > bound


def test_large_k_is_stable_and_fast():
    lam = np.logspace(-4, 1, 100_000)
    start = time.perf_counter()
    law = quadratic_stationary(lam, discrete=True, **SGD)
    D = quadratic_kl_divergence(np.array([0.01, 0.1, 1.0]), lam, discrete=True, **SGD)
    elapsed = time.perf_counter() - start
    assert elapsed < 0.5
    v = TAU / (lam * (1 - SGD["lr"] * lam / 2))
    assert law.log_C == pytest.approx(-0.5 * np.sum(np.log(2 * np.pi * v)), rel=1e-12)
    with np.errstate(over="ignore"):       # a determinant would overflow; the logs do not
        assert np.prod(v) == np.inf
    assert np.all(np.isfinite(D)) and np.all(D > 0)


def test_broadcasting_over_parameters():
    lam = np.array([1.0, 2.0, 4.0])
    lr = np.array([0.01, 0.1, 0.4])
    law = quadratic_stationary(lam, lr=lr, batch_size=2, noise_var=1.0, discrete=True)
    assert law.variances.shape == (3, 3) and law.expected_loss.shape == (3,)
    for i, one in enumerate(lr):
        single = quadratic_stationary(lam, lr=one, batch_size=2, noise_var=1.0, discrete=True)
        assert law.expected_loss[i] == pytest.approx(single.expected_loss, rel=1e-15)
    assert isinstance(quadratic_stationary(lam, **SGD).log_C, float)
    assert np.shape(kl_loss_bound([[0.1], [1.0]], lr=lr, batch_size=1, noise_var=1.0, K=3,
                                  second_moment=1.0, log_C=0.0)) == (2, 3)


# --------------------------------------------------------------------------- burn-in
@pytest.mark.parametrize("lam, lr", [([0.01, 1.0], 0.1), ([0.5, 3.0], 0.6), ([2.0], 0.5)])
def test_burn_in_steps_against_the_variance_recursion(lam, lr):
    lam, tol = np.array(lam), 1e-6
    t = burn_in_steps(lam, lr=lr, tol=tol)
    v = 1 / (lam * (1 - lr * lam / 2))          # stationary variance at tau = 1
    start = np.full_like(lam, 7.0)

    def distance(steps):
        x = start.copy()
        for _ in range(steps):
            x = (1 - lr * lam) ** 2 * x + 2 * lr     # lr^2 noise_var / b = 2 lr at tau = 1
        return np.abs(x - v).max() / np.abs(start - v).max()
    assert distance(t) <= tol * (1 + 1e-9)
    if t > 1:
        assert distance(t - 1) > tol


# --------------------------------------------------------------------------- Monte Carlo
def test_quadratic_monte_carlo_confirms_discrete_and_rejects_continuous():
    lam, lr, b, noise = np.array([0.5, 1.5]), 0.8, 1, 1.0      # lr lam = 0.4, 1.2
    rng = np.random.default_rng(20261125)
    chains = 20000
    W = np.zeros((chains, 2))
    for _ in range(burn_in_steps(lam, lr=lr, tol=1e-12)):
        W -= lr * (W * lam + rng.normal(scale=math.sqrt(noise / b), size=W.shape))
    loss, norm2 = (W ** 2 * lam).sum(1) / 2, (W ** 2).sum(1)
    for statistic, field in ((loss, "expected_loss"), (norm2, "second_moment")):
        se = statistic.std() / math.sqrt(chains)
        exact = getattr(quadratic_stationary(lam, lr=lr, batch_size=b, noise_var=noise,
                                             discrete=True), field)
        continuous = getattr(quadratic_stationary(lam, lr=lr, batch_size=b, noise_var=noise),
                             field)
        assert abs(statistic.mean() - exact) < Z_REJECT * se
        assert abs(statistic.mean() - continuous) > 10 * Z_REJECT * se      # negative control


def _least_squares_problem():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(6, 2))
    y = X @ np.array([1.0, -0.5]) + 0.5 * rng.normal(size=6)
    return X, y


def _simulate_least_squares(X, y, lr, b, start, steps, chains, seed):
    """One sample per chain after ``steps`` minibatch-SGD steps (indices with replacement)."""
    rng = np.random.default_rng(seed)
    W = np.tile(start, (chains, 1))
    for _ in range(steps):
        idx = rng.integers(len(y), size=(chains, b))
        rows = X[idx]
        residual = np.einsum("cbk,ck->cb", rows, W) - y[idx]
        W -= lr * np.einsum("cbk,cb->ck", rows, residual) / b
    return W


def test_least_squares_against_enumerating_every_minibatch():
    """Iterate the exact one-step map of (E W, E W W^T), averaged over all N^b batches."""
    X, y = _least_squares_problem()
    X, y = X[:4], y[:4]
    lr, b = 0.5, 2
    batches = [list(batch) for batch in itertools.product(range(4), repeat=b)]
    steps = [(np.eye(2) - lr * X[i].T @ X[i] / b, lr * X[i].T @ y[i] / b) for i in batches]

    def one_step(state):               # state = (E W, vec E W W^T, 1): an affine map
        mean, second, one = state[:2], state[2:6].reshape(2, 2), state[6]
        new_mean = np.mean([P @ mean + one * c for P, c in steps], axis=0)
        new_second = np.mean([P @ second @ P.T + np.outer(P @ mean, c) + np.outer(c, P @ mean)
                              + one * np.outer(c, c) for P, c in steps], axis=0)
        return np.concatenate([new_mean, new_second.ravel(), [one]])
    step_matrix = np.column_stack([one_step(e) for e in np.eye(7)])
    # 2^40 steps from W_0 = 0 by repeated squaring
    state = np.linalg.matrix_power(step_matrix, 2 ** 40) @ np.eye(7)[6]
    mean, second = state[:2], state[2:6].reshape(2, 2)
    law = least_squares_stationary(X, y, lr=lr, batch_size=b)
    np.testing.assert_allclose(law.mean, mean, rtol=1e-12)
    np.testing.assert_allclose(law.second_moment_matrix, second, rtol=1e-11)
    loss = lambda w: np.sum((X @ w - y) ** 2) / 8
    H = X.T @ X / 4
    assert law.expected_loss == pytest.approx(
        loss(mean) + np.sum(H * (second - np.outer(mean, mean))) / 2, rel=1e-11)


def test_least_squares_monte_carlo_and_continuous_time_control():
    X, y = _least_squares_problem()
    H = X.T @ X / 6
    lr, b, chains = 0.9 / np.linalg.eigvalsh(H)[-1], 2, 20000
    law = least_squares_stationary(X, y, lr=lr, batch_size=b)
    steps = math.ceil(math.log(1e-10) / math.log(law.spectral_radius))
    W = _simulate_least_squares(X, y, lr, b, law.mean, steps, chains, seed=11)
    distance = ((W - law.mean) ** 2).sum(1)
    loss = ((W @ X.T - y) ** 2).sum(1) / 12
    for statistic, exact in ((distance, law.distance), (loss, law.expected_loss),
                             ((W ** 2).sum(1), law.second_moment)):
        assert abs(statistic.mean() - exact) < Z_REJECT * statistic.std() / math.sqrt(chains)
    # negative control: the continuous-time (SDE) law H M + M H = lr Sigma_noise
    residual = X @ law.mean - y
    noise = (X.T * residual ** 2) @ X / (6 * b)
    continuous = np.trace(linalg.solve_continuous_lyapunov(H, lr * noise))
    z = (distance.mean() - continuous) / (distance.std() / math.sqrt(chains))
    assert z > 10 * Z_REJECT


def test_least_squares_tends_to_continuous_time_as_lr_goes_to_zero():
    """The SDE law H M + M H = lr Sigma_noise is the first order in lr of the exact one."""
    X, y = _least_squares_problem()
    H = X.T @ X / 6
    errors = []
    for lr in (1e-1, 1e-2, 1e-3):
        law = least_squares_stationary(X, y, lr=lr, batch_size=3)
        residual = X @ law.mean - y
        noise = (X.T * residual ** 2) @ X / (6 * 3)
        errors.append(law.distance / np.trace(linalg.solve_continuous_lyapunov(H, lr * noise))
                      - 1)
    assert errors[0] > errors[1] > errors[2] > 0
    np.testing.assert_allclose(np.array(errors[:2]) / errors[1:], 10, rtol=0.05)


def test_spectral_radius_against_all_eigenvalues():
    """Lanczos' largest eigenvalue (K = 9: an 81 x 81 map) is the spectral radius."""
    from initmath import _kl_quadratic
    rng = np.random.default_rng(3)
    X = rng.normal(size=(50, 9))
    y = rng.normal(size=50)
    law = least_squares_stationary(X, y, lr=0.05, batch_size=2)
    T, _ = _kl_quadratic.second_moment_map(X, 0.05, 2)
    assert law.spectral_radius == pytest.approx(np.abs(np.linalg.eigvals(T)).max(), rel=1e-12)


def test_least_squares_diverges_with_too_large_lr():
    X, y = _least_squares_problem()
    with pytest.raises(ValueError, match="diverge"):
        least_squares_stationary(X, y, lr=5.0, batch_size=1)


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("call, match", [
    (lambda: kl_loss_bound(0.0, K=2, second_moment=1, log_C=0, **SGD), "sigma0"),
    (lambda: kl_loss_bound(1.0, K=0, second_moment=1, log_C=0, **SGD), "K"),
    (lambda: kl_loss_bound(1.0, K=2, second_moment=-1, log_C=0, **SGD), "second_moment"),
    (lambda: kl_loss_bound(1.0, K=2, second_moment=1, log_C=np.nan, **SGD), "log_C"),
    (lambda: kl_loss_bound(1.0, lr=-1, batch_size=1, noise_var=1, K=2, second_moment=1,
                           log_C=0), "lr"),
    (lambda: optimized_loss_bound(lr=1, batch_size=1.5, noise_var=1, K=2, second_moment=1,
                                  log_C=0), "batch_size"),
    (lambda: optimal_init_sigma(0.0, 3), "second_moment"),
    (lambda: quadratic_stationary([1.0, -1.0], **SGD), "eigenvalues"),
    (lambda: quadratic_stationary([], **SGD), "eigenvalues"),
    (lambda: quadratic_stationary([1.0], A=np.eye(1), **SGD), "exactly one"),
    (lambda: quadratic_stationary(**SGD), "exactly one"),
    (lambda: quadratic_stationary(A=[[1.0, 0.5], [0.0, 1.0]], **SGD), "symmetric"),
    (lambda: quadratic_stationary(A=[[1.0, 2.0], [2.0, 1.0]], **SGD), "positive definite"),
    (lambda: quadratic_stationary(A=np.ones(3), **SGD), "square"),
    (lambda: quadratic_stationary(A=np.eye(2), lr=[0.1, 0.2], batch_size=1, noise_var=1),
     "scalars"),
    (lambda: quadratic_stationary([50.0], discrete=True, **SGD), "lr"),
    (lambda: quadratic_stationary([1.0], lr=0.1, batch_size=1, noise_var=0), "noise_var"),
    (lambda: quadratic_kl_divergence(-1.0, [1.0], **SGD), "sigma0"),
    (lambda: discretization_error([1.0], lr=2.0), "lr"),
    (lambda: burn_in_steps([1.0], lr=0.1, tol=1.0), "tol"),
    (lambda: burn_in_steps([1.0], lr=2.5, tol=0.1), "lr"),
    (lambda: least_squares_stationary(np.ones((3, 2)), np.ones(3), lr=0.1, batch_size=1),
     "rank"),
    (lambda: least_squares_stationary(np.eye(3), np.ones(2), lr=0.1, batch_size=1), "y"),
    (lambda: least_squares_stationary(np.ones(3), np.ones(3), lr=0.1, batch_size=1), "X"),
    (lambda: least_squares_stationary(np.eye(41), np.ones(41), lr=0.1, batch_size=1),
     "at most"),
    (lambda: least_squares_stationary(np.eye(2), np.ones(2), lr=0.1, batch_size=0),
     "batch_size"),
])
def test_bad_input_raises(call, match):
    with pytest.raises(ValueError, match=match):
        call()

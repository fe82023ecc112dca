"""Fuzz, oracle and regression tests of initmath.lyapunov (issue 13): every call ends in a
finite, plausible value or a one-line ValueError naming the argument, within the budget.

Slopes reach 5e-324 (a**2 underflows below ~1e-154: the two-scale split works with log a),
sigma spans 1e-300..1e300 (log space), d reaches 2**53 and k reaches 2**53 (the exact law at
huge k goes through the cumulant series of its characteristic function).
"""
import math
import time

import mpmath
import numpy as np
import pytest
from _fuzz import (
    arrays,
    beyond_integers,
    beyond_reals,
    examples,
    fuzz,
    integers,
    maybe_beyond,
    reals,
)
from hypothesis import given
from hypothesis import strategies as st
from scipy import special

from initmath import (
    edge_sigma,
    log_norm_distribution,
    log_norm_variance,
    lyapunov_exponent,
    stochastic_dominance,
)

SLOPES = reals(0.0, 1.0, edges=(5e-324, 1e-300, 1e-170, 1e-155, 1e-45, 1e-40, 1e-20))
SIGMAS = reals(0.0, 1e300, low_open=True, edges=(1e-300, 1e-3, 1.0, 1e300))
WIDTHS = st.one_of(st.integers(1, 70), st.sampled_from([1, 2, 3, 64, 10**4, 10**6, 2**52,
                                                        2**53]), integers(1, 2**53))
DEPTHS = st.one_of(st.integers(1, 30), st.sampled_from([1, 100, 10**4, 10**8, 2**53]),
                   integers(1, 2**53))


def _finite_positive(x):
    values = np.asarray(x, float)
    if not np.all(values > 0):
        return f"not > 0: {x!r}"
    return None


def _law_check(law):
    if not (law.variance > 0 and 0 <= law.p_zero <= 1 and 0 < law.berry_esseen <= 1):
        return f"implausible law {law!r}"
    return None


# ------------------------------------------------------------------ fuzz
@examples(60)
@given(sigma=maybe_beyond(st.one_of(SIGMAS, arrays(SIGMAS)), beyond_reals(0, 1e300,
                                                                          low_open=True)),
       d=maybe_beyond(st.one_of(WIDTHS, arrays(WIDTHS)), beyond_integers(1, 2**53)),
       a=maybe_beyond(st.one_of(SLOPES, arrays(SLOPES)), beyond_reals(0.0, 1.0)))
def test_fuzz_lyapunov_exponent(sigma, d, a):
    fuzz(lyapunov_exponent, sigma, d, a, names=("sigma", "d", "a"))


@examples(60)
@given(d=maybe_beyond(st.one_of(WIDTHS, arrays(WIDTHS)), beyond_integers(1, 2**53)),
       a=maybe_beyond(st.one_of(SLOPES, arrays(SLOPES)), beyond_reals(0.0, 1.0)))
def test_fuzz_log_norm_variance_and_edge_sigma(d, a):
    fuzz(log_norm_variance, d, a, names=("d", "a"), check=_finite_positive)
    fuzz(edge_sigma, d, a, names=("d", "a"), check=_finite_positive)


@examples(10)
@given(d=st.sampled_from([1, 2, 3, 4, 2**53]), a=st.sampled_from([0.0, 5e-324, 1e-300, 0.5]),
       dps=st.one_of(st.sampled_from([None, 15]), st.sampled_from([0, 10001, 2.5, "20",
                                                                   True, [20]])))
def test_fuzz_dps(d, a, dps):
    fuzz(lyapunov_exponent, 1.0, d, a, dps=dps, names=("dps", "d", "a"))


def _law_and_cdf(k, sigma, d, a, x0_norm, where):
    law = log_norm_distribution(k, sigma, d, a, x0_norm)
    sd = math.sqrt(law.variance)
    r = law.mean + np.array(where) * sd
    cdf = law.cdf(r)
    assert np.all(np.diff(cdf) >= -1e-9), (law, cdf)
    return law, cdf, law.pdf(r), law.normal_cdf(r)


# Widths/slopes whose exact law is cheap enough for CI; the costly corner (k = 1, d = 2,
# 1e-20 < a < 1e-3: ~10 s) is exercised once in test_budget_of_the_costly_corner.
LAW_SLOPES = st.one_of(st.sampled_from([0.0, 5e-324, 1e-300, 1e-170, 1e-45, 0.3, 1.0]),
                       reals(0.01, 1.0))


@examples(25)
@given(k=maybe_beyond(DEPTHS, beyond_integers(1, 2**53)),
       sigma=maybe_beyond(SIGMAS, st.one_of(beyond_reals(0, 1e300, low_open=True),
                                            arrays(SIGMAS))),
       d=maybe_beyond(st.one_of(st.integers(1, 70), st.sampled_from([2**53])),
                      st.one_of(beyond_integers(1, 2**53), arrays(WIDTHS))),
       a=maybe_beyond(LAW_SLOPES, beyond_reals(0.0, 1.0)),
       x0_norm=maybe_beyond(SIGMAS, beyond_reals(0, 1e300, low_open=True)),
       where=st.lists(st.floats(-40, 40), min_size=1, max_size=5).map(sorted))
def test_fuzz_log_norm_distribution(k, sigma, d, a, x0_norm, where):
    fuzz(_law_and_cdf, k, sigma, d, a, x0_norm, where,
         names=("k", "sigma", "d", "a", "x0_norm", "r"),
         label="log_norm_distribution", check=lambda out: _law_check(out[0]))


@examples(15)
@given(k=maybe_beyond(DEPTHS, beyond_integers(1, 2**53)),
       sigmas=st.tuples(SIGMAS, SIGMAS),
       d=st.one_of(st.integers(1, 40), st.sampled_from([2**53])),
       a=maybe_beyond(LAW_SLOPES, beyond_reals(0.0, 1.0)),
       points=maybe_beyond(st.integers(1, 3000), beyond_integers(1, 10**5)))
def test_fuzz_stochastic_dominance(k, sigmas, d, a, points):
    def check(out):
        # (the grid need not reach both tails: with points=1 it is one point)
        if not (-1 - 1e-9 <= out["min_cdf_difference"] <= out["max_cdf_difference"]
                <= 1 + 1e-9):
            return f"differences out of range: {out}"
        return None
    fuzz(stochastic_dominance, k, *sigmas, d, a, points=points,
         names=("k", "sigma_1", "sigma_2", "d", "a", "points"), check=check)


@pytest.mark.parametrize("call, name", [
    (lambda: log_norm_distribution(np.array([3, 4]), 1.0, 4), "k"),
    (lambda: log_norm_distribution(3, np.array([1.0, 2.0]), 4), "sigma"),
    (lambda: log_norm_distribution(3, 1.0, 4, np.array([0.1, 0.2])), "a"),
    (lambda: log_norm_distribution(3, 1.0, 4, x0_norm=[1.0, 2.0]), "x0_norm"),
    (lambda: stochastic_dominance(3, [1.0, 2.0], 1.0, 4), "sigma_1"),
    (lambda: stochastic_dominance(3, 1.0, 2.0, 4, points=2.5), "points"),
    (lambda: stochastic_dominance(3, 1.0, 2.0, 4, points=10**5 + 1), "points"),
    (lambda: stochastic_dominance(3, 1.0, math.inf, 4), "sigma_2"),
    (lambda: log_norm_distribution(3, 1.0, 4).cdf(math.nan), "r"),
    (lambda: log_norm_distribution(3, 1.0, 4).pdf("x"), "r"),
    (lambda: log_norm_distribution(3, 1.0, 4).normal_cdf(math.inf), "r"),
    (lambda: lyapunov_exponent(1.0, 2**53 + 1), "d"),
    (lambda: lyapunov_exponent(1.0, 4, dps=[5]), "dps"),
])
def test_scalar_only_and_out_of_range_arguments(call, name):
    with pytest.raises(ValueError, match=name) as info:
        call()
    assert "\n" not in str(info.value)


# ------------------------------------------------------------------ oracle: float64 vs dps=50
ORACLE = [(1e-300, 1, 5e-324), (1e300, 1, 1e-300), (1.0, 2, 1e-300), (1e-300, 3, 1e-170),
          (1.0, 1, 1e-155), (2.0, 3, 1e-45), (0.3, 3, 0.05), (1.0, 2**53, 5e-324),
          (1e300, 2**53, 0.5), (1.0, 10**6, 1e-300), (0.7, 5, 0.0)]


@pytest.mark.parametrize("sigma, d, a", ORACLE)
def test_float64_against_dps50_over_the_edges(sigma, d, a):
    mu_mp = lyapunov_exponent(sigma, d, a, dps=50)
    mu = lyapunov_exponent(sigma, d, a)
    # absolute where mu crosses zero: log(sigma) and E log Z'/2 are each good to ~1 ulp
    scale = max(abs(float(mu_mp)), 1e-3 * (1 + abs(math.log(sigma))))
    assert abs(mu - float(mu_mp)) <= 1e-12 * scale
    variance_mp = log_norm_variance(d, a, dps=50)
    assert log_norm_variance(d, a) == pytest.approx(float(variance_mp), rel=1e-12)


# ------------------------------------------------------------------ regressions (issue 13)
PSI_HALF = float(mpmath.digamma(0.5) + mpmath.log(2))       # E log g^2, g ~ N(0, 1)


def test_tiny_slope_at_width_one_is_exact():
    """d = 1: Z = c g^2 with c = 1 or a^2 (1/2 each), so E log Z = log a + E log g^2 and
    Var log Z = (log a)^2 + pi^2/2 exactly, for every a (was: a**2 underflowing to ReLU)."""
    for a in (1e-155, 1e-170, 1e-300, 5e-324):
        assert lyapunov_exponent(1.0, 1, a) == pytest.approx((math.log(a) + PSI_HALF) / 2,
                                                             rel=1e-14)
        assert log_norm_variance(1, a) == pytest.approx((math.log(a) ** 2 + math.pi ** 2 / 2)
                                                        / 4, rel=1e-14)
        assert edge_sigma(1, a) == pytest.approx(math.exp(-(math.log(a) + PSI_HALF) / 2),
                                                 rel=1e-13)
    # the reproducer: -196.3549... (was -0.635, ReLU's value)
    assert lyapunov_exponent(1.0, 1, 1e-170) == pytest.approx(-196.35491432722463, rel=1e-14)
    law = log_norm_distribution(10, 1.0, 1, 1e-170)
    assert law.mean == pytest.approx(10 * (math.log(1e-170) + PSI_HALF) / 2, rel=1e-14)


def test_tiny_slope_law_is_the_two_component_mixture():
    """d = 1, k = 1: log||x_1|| = (log g^2)/2 + (0 or log a): the CDF is the average of two
    chi2_1 CDFs, |log a| apart (a lattice-like law whose |cf| oscillates)."""
    a = 1e-170
    law = log_norm_distribution(1, 1.0, 1, a)
    r = np.array([-400.0, -392.0, -391.0, -300.0, -1.0, 0.0, 1.0])
    with np.errstate(over="ignore"):
        exact = 0.5 * (special.gammainc(0.5, np.exp(2 * r) / 2)
                       + special.gammainc(0.5, np.exp(2 * (r - math.log(a))) / 2))
    np.testing.assert_allclose(law.cdf(r), exact, atol=1e-11)


def test_tiny_slope_variance_at_width_64():
    """log_norm_variance(64, 1e-155): ReLU's value plus 2^-64-weighted (log a)^2 terms
    (was 0.0); the dps=30 split route agrees."""
    value = log_norm_variance(64, 1e-155)
    assert value == pytest.approx(0.020749337639118, rel=1e-12)
    assert value > log_norm_variance(64, 0.0)       # the all-negative atom adds 2^-64 (2 log a)^2/4
    for a in (1e-300, 5e-324):
        assert log_norm_variance(64, a) == pytest.approx(value, rel=1e-11)


def test_split_matches_the_exact_route_where_both_hold():
    """The two-scale split (log a) against the quadrature (a**2) where both hold."""
    from initmath._engine.logmoments import log_cumulants
    from initmath._engine.mixture import slope_scales as _mixture
    from initmath.lyapunov import _split_cumulants
    for d in (1.0, 2.0, 3.0, 16.0, 1000.0):
        for a in (1e-45, 1e-100):
            c, w = _mixture(np.array([a]))
            exact = log_cumulants(np.array([d]), c, w, 2)[0]
            split = _split_cumulants(np.array([d]), np.array([math.log(a)]), 2)[0]
            np.testing.assert_allclose(split, exact, rtol=1e-13)


def test_sigma_in_log_space_and_dominance_at_the_extremes():
    out = stochastic_dominance(1, 1e-300, 1e300, 16)
    assert out["shift"] == pytest.approx(600 * math.log(10), rel=1e-15)      # was inf
    assert out["dominant"] == 2 and out["max_cdf_difference"] == 1.0
    assert abs(out["min_cdf_difference"]) < 1e-12


def test_huge_depth_dominance_is_bounded():
    start = time.perf_counter()
    out = stochastic_dominance(2**53, 0.2, 0.25, 16)           # hung before
    assert time.perf_counter() - start < 5
    assert out["shift"] == pytest.approx(2**53 * math.log(1.25), rel=1e-15)
    assert out["dominant"] == 2 and out["max_cdf_difference"] == 1.0


def test_far_away_points_are_exact_zero_or_one():
    law = log_norm_distribution(10, 1.0, 16)
    assert law.cdf(1e6) == 1.0 and law.cdf(-1e6) == 0.0           # MemoryError before
    assert law.pdf(1e6) == 0.0 and law.pdf(-1e300) == 0.0
    np.testing.assert_array_equal(law.cdf([-1e300, 1e300]), [0.0, 1.0])


@pytest.mark.parametrize("k", [10**6, 10**8, 10**10, 2**53])
def test_huge_depth_law_follows_the_edgeworth_expansion(k):
    """At huge k, F(mean + sd) - Phi(1) is Edgeworth's O(1/k) term
    -phi(1) [gamma_4 (z^3 - 3z)/24 + gamma_3^2 (z^5 - 10 z^3 + 15 z)/72] / k at z = 1
    (the 1/sqrt k term vanishes there); the direct route had O(k 1e-16) errors (2e-8 at
    k = 1e8, 0.34 at k = 2**53)."""
    law = log_norm_distribution(k, 0.2, 16)
    kap = law._kappa()
    g3, g4 = kap[2] / kap[1] ** 1.5, kap[3] / kap[1] ** 2
    z = 1.0
    phi = math.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    edgeworth = -phi * (g4 * (z ** 3 - 3 * z) / 24 + g3 ** 2 * (z ** 5 - 10 * z ** 3 + 15 * z)
                        / 72) / k
    r = law.mean + math.sqrt(law.variance)
    # r itself is rounded to ulp(mean): the CDF can only be as good as pdf * ulp(r)
    conditioning = abs(r) * 2.3e-16 / math.sqrt(law.variance)
    got = law.cdf(r) - special.ndtr((r - law.mean) / math.sqrt(law.variance))
    assert abs(got - edgeworth) <= 1e-12 + 1e-3 * abs(edgeworth) + conditioning


def test_uniform_grid_chirp_z_matches_the_direct_sum():
    law = log_norm_distribution(3, 1.0, 2, 1e-300)
    r = np.linspace(law.mean - 3 * math.sqrt(law.variance),
                    law.mean + 3 * math.sqrt(law.variance), 3001)
    fast = law.cdf(r)
    slow = np.array([law.cdf(x) for x in r[::150]])
    np.testing.assert_allclose(fast[::150], slow, atol=1e-10)


def test_budget_of_the_costly_corner():
    start = time.perf_counter()
    out = stochastic_dominance(1, 1.0, 1.1, 2, 1e-19)
    assert time.perf_counter() - start < 30
    assert out["dominant"] == 2 and 0 < out["max_cdf_difference"] < 0.1


def test_arrays_that_do_not_broadcast_are_named():
    """Found by the long run: numpy's 'operands could not be broadcast' named no argument."""
    with pytest.raises(ValueError, match=r"^sigma, d, a must broadcast together"):
        lyapunov_exponent([], 1, np.array([0.0, 0.0]))
    with pytest.raises(ValueError, match=r"^d, a must broadcast together"):
        edge_sigma([1, 2], [0.1, 0.2, 0.3])
    assert lyapunov_exponent([], 1, 0.0).shape == (0,)

"""Lyapunov exponent, CLT variance and the exact finite-depth law of log||x_k||."""
import math

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special, stats

from initmath import (
    critical_sigma,
    edge_sigma,
    log_moment_factor,
    log_norm_distribution,
    log_norm_variance,
    lyapunov_exponent,
    stochastic_dominance,
)

D_VALUES = [1, 2, 3, 10, 64, 1000, 10**6, 10**9]


def theorem5(d):
    """Theorem 5 as printed: (E log Z', Var log Z') for ReLU from digamma/trigamma sums
    with pi_d(n) = C(d, n)/(2^d - 1), at 40 digits."""
    with mpmath.workdps(40):
        weights = [mpmath.binomial(d, n) / (mpmath.mpf(2) ** d - 1) for n in range(1, d + 1)]
        psi0 = [mpmath.log(2) + mpmath.digamma(mpmath.mpf(n) / 2) for n in range(1, d + 1)]
        psi1 = [mpmath.psi(1, mpmath.mpf(n) / 2) for n in range(1, d + 1)]
        mean = mpmath.fsum(w * p for w, p in zip(weights, psi0))
        second = mpmath.fsum(w * (q + p * p) for w, p, q in zip(weights, psi0, psi1))
        return float(mean), float(second - mean * mean)


def linear_cumulants(d):
    """a = 1: log Z with Z ~ chi2_d: mean psi(d/2) + log 2, variance psi'(d/2)."""
    with mpmath.workdps(40):
        return (float(mpmath.digamma(mpmath.mpf(d) / 2) + mpmath.log(2)),
                float(mpmath.psi(1, mpmath.mpf(d) / 2)))


# ------------------------------------------------------------------ exact values
@pytest.mark.parametrize("d", [1, 2, 3, 7, 64, 500])
def test_relu_reproduces_theorem_5(d):
    mean, variance = theorem5(d)
    sigma = 0.3
    assert lyapunov_exponent(sigma, d) == pytest.approx(math.log(sigma) + mean / 2,
                                                        rel=1e-12, abs=1e-14)
    assert log_norm_variance(d) == pytest.approx(variance / 4, rel=1e-11)


@pytest.mark.parametrize("d", D_VALUES)
def test_linear_closed_form(d):
    mean, variance = linear_cumulants(d)
    assert lyapunov_exponent(1.0, d, 1.0) == pytest.approx(mean / 2, rel=1e-12, abs=1e-15)
    assert log_norm_variance(d, 1.0) == pytest.approx(variance / 4, rel=1e-11)
    assert edge_sigma(d, 1.0) == pytest.approx(math.exp(-mean / 2), rel=1e-12)


@pytest.mark.parametrize("d", [1, 4, 64, 10**4])
@pytest.mark.parametrize("a", [1e-3, 0.3, 0.8])
def test_general_slope_matches_the_derivative_of_log_moment_at_zero(d, a):
    """mu = Lambda'(0) with Lambda(s) = log I(s) the CGF of X = log(Z)/2 (sigma = 1):
    Lambda(s)/s = mu + s s_a^2/2 + s^2 kappa_3/6 + ..., so a Richardson pair at s = 1e-6
    (values at 40 digits) pins mu to ~1e-10 even where kappa_3 is large (small a, d)."""
    s = 1e-6
    slope = [float(log_moment_factor(x, d, a, dps=40) / x) for x in (s, 2 * s)]
    mu_estimate = 2 * slope[0] - slope[1]
    assert lyapunov_exponent(1.0, d, a) == pytest.approx(mu_estimate, abs=1e-9)
    curvature = 2 * (slope[1] - slope[0]) / s
    assert log_norm_variance(d, a) == pytest.approx(curvature, rel=1e-4)


# ------------------------------------------------------------------ properties
@settings(max_examples=60, deadline=None)
@given(sigma=st.floats(1e-3, 10.0), d=st.integers(1, 10**6), a=st.floats(0.0, 1.0))
def test_monotone_in_sigma_and_zero_at_the_edge(sigma, d, a):
    mu = lyapunov_exponent(sigma, d, a)
    assert lyapunov_exponent(sigma * 1.01, d, a) > mu
    assert abs(lyapunov_exponent(edge_sigma(d, a), d, a)) < 1e-13


@settings(max_examples=60, deadline=None)
@given(s=st.floats(0.05, 6.0), d=st.integers(1, 10**5), a=st.floats(0.001, 1.0))
def test_theorem_14_sign_for_leaky(s, d, a):
    """a > 0: Lambda(s) = log(sigma^s I(s)) is convex with Lambda(0) = 0, so
    Lambda(s) = 0 at sigma-bar(s) forces mu = Lambda'(0) < 0: sigma-bar < edge sigma."""
    assert lyapunov_exponent(critical_sigma(s, d, a), d, a) < 0
    assert critical_sigma(s, d, a) < edge_sigma(d, a)


def test_theorem_14_sign_fails_for_relu_at_small_s():
    """ReLU: Lambda(0+) = log(1 - 2^-d) < 0 (the atom), so sigma-bar(s) -> inf as s -> 0 and
    mu_0(sigma-bar(s)) > 0 for small s: the a > 0 statement does not carry over."""
    d = 4
    assert lyapunov_exponent(critical_sigma(0.05, d), d) > 0
    assert lyapunov_exponent(critical_sigma(1.0, d), d) < 0


def test_relu_and_small_slope_agree_in_the_limit():
    """a -> 0+: the law of Z (no atom) tends to ReLU's Z, but log Z does not converge in
    mean on the atom: E log Z ~ 2^-d log(a^2) -> -inf; conditional on Z > 0 it converges."""
    d, a = 20, 1e-6
    gap = lyapunov_exponent(1.0, d, a) - lyapunov_exponent(1.0, d, 0.0)
    assert gap == pytest.approx(0.5 ** d * math.log(a), rel=0.05)


# ------------------------------------------------------------------ finite-k law
@pytest.mark.parametrize("k, d", [(1, 4), (3, 1), (10, 64), (1000, 16)])
def test_exact_law_for_linear_layers(k, d):
    """a = 1, k = 1: log||x_1|| = log sigma + log(chi2_d)/2 exactly (scipy's chi2 CDF);
    for k > 1 compare mean and variance of the inverted density."""
    sigma = 0.7
    law = log_norm_distribution(k, sigma, d, 1.0)
    if k == 1:
        r = np.linspace(law.mean - 4, law.mean + 2, 41)
        exact = stats.chi2(d).cdf(np.exp(2 * (r - math.log(sigma))))
        np.testing.assert_allclose(law.cdf(r), exact, atol=1e-11)
    mean, variance = linear_cumulants(d)
    assert law.mean == pytest.approx(k * (math.log(sigma) + mean / 2))
    assert law.variance == pytest.approx(k * variance / 4)
    r = np.linspace(law.mean - 12 * math.sqrt(law.variance) - 10,
                    law.mean + 12 * math.sqrt(law.variance), 8001)
    density = law.pdf(r)
    step = r[1] - r[0]
    assert np.sum(density) * step == pytest.approx(1.0, abs=1e-6)
    assert np.sum(r * density) * step == pytest.approx(law.mean, abs=1e-5)


def test_relu_single_layer_law_is_a_chi_mixture():
    d, sigma = 3, 1.0
    law = log_norm_distribution(1, sigma, d)
    r = np.linspace(-3, 2, 21)
    z = np.exp(2 * r)
    weights = special.comb(d, np.arange(1, d + 1)) / (2 ** d - 1)
    exact = sum(w * stats.chi2(n).cdf(z) for n, w in zip(range(1, d + 1), weights))
    np.testing.assert_allclose(law.cdf(r), exact, atol=1e-11)
    assert law.p_zero == pytest.approx(0.5 ** d)


def test_normal_approximation_is_worse_at_small_depth_and_within_berry_esseen():
    d = 4
    distances = []
    for k in (1, 10, 100):
        law = log_norm_distribution(k, 1.0, d, 0.2)
        r = np.linspace(law.mean - 6 * math.sqrt(law.variance),
                        law.mean + 6 * math.sqrt(law.variance), 801)
        distance = np.max(np.abs(law.cdf(r) - law.normal_cdf(r)))
        assert distance <= law.berry_esseen
        distances.append(distance)
    assert distances[0] > distances[1] > distances[2]


def test_relu_death_probability():
    law = log_norm_distribution(1000, 1.0, 8)
    assert law.p_zero == pytest.approx(1 - (1 - 2.0 ** -8) ** 1000, rel=1e-12)


def test_sigma_only_shifts_the_law():
    d, k = 64, 100
    low = log_norm_distribution(k, 0.17, d)
    high = log_norm_distribution(k, 0.18, d)
    shift = k * math.log(0.18 / 0.17)
    r = np.linspace(low.mean - 3, low.mean + 3, 11)
    np.testing.assert_allclose(high.cdf(r + shift), low.cdf(r), atol=1e-11)


def test_stochastic_dominance_of_remark_6():
    d, k = 64, 100
    kaiming, ours = math.sqrt(2 / d), math.sqrt(2 / d + 5 / (2 * d * d))
    out = stochastic_dominance(k, kaiming, ours, d)
    assert out["dominant"] == 2 and out["shift"] > 0
    assert out["max_cdf_difference"] > 0.1 and out["min_cdf_difference"] > -1e-10
    reverse = stochastic_dominance(k, ours, kaiming, d)
    assert reverse["dominant"] == 1 and reverse["max_cdf_difference"] < 1e-10


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: lyapunov_exponent(0.0, 10), "sigma"),
        (lambda: lyapunov_exponent(math.inf, 10), "sigma"),
        (lambda: lyapunov_exponent(1.0, 0), "d"),
        (lambda: lyapunov_exponent(1.0, 2.5), "d"),
        (lambda: lyapunov_exponent(1.0, 10, 1.5), "a"),
        (lambda: log_norm_variance(10, math.nan), "a"),
        (lambda: edge_sigma(True), "d"),
        (lambda: log_norm_distribution(0, 1.0, 10), "k"),
        (lambda: log_norm_distribution(5, 1.0, 10, x0_norm=0.0), "x0_norm"),
    ],
)
def test_bad_input_raises(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("d, a", [(1, 1.0), (64, 1.0), (5, 0.0), (300, 0.0)])
def test_high_precision_matches_closed_forms(d, a):
    """dps=30 against the chi2 closed form (a = 1) and Theorem 5's sums (a = 0) at 40
    digits; float64 agrees with both to 1e-12."""
    with mpmath.workdps(40):
        if a == 1:
            mean = mpmath.digamma(mpmath.mpf(d) / 2) + mpmath.log(2)
            variance = mpmath.psi(1, mpmath.mpf(d) / 2)
        else:
            w = [mpmath.binomial(d, n) / (mpmath.mpf(2) ** d - 1) for n in range(1, d + 1)]
            p0 = [mpmath.log(2) + mpmath.digamma(mpmath.mpf(n) / 2) for n in range(1, d + 1)]
            p1 = [mpmath.psi(1, mpmath.mpf(n) / 2) for n in range(1, d + 1)]
            mean = mpmath.fsum(x * y for x, y in zip(w, p0))
            variance = mpmath.fsum(x * (z + y * y) for x, y, z in zip(w, p0, p1)) - mean**2
        mu = lyapunov_exponent(0.5, d, a, dps=30)
        assert abs(mu - (mpmath.log(0.5) + mean / 2)) < mpmath.mpf(10) ** -29 * abs(mu)
        v = log_norm_variance(d, a, dps=30)
        assert abs(v / (variance / 4) - 1) < mpmath.mpf(10) ** -29
    assert float(mu) == pytest.approx(lyapunov_exponent(0.5, d, a), rel=1e-12)


@pytest.mark.parametrize(
    "sigma, d, a", [(0.3, 3, 0.05), (1.0, 64, 0.5), (0.05, 2000, 0.01), (2.0, 10**6, 0.9)]
)
def test_float64_within_1e12_of_a_50_digit_reference(sigma, d, a):
    mu = lyapunov_exponent(sigma, d, a, dps=50)
    assert lyapunov_exponent(sigma, d, a) == pytest.approx(float(mu), rel=1e-12, abs=1e-15)
    variance = log_norm_variance(d, a, dps=50)
    assert log_norm_variance(d, a) == pytest.approx(float(variance), rel=1e-12)

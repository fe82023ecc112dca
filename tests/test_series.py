"""The paper's printed series (initmath._engine.series; the printed critical sigmas in
initmath.papers.gurbuzbalaban_hu) against an independent mpmath reference.

The reference does not use the series at all.  Given n positive coordinates,
Z = chi2_n + a^2 chi2_(d-n), and for h = s/2

    E[Z^h | n] = 2^h Gamma(d/2 + h) / Gamma(d/2) * 2F1(-h, (d-n)/2; d/2; 1 - a^2),

so I_a(s, d) = sum_n C(d, n) 2^-d E[Z^h | n], evaluated with mpmath.hyp2f1.
"""
import functools
import math
import time

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from initmath._engine.series import series_moment_factor
from initmath.papers.gurbuzbalaban_hu import (
    paper_critical_sigma_leaky,
    paper_critical_sigma_relu,
)


@functools.cache
def reference(s, d, a, dps=30):
    """I_a(s, d) from the 2F1 form above, as an mpf at ``dps`` digits.

    Binomial weights below 10^-(dps + 10) are skipped: they cannot reach the result's
    last digit (E[Z^h | n] varies by less than a factor d over n).
    """
    with mpmath.workdps(dps + 10):
        h = mpmath.mpf(s) / 2
        a = mpmath.mpf(a)
        half_d = mpmath.mpf(d) / 2
        cutoff = mpmath.mpf(10) ** (-(dps + 10))
        total = mpmath.mpf(0)
        for n in range(d + 1):
            weight = mpmath.binomial(d, n) / mpmath.mpf(2) ** d
            if weight >= cutoff:
                total += weight * mpmath.hyp2f1(-h, mpmath.mpf(d - n) / 2, half_d, 1 - a * a)
        result = 2 ** h * mpmath.gamma(half_d + h) / mpmath.gamma(half_d) * total
    with mpmath.workdps(dps):
        return +result


def rel_err(value, exact):
    return float(abs(mpmath.mpf(value) / exact - 1))


# ---------------------------------------------------------------- float64 accuracy

@pytest.mark.parametrize("d", [1, 2, 3, 7, 16, 33])
@pytest.mark.parametrize("a", [0.0, 0.05, 0.3, 0.7, 1.0])
@pytest.mark.parametrize("s", [0.1, 0.8, 1.0, 1.5, 1.9])
def test_float_matches_hypergeometric_reference(s, d, a):
    value = series_moment_factor(s, d, a)
    assert isinstance(value, float)
    assert rel_err(value, reference(s, d, a)) <= 1e-13


@pytest.mark.parametrize("d", [1, 2, 5, 16, 100, 1024])
@pytest.mark.parametrize("s", [0.1, 1.0, 1.9])
def test_linear_activation_closed_form(s, d):
    # a = 1: only k = 0 survives, I_1 = 2^h Gamma(d/2 + h) / Gamma(d/2) (E of chi2_d^h).
    with mpmath.workdps(30):
        h = mpmath.mpf(s) / 2
        exact = 2 ** h * mpmath.gamma(mpmath.mpf(d) / 2 + h) / mpmath.gamma(mpmath.mpf(d) / 2)
    assert rel_err(series_moment_factor(s, d, 1.0), exact) <= 1e-14


@pytest.mark.parametrize("a", [0.0, 0.3, 1.0])
@pytest.mark.parametrize("d", [1, 16, 1000])
def test_s_equal_2_is_the_exact_convention(d, a):
    assert series_moment_factor(2.0, d, a) == (1 + a * a) * d / 2
    with mpmath.workdps(40):
        exact = (1 + mpmath.mpf(a) ** 2) * d / 2
    assert rel_err(series_moment_factor(2, d, a, dps=40), exact) <= 1e-40


@pytest.mark.parametrize("d", [1, 3, 16, 50])
def test_relu_theorem_1_for_s_above_2(d):
    # Theorem 1 holds for every s > 0; E[chi2_n^2] = n (n + 2) gives I_0(4, d) = d (d + 5)/4.
    assert series_moment_factor(4.0, d, 0.0) == pytest.approx(d * (d + 5) / 4, rel=1e-14)
    for s in (2.5, 7.3):
        assert rel_err(series_moment_factor(s, d, 0.0), reference(s, d, 0.0)) <= 1e-13


@pytest.mark.parametrize("a", [1e-5, 0.01, 0.5])
def test_wide_layer_converges_fast_for_any_a(a):
    # For d = 1024 the binomial weight sits on n ~ d/2, where the terms decay like
    # k^(-n/2): a few dozen terms per n suffice however small a is, so this is
    # quick, not a too-many-terms error.
    start = time.perf_counter()
    value = series_moment_factor(1.0, 1024, a)
    loose = series_moment_factor(1.0, 1024, a, rtol=1e-13)
    assert time.perf_counter() - start < 1.0
    exact = reference(1.0, 1024, a)
    assert rel_err(value, exact) <= 1e-14
    assert rel_err(loose, exact) <= 1e-13


@pytest.mark.parametrize("s, d, a", [
    (1.0, 7, 0.3), (0.1, 33, 0.7), (1.5, 3, 0.0), (1.9, 1, 1.0), (0.8, 4, 0.5),
    (3.3, 12, 0.0),
])
def test_mp_path_correct_to_30_digits(s, d, a):
    value = series_moment_factor(s, d, a, dps=30)
    assert isinstance(value, mpmath.mpf)
    assert rel_err(value, reference(s, d, a, dps=50)) <= 1e-30


@settings(max_examples=25, deadline=None)
@given(
    s=st.floats(0.05, 1.95),
    d=st.integers(1, 40),
    a_low=st.floats(0.05, 1.0),
    a_high=st.floats(0.05, 1.0),
)
def test_monotone_in_a_and_bracketed_by_linear(s, d, a_low, a_high):
    # Z grows pointwise with a, and a^2 chi2_d <= Z <= chi2_d, so
    # a^s I_1 <= I_a <= I_1 and I_a is non-decreasing in a.
    a_low, a_high = sorted((a_low, a_high))
    low = series_moment_factor(s, d, a_low)
    high = series_moment_factor(s, d, a_high)
    linear = series_moment_factor(s, d, 1.0)
    slack = 1 + 1e-13
    assert low <= high * slack
    assert high <= linear * slack
    assert a_low ** s * linear <= low * slack


# ------------------------------------------------- the printed critical-sigma formulas

def test_printed_relu_sigma_is_wrong_at_s_1():
    # Moment preservation is sigma^s I = 1, i.e. sigma = I^(-1/s).  Theorem 1(i) prints
    # 1/sqrt(I), which at s = 1, d = 16 multiplies the s-th moment by sqrt(I) per layer.
    moment = series_moment_factor(1.0, 16, 0.0)
    correct = moment ** (-1.0)
    printed = paper_critical_sigma_relu(1.0, 16)
    assert printed / correct - 1 > 0.5
    assert printed * moment == pytest.approx(math.sqrt(moment), rel=1e-15)
    assert printed * moment > 1.6


@pytest.mark.parametrize("d", [1, 16, 64, 1000])
def test_printed_relu_sigma_agrees_at_s_2(d):
    correct = series_moment_factor(2.0, d, 0.0) ** (-1 / 2)
    assert paper_critical_sigma_relu(2.0, d) == pytest.approx(correct, rel=1e-15)
    assert paper_critical_sigma_relu(2.0, d) == pytest.approx(math.sqrt(2 / d), rel=1e-15)


@pytest.mark.parametrize("a", [0.01, 0.3, 1.0])
@pytest.mark.parametrize("s", [0.5, 1.5, 2.0])
def test_printed_leaky_sigma_is_wrong_even_at_s_2(s, a):
    # Theorem 7 prints 1/(sqrt(s) I_a); that is I_a^(-1/s) only at s = 1.
    moment = series_moment_factor(s, 16, a)
    printed = paper_critical_sigma_leaky(s, 16, a)
    assert abs(printed ** s * moment - 1) > 0.5
    if s == 2.0:
        kaiming = math.sqrt(2 / ((1 + a * a) * 16))
        assert abs(printed / kaiming - 1) > 0.5


@pytest.mark.parametrize("a", [0.01, 0.3, 1.0])
def test_printed_leaky_sigma_coincides_at_s_1(a):
    moment = series_moment_factor(1.0, 16, a)
    assert paper_critical_sigma_leaky(1.0, 16, a) * moment == pytest.approx(1.0, rel=1e-15)


def test_corollary_10_uses_the_correct_sigma():
    # The paper's own Corollary 10, sigma_1^2 = 1/2 (Gamma(d/2)/Gamma(d/2 + s/2))^(2/s),
    # is I_1^(-2/s): the correct rule, not Theorem 7's printed one.
    for s, d in [(0.5, 8), (1.5, 16), (1.7, 100)]:
        corollary = 0.5 * math.exp(2 / s * (math.lgamma(d / 2) - math.lgamma(d / 2 + s / 2)))
        assert series_moment_factor(s, d, 1.0) ** (-2 / s) == pytest.approx(corollary, rel=1e-13)
        assert paper_critical_sigma_leaky(s, d, 1.0) ** 2 != pytest.approx(corollary, rel=1e-2)


def test_printed_sigma_fails_in_a_simulated_network():
    # Negative control: push 20000 independent ReLU networks (d = 16, 6 layers) forward.
    # With sigma = I^(-1/s) the mean of ||x^(L)||^s stays at ||x^(0)||^s = 1; with the
    # printed sigma it grows like I^(L/2) ~ 20.
    s, d, depth, samples = 1.0, 16, 6, 20000
    moment = series_moment_factor(s, d, 0.0)

    def mean_moment(sigma):
        """Sample mean of ||x^(L)||^s and its standard error."""
        rng = np.random.default_rng(12345)      # the same weights for both sigmas
        x = np.ones((samples, d)) / math.sqrt(d)
        for _ in range(depth):
            layer = rng.standard_normal((samples, d, d))
            x = np.maximum(sigma * np.einsum("nij,nj->ni", layer, x), 0.0)
        values = np.linalg.norm(x, axis=1) ** s
        return values.mean(), values.std() / math.sqrt(samples)

    mean, error = mean_moment(moment ** (-1 / s))
    assert abs(mean - 1.0) < 4 * error
    printed, printed_error = mean_moment(paper_critical_sigma_relu(s, d))
    assert abs(printed - moment ** (depth / 2)) < 4 * printed_error
    assert abs(printed - 1.0) > 100 * printed_error   # the negative control is rejected


def test_printed_sigma_mp_path():
    with mpmath.workdps(30):
        moment = reference(1.0, 16, 0.0)
        assert rel_err(paper_critical_sigma_relu(1.0, 16, dps=30), 1 / mpmath.sqrt(moment)) <= 1e-29
        moment = reference(1.0, 16, 0.5)
        assert rel_err(paper_critical_sigma_leaky(1.0, 16, 0.5, dps=30), 1 / moment) <= 1e-29


# ------------------------------------------------------------------- refusals

@pytest.mark.parametrize("kwargs", [
    dict(s=0.0, d=3, a=0.1), dict(s=-1.0, d=3, a=0.1), dict(s=math.nan, d=3, a=0.1),
    dict(s=math.inf, d=3, a=0.0), dict(s="1", d=3, a=0.1), dict(s=1.0, d=0, a=0.1),
    dict(s=1.0, d=2.0, a=0.1), dict(s=1.0, d=True, a=0.1), dict(s=1.0, d=3, a=-0.1),
    dict(s=1.0, d=3, a=1.5), dict(s=1.0, d=3, a=math.nan), dict(s=2.5, d=3, a=0.1),
    dict(s=1.0, d=3, a=0.1, dps=0), dict(s=1.0, d=3, a=0.1, dps=2.0),
    dict(s=1.0, d=3, a=0.1, rtol=0.0), dict(s=1.0, d=3, a=0.1, rtol=1.0),
    dict(s=1.0, d=3, a=1e-200),
])
def test_bad_inputs_raise(kwargs):
    with pytest.raises(ValueError):
        series_moment_factor(**kwargs)


@pytest.mark.parametrize("s, d, a, dps", [
    (1.0, 16, 1e-5, None), (1.0, 2, 1e-8, None), (0.3, 64, 1e-4, None),
    (1.0, 8, 0.01, 30),
])
def test_too_many_terms_raise_quickly(s, d, a, dps):
    # Small n need ~log(1/rtol)/a^2 terms; the count is estimated before summing.
    start = time.perf_counter()
    with pytest.raises(ValueError, match="method='hypergeometric'"):
        series_moment_factor(s, d, a, dps=dps)
    assert time.perf_counter() - start < 1.0


def test_float_overflow_raises():
    with pytest.raises(ValueError, match="overflows"):
        series_moment_factor(3000.0, 16, 0.0)
    assert mpmath.isfinite(series_moment_factor(3000.0, 16, 0.0, dps=20))

"""Tests of initmath.hessian: Gordon / Tracy-Widom / exact spectral-norm initialization."""
import doctest
import math

import _wishart_reference
import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binom

from initmath import _spectral_norm, hessian
from initmath.hessian import expected_norm, glorot_sigma, hessian_glorot_ratio, hessian_sigma

SMALL = [(1, 1), (1, 7), (2, 2), (3, 2), (3, 3), (5, 3), (4, 4), (6, 5), (20, 6), (8, 8)]


def test_doctests():
    assert doctest.testmod(hessian, optionflags=doctest.NORMALIZE_WHITESPACE).failed == 0


# --------------------------------------------------------------------------- paper / Remark 3
def test_gordon_is_paper_eq8_and_glorot():
    assert hessian_sigma(16, 9) == pytest.approx(1 / 7, rel=1e-15)
    assert glorot_sigma(3, 5) == pytest.approx(0.5, rel=1e-15)
    d = np.arange(1, 50)
    np.testing.assert_allclose(hessian_sigma(d, 2 * d), 1 / (np.sqrt(d) + np.sqrt(2 * d)))


def test_remark3_ratio_range():
    """hessian/glorot = sqrt((a+b)/2)/(sqrt a + sqrt b) is in [1/2, 1/sqrt 2), not [1/sqrt2, 1]."""
    a = np.arange(1, 400)[:, None]
    b = np.arange(1, 400)[None, :]
    ratio = hessian_glorot_ratio(a, b)
    np.testing.assert_allclose(ratio, hessian_sigma(a, b) / glorot_sigma(a, b), rtol=1e-14)
    assert ratio.min() == pytest.approx(0.5, rel=1e-15)           # attained on a == b
    assert np.all(np.diag(ratio) == 0.5)
    assert ratio.max() < 2 ** -0.5
    assert hessian_glorot_ratio(1, 10 ** 12) == pytest.approx(2 ** -0.5, rel=1e-5)
    # the paper's claim "between 1 and 1/sqrt(2)" fails for every shape
    assert np.all(ratio < 2 ** -0.5)


# --------------------------------------------------------------------------- Tracy-Widom
def test_tw1_moments_match_published():
    mean, variance = hessian.tw1_moments()
    assert mean == pytest.approx(-1.2065335745820, abs=1e-11)
    assert variance == pytest.approx(1.6077810345810, abs=1e-10)


def test_tw1_cdf_known_value():
    # F_1(-1.2065...) region sanity and limits
    values = _spectral_norm.tw1_cdf(np.array([-10.0, 0.0, 8.0]))
    assert values[0] < 1e-20 and values[2] == pytest.approx(1, abs=1e-7)
    assert values[1] == pytest.approx(0.8319080662029, abs=1e-9)   # Bornemann's table


# --------------------------------------------------------------------------- exact
def test_exact_closed_forms():
    assert expected_norm(1, 1) == pytest.approx(math.sqrt(2 / math.pi), rel=1e-15)
    assert expected_norm(1, 2) == pytest.approx(math.sqrt(math.pi / 2), rel=1e-15)
    assert expected_norm(2, 2) == pytest.approx(math.sqrt(math.pi), rel=1e-14)


@pytest.mark.parametrize("n, p", [(2, 2), (3, 2), (10, 2), (100, 2), (3, 3), (9, 5), (8, 8),
                                  (40, 10), (1000, 3), (33, 17)])
def test_float64_pfaffian_matches_independent_mpmath_route(n, p):
    """Orthonormal-Laguerre float64 route vs the monomial-basis mpmath route (20 + 3p
    digits, different basis, different quadrature) and, for p = 2, the 2F1 closed form."""
    reference = _wishart_reference.p2_closed_form(n) if p == 2 else \
        _wishart_reference.monomial_pfaffian(n, p)
    assert expected_norm(n, p) == pytest.approx(reference, rel=3e-15)


def test_float64_pfaffian_at_p64_against_recorded_mpmath_value():
    """_wishart_reference.monomial_pfaffian(64, 64) took 35 s at 212 digits (2026-11-25)."""
    assert expected_norm(64, 64) == pytest.approx(15.555151790907349, rel=5e-15)
    assert expected_norm(100, 40) == pytest.approx(15.873073109872452, rel=5e-15)


@pytest.mark.parametrize("n, p", [(64, 64), (1000, 64), (10 ** 5, 7), (128, 128)])
def test_exact_converged_in_nodes(n, p, monkeypatch):
    """More inner nodes per panel and a wider margin change nothing beyond rounding."""
    base = _spectral_norm.exact_norm.__wrapped__(n, p)
    monkeypatch.setattr(_spectral_norm, "_INNER_NODES", ((10 ** 9, 32),))
    monkeypatch.setattr(_spectral_norm, "_MARGIN", 11.0)
    assert _spectral_norm.exact_norm.__wrapped__(n, p) == pytest.approx(base, rel=5e-14)


def test_pfaffian_route_reduces_to_chi_for_one_column():
    n = np.array([1, 4, 50, 10 ** 6])
    np.testing.assert_allclose(expected_norm(n, 1), _spectral_norm.chi_mean(n), rtol=1e-15)


def test_p2_closed_form_against_high_precision_quadrature():
    n = 7
    a = mpmath.mpf(n - 3) / 2
    with mpmath.workdps(30):
        inner = lambda l1: mpmath.quad(lambda l2: (l1 * l2) ** a * mpmath.exp(-(l1 + l2) / 2)
                                       * (l1 - l2), [0, l1])
        num = mpmath.quad(lambda l1: mpmath.sqrt(l1) * inner(l1), [0, 10, mpmath.inf])
        den = mpmath.quad(inner, [0, 10, mpmath.inf])
    assert _wishart_reference.p2_closed_form(n) == pytest.approx(float(num / den), rel=1e-12)


@pytest.mark.parametrize("d_in, d_out", SMALL + [(16, 12), (40, 24)])
def test_exact_against_monte_carlo(d_in, d_out):
    rng = np.random.default_rng(12345 + 100 * d_in + d_out)
    samples = 20000
    norms = np.linalg.norm(rng.standard_normal((samples, d_out, d_in)), ord=2, axis=(1, 2))
    error = norms.std(ddof=1) / math.sqrt(samples)
    assert abs(expected_norm(d_in, d_out) - norms.mean()) < 4.5 * error


# --------------------------------------------------------------------------- properties
@pytest.mark.parametrize("method", ["exact", "tracy-widom"])
def test_gordon_inequality(method):
    pairs = SMALL + [(64, 8), (100, 2), (1000, 1)] + (
        [(64, 64), (4096, 1000)] if method == "tracy-widom" else [])
    for d_in, d_out in pairs:
        value = expected_norm(d_in, d_out, method=method)
        assert value <= math.sqrt(d_in) + math.sqrt(d_out)
        assert hessian_sigma(d_in, d_out, method=method) >= hessian_sigma(d_in, d_out)


@pytest.mark.parametrize("method", ["gordon", "tracy-widom", "exact"])
def test_symmetry_and_broadcasting(method):
    a = np.array([1, 2, 3, 5, 8])[:, None]
    b = np.array([1, 2, 4])[None, :]
    x = hessian_sigma(a, b, method=method)
    assert x.shape == (5, 3)
    np.testing.assert_array_equal(x, hessian_sigma(b, a, method=method))


@pytest.mark.parametrize("method", ["gordon", "tracy-widom", "exact"])
def test_monotone_decreasing_in_each_width(method):
    top = 12 if method == "exact" else 200
    d = np.arange(1, top + 1)
    for fixed in (1, 2, 3, 6):
        sig = hessian_sigma(d, fixed, method=method)
        assert np.all(np.diff(sig) < 0)


def test_tracy_widom_accuracy_against_exact():
    """Relative error of TW vs exact: large at min(d) = 1, 2, small once both grow."""
    rel = lambda n, p: abs(expected_norm(n, p, method="tracy-widom")
                           / expected_norm(n, p) - 1)
    assert rel(1, 1) < 0.35
    assert rel(8, 8) < 0.015
    assert rel(64, 64) < 6e-4
    assert rel(64, 8) < 0.002
    assert rel(1000, 1) < 1e-3
    assert rel(100, 2) < 2e-3


def test_scalar_and_array_types():
    assert isinstance(hessian_sigma(3, 4, method="exact"), float)
    assert isinstance(hessian_sigma(3, 4, method="tracy-widom"), float)
    assert hessian_sigma([3], 4).shape == (1,)


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("function", [hessian_sigma, glorot_sigma, hessian_glorot_ratio,
                                      expected_norm])
@pytest.mark.parametrize("bad", [0, -3, 2.5, float("nan"), "8", True])
def test_bad_widths(function, bad):
    with pytest.raises(ValueError, match="d_in"):
        function(bad, 4)
    with pytest.raises(ValueError, match="d_out"):
        function(4, bad)


def test_bad_method_and_exact_range():
    with pytest.raises(ValueError, match="method"):
        hessian_sigma(3, 3, method="edelman")
    with pytest.raises(ValueError, match="min\\(d_in, d_out\\)"):
        hessian_sigma(200, hessian.EXACT_MAX_MIN_WIDTH + 1, method="exact")


# --------------------------------------------------------------------------- slopes
def _relu_layer_norms(d_in, d_out, a, samples, seed):
    """||D W|| with D the slopes at a random input of an actual layer (not independent)."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((samples, d_out, d_in))
    x = rng.standard_normal((samples, d_in, 1))
    slopes = np.where((w @ x)[..., 0] > 0, 1.0, a)
    return np.linalg.norm(slopes[..., None] * w, ord=2, axis=(1, 2))


@pytest.mark.parametrize("d_in, d_out, a", [(8, 8, 0.0), (20, 6, 0.0), (6, 20, 0.0),
                                            (1, 9, 0.3), (7, 1, 0.2), (1, 5, 0.0)])
def test_exact_with_slope_against_monte_carlo(d_in, d_out, a):
    norms = _relu_layer_norms(d_in, d_out, a, 20000, 7 * d_in + d_out)
    error = norms.std(ddof=1) / math.sqrt(norms.size)
    z = (expected_norm(d_in, d_out, a=a) - norms.mean()) / error
    assert abs(z) < 4.5
    # negative control: the linear-layer value is rejected for the ReLU layer
    if d_in > 1 and d_out > 1:
        assert abs((expected_norm(d_in, d_out) - norms.mean()) / error) > 20


@pytest.mark.parametrize("d_in, d_out, rel", [(64, 64, 0.003), (32, 64, 0.003), (20, 6, 0.015),
                                              (6, 20, 0.015)])
def test_tracy_widom_with_slope_error_is_small(d_in, d_out, rel):
    """El Karoui's two-level edge: within 0.3% of simulation for intermediate slopes at
    widths 32-64 (standard error 0.03%), 1.5% at widths 6-20 (standard error 0.1%)."""
    norms = _relu_layer_norms(d_in, d_out, 0.3, 10000, 99 + d_in)
    assert expected_norm(d_in, d_out, a=0.3, method="tracy-widom") == pytest.approx(
        norms.mean(), rel=rel)


def test_slope_limits_and_closed_forms():
    # a = 1 is the linear layer; a = None too
    assert expected_norm(9, 4, a=1.0) == expected_norm(9, 4)
    # d_out = 1: the single slope multiplies chi_{d_in}
    assert expected_norm(5, 1, a=0.3) == pytest.approx(0.65 * expected_norm(5, 1), rel=1e-15)
    # d_in = 1 quadrature route against the ReLU binomial mixture of chi means
    k = np.arange(1, 8)
    relu = float(binom.pmf(k, 7, 0.5) @ _spectral_norm.chi_mean(k))
    assert expected_norm(1, 7, a=0.0) == pytest.approx(relu, rel=1e-12)
    assert hessian._column_norm(7, 1.0) == pytest.approx(expected_norm(1, 7), rel=1e-12)
    # ReLU binomial mixture of exact values: d_out = 2 by hand
    by_hand = 0.5 * expected_norm(6, 1) + 0.25 * expected_norm(6, 2)
    assert expected_norm(6, 2, a=0.0) == pytest.approx(by_hand, rel=1e-14)


@pytest.mark.parametrize("method", ["gordon", "tracy-widom", "exact"])
def test_monotone_in_slope_and_chevet_bound(method):
    slopes = [0.0, 1.0] if method == "exact" else [0.0, 0.01, 0.2, 0.5, 0.9, 1.0]
    for d_in, d_out in [(1, 6), (5, 1), (12, 12), (30, 8)]:
        values = [expected_norm(d_in, d_out, a=a, method=method) for a in slopes]
        assert np.all(np.diff(values) > 0)
        bounds = [expected_norm(d_in, d_out, a=a, method="gordon") for a in slopes]
        assert np.all(np.array(values) <= np.array(bounds) + 1e-12)


def test_slope_broadcasting_and_validation():
    values = hessian_sigma([8, 16], 8, a=[[0.0], [0.3]], method="tracy-widom")
    assert values.shape == (2, 2)
    assert values[0, 1] == hessian_sigma(16, 8, a=0.0, method="tracy-widom")
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="a must"):
            hessian_sigma(8, 8, a=bad)
    with pytest.raises(ValueError, match="0 < a < 1"):
        hessian_sigma(8, 8, a=0.3, method="exact")


@settings(max_examples=40, deadline=None)
@given(d_in=st.integers(1, 40), d_out=st.integers(1, 40), extra=st.integers(1, 8))
def test_exact_properties_on_random_shapes(d_in, d_out, extra):
    """Gordon's inequality, symmetry, monotonicity in each width and the lower bound by
    the longer side's column norm (||G|| >= ||G e_1|| = chi_n), on random shapes."""
    value = expected_norm(d_in, d_out)
    assert value <= math.sqrt(d_in) + math.sqrt(d_out)
    assert value == expected_norm(d_out, d_in)
    assert expected_norm(d_in + extra, d_out) > value
    assert value >= float(_spectral_norm.chi_mean(max(d_in, d_out))) * (1 - 1e-14)

"""Tests of initmath.hessian: Gordon / Tracy-Widom / exact spectral-norm initialization."""
import doctest
import math

import mpmath
import numpy as np
import pytest

from initmath import hessian
from initmath.hessian import (expected_norm, glorot_sigma, hessian_glorot_ratio,
                              hessian_sigma)

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
    values = hessian._tw1_cdf(np.array([-10.0, 0.0, 8.0]))
    assert values[0] < 1e-20 and values[2] == pytest.approx(1, abs=1e-7)
    assert values[1] == pytest.approx(0.8319080662029, abs=1e-9)   # Bornemann's table


# --------------------------------------------------------------------------- exact
def test_exact_closed_forms():
    assert expected_norm(1, 1) == pytest.approx(math.sqrt(2 / math.pi), rel=1e-15)
    assert expected_norm(1, 2) == pytest.approx(math.sqrt(math.pi / 2), rel=1e-15)
    assert expected_norm(2, 2) == pytest.approx(math.sqrt(math.pi), rel=1e-14)


@pytest.mark.parametrize("n", [2, 3, 10, 100])
def test_pfaffian_route_matches_closed_form_p2(n):
    assert hessian._exact_general(n, 2) == pytest.approx(hessian._exact_p2(n), rel=1e-13)


@pytest.mark.parametrize("n", [1, 4, 50])
def test_pfaffian_route_matches_chi_p1(n):
    assert hessian._exact_general(n, 1) == pytest.approx(
        float(hessian._exact_p1(np.array(n))), rel=1e-13)


@pytest.mark.parametrize("n, p", [(3, 3), (9, 5), (8, 8), (40, 10), (1000, 3)])
def test_exact_stable_in_precision(n, p):
    base = hessian._exact_general(n, p)
    assert hessian._exact_general(n, p, 40) == pytest.approx(base, rel=1e-14)


def test_p2_closed_form_against_high_precision_quadrature():
    n = 7
    a = mpmath.mpf(n - 3) / 2
    with mpmath.workdps(30):
        inner = lambda l1: mpmath.quad(lambda l2: (l1 * l2) ** a * mpmath.exp(-(l1 + l2) / 2)
                                       * (l1 - l2), [0, l1])
        num = mpmath.quad(lambda l1: mpmath.sqrt(l1) * inner(l1), [0, 10, mpmath.inf])
        den = mpmath.quad(inner, [0, 10, mpmath.inf])
    assert hessian._exact_p2(n) == pytest.approx(float(num / den), rel=1e-12)


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
        hessian_sigma(100, hessian.EXACT_MAX_MIN_WIDTH + 1, method="exact")

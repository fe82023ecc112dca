"""Exact Wishart trace moments: closed forms, an independent Wick enumerator, Monte Carlo,
the Marchenko-Pastur limit and argument checks."""
import math
import time
from collections import Counter
from fractions import Fraction

import numpy as np
import pytest
import sympy

from initmath import wishart
from initmath.wishart import (
    marchenko_pastur_moment,
    wishart_mixed_moment,
    wishart_spectral_moment,
    wishart_trace_moment,
    wishart_trace_moment_latex,
)

M, N, S2, C = sympy.symbols("m n s2 c")


# ------------------------------------------------------------------ Wick enumerator
def _trace_factors(ks):
    """Entries W[row, col] of tr S^k1 ... tr S^kr as (row variable, column variable):
    tr (W W^T)^k = sum W[i1, j1] W[i2, j1] W[i2, j2] W[i3, j2] ... W[i1, jk]."""
    factors, offset = [], 0
    for k in ks:
        for r in range(k):
            factors += [(offset + r, offset + r), (offset + (r + 1) % k, offset + r)]
        offset += k
    return factors, offset


def _classes(parent_pairs, size):
    parent = list(range(size))

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x
    for a, b in parent_pairs:
        parent[find(a)] = find(b)
    return len({find(x) for x in range(size)})


def _pairings(items):
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for position, partner in enumerate(rest):
        for tail in _pairings(rest[:position] + rest[position + 1:]):
            yield [(first, partner)] + tail


def wick_moment(ks):
    """E[prod tr S^k_i] at unit variance by Isserlis: sum over the (2k-1)!! pairings of the
    2k entries; a pairing forces equal rows and equal columns and contributes
    m^(#row classes) n^(#column classes)."""
    factors, size = _trace_factors(ks)
    counts = Counter()
    for pairing in _pairings(list(range(len(factors)))):
        rows = _classes([(factors[a][0], factors[b][0]) for a, b in pairing], size)
        cols = _classes([(factors[a][1], factors[b][1]) for a, b in pairing], size)
        counts[rows, cols] += 1
    return sympy.Add(*(c * M ** i * N ** j for (i, j), c in counts.items()))


def narayana(k, j):
    return math.comb(k, j) * math.comb(k, j - 1) // k


# ------------------------------------------------------------------ closed forms
def test_first_two_moments():
    assert wishart_trace_moment(1, M, N, S2) == M * N * S2
    assert sympy.expand(wishart_trace_moment(2, M, N, S2) - M * N * (M + N + 1) * S2 ** 2) == 0
    assert wishart_trace_moment(2, "m", "n") == sympy.expand(M * N * (M + N + 1))


def test_third_moment_closed_form():
    expected = M * N * (M ** 2 + N ** 2 + 3 * M * N + 3 * M + 3 * N + 4)
    assert sympy.expand(wishart_trace_moment(3, M, N) - expected) == 0


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 6])
def test_wick_enumerator_agrees(k):
    assert sympy.expand(wishart_trace_moment(k, M, N) - wick_moment([k])) == 0


@pytest.mark.parametrize("ks", [(1, 1), (2, 1), (1, 1, 1), (2, 2), (3, 1), (2, 1, 1),
                                (1, 1, 1, 1), (3, 2), (4, 1), (2, 2, 1), (3, 3), (4, 2),
                                (2, 2, 2), (3, 2, 1), (2, 1, 1, 1, 1)])
def test_wick_enumerator_agrees_mixed(ks):
    assert sympy.expand(wishart_mixed_moment(ks, M, N) - wick_moment(ks)) == 0


@pytest.mark.parametrize("k", [1, 2, 5, 10, 15])
def test_symmetric_in_m_and_n_with_integer_coefficients(k):
    poly = sympy.Poly(wishart_trace_moment(k, M, N), M, N)
    assert poly == sympy.Poly(wishart_trace_moment(k, N, M), M, N)
    assert poly.total_degree() == k + 1
    assert all(c.is_Integer and c > 0 for c in poly.coeffs())


@pytest.mark.parametrize("k", [1, 4, 7, 12])
def test_integer_and_rational_arguments_match_the_polynomial(k):
    poly = wishart_trace_moment(k, M, N, S2)
    value = wishart_trace_moment(k, 3, 5, Fraction(2, 3))
    assert value == poly.subs({M: 3, N: 5, S2: sympy.Rational(2, 3)})
    assert wishart_trace_moment(k, 4.0, 2) == poly.subs({M: 4, N: 2, S2: 1})
    assert wishart_trace_moment(k, 3, "n").subs(N, 7) == wishart_trace_moment(k, 3, 7)


def test_float_variance_gives_a_float():
    value = wishart_trace_moment(2, 2, 3, 0.5)
    assert isinstance(value, sympy.Float) and value == 2 * 3 * 6 * 0.25


# ------------------------------------------------------------------ zonal machinery
@pytest.mark.parametrize("k", range(1, 13))
def test_triangular_solve_matches_closed_form_for_a_single_power(k):
    """Stanley's closed form for the p_k coefficients against the general Jack table."""
    assert wishart._power_sum_weights((k,)) == wishart._single_power_weights(k)


@pytest.mark.parametrize("k", [2, 5, 8, 12])
def test_power_of_trace_is_chi_square_moment(k):
    """tr S / sigma^2 ~ chi^2_{mn}: E (tr S)^k = prod_{i<k} (mn + 2i) sigma^(2k)."""
    expected = S2 ** k * sympy.prod([M * N + 2 * i for i in range(k)])
    assert sympy.expand(wishart_mixed_moment([1] * k, M, N, S2) - expected) == 0


@pytest.mark.parametrize("k", [1, 3, 6, 10])
def test_trace_times_power_by_homogeneity(k):
    """E[|W|^2 f(W)] = (mn + 2k) E f for f homogeneous of degree 2k (unit variance)."""
    lhs = wishart_mixed_moment([1, k], M, N)
    assert sympy.expand(lhs - (M * N + 2 * k) * wishart_trace_moment(k, M, N)) == 0


def test_variance_of_trace():
    """Var tr S = 2 mn sigma^4."""
    mean = wishart_trace_moment(1, M, N, S2)
    assert sympy.expand(wishart_mixed_moment([1, 1], M, N, S2) - mean ** 2
                        - 2 * M * N * S2 ** 2) == 0


def test_mixed_order_does_not_matter():
    assert wishart_mixed_moment([1, 3, 2], M, N) == wishart_mixed_moment((3, 2, 1), M, N)
    assert wishart_mixed_moment([4], 3, 5) == wishart_trace_moment(4, 3, 5)


def test_zonal_expansion_of_trace_power_sums_to_one_per_partition():
    """(tr X)^k = sum_lambda C_lambda(X): the coefficient of J_lambda is 2^k k! / j_lambda."""
    for k in (4, 9):
        weights = wishart._power_sum_weights((1,) * k)
        assert weights == {lam: Fraction(2 ** k * math.factorial(k), wishart._hook_norm(lam))
                           for lam in wishart._partitions(k)}


# ------------------------------------------------------------------ Monte Carlo
def test_monte_carlo():
    m, n, sigma2, samples = 3, 4, 0.7, 100_000
    rng = np.random.default_rng(20240531)
    w = rng.normal(scale=math.sqrt(sigma2), size=(samples, m, n))
    s = w @ w.transpose(0, 2, 1)
    powers = [s, s @ s, s @ s @ s]
    traces = [np.trace(p, axis1=1, axis2=2) for p in powers]
    exact_sigma2 = sympy.Rational(7, 10)
    for k, t in enumerate(traces, start=1):
        exact = float(wishart_trace_moment(k, m, n, exact_sigma2))
        assert abs(t.mean() - exact) < 5 * t.std() / math.sqrt(samples), k
    product = traces[0] * traces[1]
    exact = float(wishart_mixed_moment([1, 2], m, n, exact_sigma2))
    assert abs(product.mean() - exact) < 5 * product.std() / math.sqrt(samples)


# ------------------------------------------------------------------ large-dimension limit
@pytest.mark.parametrize("k", [1, 2, 3, 6, 12])
def test_leading_terms_are_narayana(k):
    poly = sympy.Poly(wishart_trace_moment(k, M, N), M, N)
    top = {monomial: c for monomial, c in poly.terms() if sum(monomial) == k + 1}
    assert top == {(j, k + 1 - j): narayana(k, j) for j in range(1, k + 1)}


@pytest.mark.parametrize("k", [1, 2, 4, 7])
def test_spectral_moment_tends_to_marchenko_pastur(k):
    spectral = wishart_spectral_moment(k, C * N, N)
    assert sympy.limit(spectral, N, sympy.oo) == marchenko_pastur_moment(k, C)
    assert wishart_spectral_moment(k, 6, 10) == wishart_trace_moment(k, 6, 10) / (6 * 10 ** k)


def test_marchenko_pastur_values():
    assert [marchenko_pastur_moment(k, 1) for k in range(1, 8)] == [1, 2, 5, 14, 42, 132, 429]
    assert marchenko_pastur_moment(5, 0) == 1
    assert marchenko_pastur_moment(2, Fraction(1, 2)) == sympy.Rational(3, 2)


# ------------------------------------------------------------------ LaTeX and speed
def test_latex_table():
    assert wishart_trace_moment_latex(1) == r"m n \sigma^{2}"
    assert wishart_trace_moment_latex(2) == r"\sigma^{4} \left(m^{2} n + m n^{2} + m n\right)"
    for k in range(3, 9):
        text = wishart_trace_moment_latex(k)
        assert text.startswith(rf"\sigma^{{{2 * k}}} \left(") and f"m^{{{k}}} n" in text


def test_cold_timings():
    for cached in (wishart._partitions, wishart._moment_coefficients):
        cached.cache_clear()
    for k, limit in ((10, 0.5), (20, 10.0)):
        start = time.perf_counter()
        wishart_trace_moment(k, M, N)
        assert time.perf_counter() - start < limit


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("k", [0, -1, 41, 2.0, 1.5, True, float("nan"), "2", None])
def test_bad_order(k):
    with pytest.raises(ValueError, match="k must be an integer in"):
        wishart_trace_moment(k, 2, 3)
    with pytest.raises(ValueError, match="k must be an integer in"):
        marchenko_pastur_moment(k, 1)


@pytest.mark.parametrize("bad", [0, -2, 2.5, float("inf"), float("nan"), True, "m n", "2",
                                 None, sympy.Symbol("x", negative=True)])
def test_bad_dimensions(bad):
    with pytest.raises(ValueError, match="^m "):
        wishart_trace_moment(2, bad, 3)
    with pytest.raises(ValueError, match="^n "):
        wishart_spectral_moment(2, 3, bad)


@pytest.mark.parametrize("bad", [0, -1.0, float("inf"), float("nan"), True, "1", None,
                                 sympy.Symbol("x", negative=True)])
def test_bad_variance(bad):
    with pytest.raises(ValueError, match="^sigma2 "):
        wishart_trace_moment(2, 3, 4, bad)


@pytest.mark.parametrize("bad", [-0.5, float("nan"), float("inf"), True, "1/2"])
def test_bad_ratio(bad):
    with pytest.raises(ValueError, match="^ratio "):
        marchenko_pastur_moment(3, bad)


@pytest.mark.parametrize("ks", [[], 3, "12", [1, 0], [2, 1.0], [20, 5], [True]])
def test_bad_mixed_orders(ks):
    with pytest.raises(ValueError, match="^ks"):
        wishart_mixed_moment(ks, 2, 3)

"""Fuzz tests of initmath.ldlt and initmath.wishart (issue 13): every call ends in a finite
value or a one-line ValueError naming an argument, within the budget; an oracle layer
(mpmath / exact closed forms against the float64 and sympy results, edges included) and the
reproducers.

CI: ~15 s.  Hunting: ``INITMATH_FUZZ=long python -m pytest tests/test_fuzz_ldlt_wishart.py``."""
import math
import time
from fractions import Fraction

import mpmath
import numpy as np
import pytest
import sympy
from _fuzz import (
    NOT_A_NUMBER,
    arrays,
    beyond_integers,
    beyond_reals,
    examples,
    fuzz,
    integers,
    maybe_beyond,
    reals,
)
from hypothesis import example, given
from hypothesis import strategies as st

from initmath import ldlt, wishart
from initmath.wishart import wishart_trace_moment

BIG = 1e308          # reals(0, sys.float_info.max) overflows in _fuzz's log-uniform part
POSITIVE = reals(0, BIG, low_open=True)
NOT_POSITIVE = beyond_reals(0, BIG, low_open=True)
# widths: mostly small (each exact evaluation costs O(p (sqrt p + sqrt q)^2)), sometimes
# anywhere up to the limit 2**53, and the ends
WIDTH = st.one_of(st.integers(1, 12), st.integers(1, 12), st.integers(1, 300),
                  st.sampled_from([1, 2, 2 ** 53, 2 ** 53 - 1, 10 ** 5, 8192, 8193]),
                  integers(1, 2 ** 53))
SIGMA = st.one_of(reals(1e-3, 1e3), POSITIVE)
LDLT_NAMES = ("m", "n", "sigma", "alpha", "gamma", "method", "target")


def _scalar(*values):
    return all(np.ndim(v) == 0 and isinstance(v, (int, float)) and not isinstance(v, bool)
               for v in values)


def _mp(x):
    if isinstance(x, mpmath.mpf):
        return +x
    return mpmath.mpf(int(x)) if isinstance(x, int) else mpmath.mpf(float(x))


# --------------------------------------------------------------------------- references
def _chi2_reference(q, a):
    """E[X/(X + a)], X ~ chi^2_q, at 30 digits: int_0^inf q e^{-as} (1 + 2s)^{-q/2-1} ds."""
    with mpmath.workdps(30):
        q, a = _mp(q), _mp(a)
        if a < q:     # the deficit a E[1/(X + a)] = int_0^inf e^{-t} (1 + 2t/a)^{-q/2} dt
            f = lambda t: mpmath.exp(-t - q / 2 * mpmath.log1p(2 * t / a))
            s = a / q
            points = sorted({mpmath.mpf(0), s, 10 * s, 100 * s, min(a, 1), mpmath.mpf(1),
                             mpmath.mpf(40)}) + [mpmath.inf]
            return 1 - mpmath.quad(f, points)
        f = lambda u: q * mpmath.exp(-a * u - (q / 2 + 1) * mpmath.log1p(2 * u))
        scale = 1 / (a + q)
        return mpmath.quad(f, [0, scale, 10 * scale, 100 * scale, mpmath.inf])


def _mp_reference(m, n, sigma, alpha):
    """Marchenko-Pastur 1 - b g(-b) at enough digits for any b = alpha/(sigma^2 n)."""
    b0 = _mp(alpha) / (_mp(sigma) ** 2 * n)
    with mpmath.workdps(int(60 + 2 * abs(mpmath.log10(b0)))):
        y, b = _mp(m) / n, _mp(alpha) / (_mp(sigma) ** 2 * n)
        disc = mpmath.sqrt((1 - y + b) ** 2 + 4 * y * b)
        return 1 - (disc - (1 - y + b)) / (2 * y)


def _series_reference(m, n, sigma, alpha, terms=6):
    """sum_k (-1)^(k-1) E tr S^k (sigma^2/alpha)^k / m, exact moments, at 40 digits."""
    with mpmath.workdps(40):
        s2 = _mp(sigma) ** 2 / _mp(alpha)
        return sum((-1) ** (k - 1) * mpmath.mpf(int(wishart_trace_moment(k, m, n))) * s2 ** k
                   for k in range(1, terms + 1)) / m


def _check_variance(m, n, sigma, alpha, gamma, method):
    def check(result):
        if not _scalar(m, n, sigma, alpha, gamma):
            top = np.broadcast_to(np.square(gamma), np.shape(result))
            if np.any(np.asarray(result) < 0) or np.any(np.asarray(result) > top * 1.000001):
                return f"{result!r} outside [0, gamma**2]"
            return None
        m_, n_, p, q = int(m), int(n), min(int(m), int(n)), max(int(m), int(n))
        g2 = _mp(gamma) ** 2
        if not 0 <= result <= float(g2 * p / m_) * (1 + 1e-12) + 1e-300:
            return f"{result!r} outside [0, gamma**2 min(m,n)/m]"
        want, rel = None, 1e-10
        a = _mp(alpha) / _mp(sigma) ** 2
        if method == "asymptotic":
            want = g2 * _mp_reference(m_, n_, sigma, alpha)
        elif method == "series" and q / a < 1e-2:    # the documented 3-term series
            want, rel = g2 * _series_reference(m_, n_, sigma, alpha, terms=3), 1e-13
        elif method == "exact" and q / a < 1e-3:      # 8 terms: exact to ~1e-21
            want, rel = g2 * _series_reference(m_, n_, sigma, alpha, terms=8), 1e-13
        elif method == "exact" and a < 1e-30:
            want = g2 * p / m_
        elif method == "exact" and p == 1 and q <= 10 ** 9:
            want = g2 * _chi2_reference(q, a) / m_
        if want is not None and abs(mpmath.mpf(float(result)) - want) > rel * abs(want) + 1e-320:
            return f"{result!r} != {mpmath.nstr(want, 17)}"
    return check


# --------------------------------------------------------------------------- ldlt
@examples(250)
@given(m=maybe_beyond(WIDTH, beyond_integers()), n=maybe_beyond(WIDTH, beyond_integers()),
       sigma=st.one_of(maybe_beyond(SIGMA, NOT_POSITIVE), arrays(SIGMA, 3)),
       alpha=maybe_beyond(st.one_of(reals(1e-3, 1e3), POSITIVE), NOT_POSITIVE),
       gamma=maybe_beyond(st.one_of(st.just(1.0), reals(-BIG, BIG)),
                          st.one_of(NOT_A_NUMBER, st.just(math.nan))),
       method=st.one_of(st.sampled_from(["exact", "exact", "series", "asymptotic",
                                         "large_sigma"]), st.sampled_from(["auto", 1, None])))
@example(m=8, n=12, sigma=1e-300, alpha=1.0, gamma=1.0, method="exact")
@example(m=8, n=12, sigma=1e-160, alpha=1e-300, gamma=1.0, method="exact")
@example(m=10 ** 5, n=10 ** 5, sigma=0.003, alpha=1.0, gamma=1.0, method="exact")
@example(m=1, n=2 ** 53, sigma=1.0, alpha=1.0, gamma=1.0, method="exact")
@example(m=8, n=8, sigma=1e200, alpha=1.0, gamma=1e300, method="exact")
@example(m=3, n=7, sigma=5e-324, alpha=5e-324, gamma=1.0, method="asymptotic")
@example(m=2 ** 53, n=1, sigma=1e-300, alpha=BIG, gamma=1e300, method="series")
def test_ldlt_output_variance(m, n, sigma, alpha, gamma, method):
    fuzz(ldlt.ldlt_output_variance, m, n, sigma, alpha, gamma, method=method, names=LDLT_NAMES,
         check=_check_variance(m, n, sigma, alpha, gamma, method))


@examples(40)
@given(m=st.integers(1, 16), n=st.integers(1, 16), fraction=reals(0, 1, low_open=True,
                                                                  high_open=True),
       alpha=st.one_of(reals(1e-3, 1e3), POSITIVE), gamma=reals(-1e200, 1e200))
@example(m=1, n=1, fraction=5e-324, alpha=1.0, gamma=-1e200)   # target/gamma**2 subnormal
def test_ldlt_sigma_for_variance_round_trip(m, n, fraction, alpha, gamma):
    target = fraction * gamma * gamma * min(m, n) / m
    outcome, sigma = fuzz(ldlt.ldlt_sigma_for_variance, target, m, n, alpha, gamma,
                          names=LDLT_NAMES)
    if outcome == "value":
        got = ldlt.ldlt_output_variance(m, n, sigma, alpha, gamma)
        assert got == pytest.approx(target, rel=1e-8)


@examples(100)
@given(target=maybe_beyond(POSITIVE, NOT_POSITIVE),
       m=maybe_beyond(WIDTH, st.one_of(beyond_integers(), arrays(st.integers(1, 4)))),
       n=maybe_beyond(WIDTH, beyond_integers()),
       alpha=maybe_beyond(POSITIVE, st.one_of(NOT_POSITIVE, arrays(POSITIVE))),
       gamma=maybe_beyond(reals(-BIG, BIG), NOT_A_NUMBER))
@example(target=0.5, m=[4, 4], n=4, alpha=1.0, gamma=1.0)
@example(target=0.5, m=10 ** 5, n=10 ** 5, alpha=1.0, gamma=1.0)
@example(target=1e-300, m=4, n=4, alpha=1.0, gamma=1e200)
def test_ldlt_sigma_for_variance(target, m, n, alpha, gamma):
    fuzz(ldlt.ldlt_sigma_for_variance, target, m, n, alpha, gamma, names=LDLT_NAMES)


@examples(150)
@given(m=maybe_beyond(st.one_of(WIDTH, arrays(WIDTH)), beyond_integers()),
       n=maybe_beyond(WIDTH, beyond_integers()), alpha=maybe_beyond(POSITIVE, NOT_POSITIVE))
@example(m=0, n=0, alpha=1.0)
@example(m=2 ** 53, n=2 ** 53, alpha=5e-324)
def test_ldlt_series_radius(m, n, alpha):
    def check(result):
        if _scalar(m, n, alpha):
            with mpmath.workdps(40):
                want = _mp(alpha) / (mpmath.sqrt(m) + mpmath.sqrt(n)) ** 2
            if abs(mpmath.mpf(result) - want) > 1e-15 * want + 1e-323:
                return f"{result!r} != {mpmath.nstr(want, 17)}"
    fuzz(ldlt.ldlt_series_radius, m, n, alpha, names=("m", "n", "alpha"), check=check)


def test_ldlt_work_is_bounded_up_front():
    """The largest exact case allowed runs well inside the budget; beyond it, and for big
    arrays of expensive elements, a ValueError comes at once, naming what to do."""
    start = time.perf_counter()
    with pytest.raises(ValueError, match="method='asymptotic'"):
        ldlt.ldlt_output_variance(10 ** 5, 10 ** 5, 0.003)
    with pytest.raises(ValueError, match="m, n"):
        ldlt.ldlt_output_variance(8192, 8192, np.full(100, 0.01))
    with pytest.raises(ValueError, match="method='asymptotic'"):
        ldlt.ldlt_sigma_for_variance(0.3, 4096, 4096)
    assert time.perf_counter() - start < 0.5
    asymptotic = ldlt.ldlt_output_variance(10 ** 5, 10 ** 5, 0.003, method="asymptotic")
    assert asymptotic == pytest.approx(float(_mp_reference(10 ** 5, 10 ** 5, 0.003, 1.0)),
                                       rel=1e-14)


# --------------------------------------------------------------------------- wishart
M, N, S2 = sympy.symbols("m n s2", positive=True)
DIM = st.one_of(st.integers(1, 50), integers(1, 2 ** 53), st.sampled_from(["m", "n", M]))
BAD_DIM = st.one_of(beyond_integers(1, 2 ** 53), st.sampled_from(
    ["m n", "2", sympy.Symbol("x", negative=True), np.array([3, 4]), 1e300]))
VARIANCE = st.one_of(POSITIVE, st.fractions(Fraction(1, 10 ** 6), 10 ** 6).filter(bool),
                     st.sampled_from([1, 10 ** 400, Fraction(1, 10 ** 400), S2, "s"]))
BAD_VARIANCE = st.one_of(NOT_POSITIVE, st.sampled_from([-(10 ** 400), Fraction(-1, 3), 0]))
ORDER = st.one_of(st.integers(1, 12), st.sampled_from([1, 39, 40]))
BAD_ORDER = st.sampled_from([0, -1, 41, 10 ** 400, 2.0, 1.5, True, math.nan, "2", None,
                             np.array([2])])
W_NAMES = ("k", "ks", "m", "n", "sigma2", "ratio")


def _exact(fn):
    """fn with its sympy result wrapped in a sympy Tuple, so the harness judges it by
    sympy's own finiteness (has nan/oo/zoo): an exact Integer beyond 1.8e308 is a correct
    exact value, while the harness's float() of a bare one reads inf (_fuzz.numbers_in)."""
    def call(*args, **kwargs):
        result = fn(*args, **kwargs)
        if isinstance(result, sympy.Float) and not math.isfinite(float(result)):
            return result                     # an inexact result must fit in float64
        return sympy.Tuple(result)
    call.__name__ = fn.__name__
    return call


def _unwrap(check):
    return lambda result: check(result[0] if isinstance(result, sympy.Tuple) else result)


def _same(result, want):
    """Exact equality, or (sympy Floats inside) equal to 1e-12 at sample symbol values."""
    difference = sympy.expand(result - want)
    if difference == 0:
        return True
    values = {symbol: 3 + i for i, symbol in enumerate(sorted(
        (result.free_symbols | want.free_symbols), key=str))}
    r, w = sympy.N(result.subs(values), 30), sympy.N(want.subs(values), 30)
    return bool(abs(r - w) <= sympy.Float(1e-12) * abs(w))      # sympy: no overflow


def _closed_trace(k, m, n, s2):
    """E tr S^k for k <= 3 (closed forms), exact sympy."""
    return s2 ** k * {1: m * n, 2: m * n * (m + n + 1),
                      3: m * n * (m * m + n * n + 3 * m * n + 3 * m + 3 * n + 4)}[k]


def _as_sympy(x):
    if isinstance(x, str):
        return sympy.Symbol(x)
    if isinstance(x, Fraction):
        return sympy.Rational(x.numerator, x.denominator)
    if isinstance(x, float):
        return sympy.Float(x)
    return sympy.sympify(x)


@examples(150)
@given(k=maybe_beyond(ORDER, BAD_ORDER), m=maybe_beyond(DIM, BAD_DIM),
       n=maybe_beyond(DIM, BAD_DIM), sigma2=maybe_beyond(VARIANCE, BAD_VARIANCE))
@example(k=1, m=10 ** 400, n=2, sigma2=1)
@example(k=40, m=2 ** 53, n=2 ** 53, sigma2=BIG)
@example(k=3, m=2 ** 53, n=1, sigma2=5e-324)
def test_wishart_trace_moment(k, m, n, sigma2):
    def check(result):
        if isinstance(k, int) and k <= 3:
            want = _closed_trace(k, _as_sympy(m), _as_sympy(n), _as_sympy(sigma2))
            if not _same(result, want):
                return f"{result} != {want}"
    fuzz(_exact(wishart.wishart_trace_moment), k, m, n, sigma2, names=W_NAMES, check=_unwrap(check))


@examples(60)
@given(ks=maybe_beyond(st.lists(st.integers(1, 4), min_size=1, max_size=4),
                       st.one_of(st.sampled_from([[], 3, "12", [1, 0], [2, 1.0], [20, 5],
                                                  [True], [1] * 30, {"a": 1}, [10 ** 400],
                                                  np.ones((2, 2), dtype=int)]))),
       m=maybe_beyond(DIM, BAD_DIM), n=maybe_beyond(DIM, BAD_DIM),
       sigma2=maybe_beyond(VARIANCE, BAD_VARIANCE))
@example(ks=[12, 12], m=2 ** 53, n=3, sigma2=1)
def test_wishart_mixed_moment(ks, m, n, sigma2):
    def check(result):
        if isinstance(ks, list) and ks and all(k == 1 for k in ks):
            mn, s2 = _as_sympy(m) * _as_sympy(n), _as_sympy(sigma2)
            want = s2 ** len(ks) * sympy.prod([mn + 2 * i for i in range(len(ks))])
            if not _same(result, want):
                return f"{result} != {want}"
    fuzz(_exact(wishart.wishart_mixed_moment), ks, m, n, sigma2, names=W_NAMES,
         check=_unwrap(check))


@examples(80)
@given(k=maybe_beyond(ORDER, BAD_ORDER), m=maybe_beyond(DIM, BAD_DIM), n=maybe_beyond(DIM, BAD_DIM))
def test_wishart_spectral_moment(k, m, n):
    def check(result):
        exact = isinstance(m, int) and isinstance(n, int) and isinstance(k, int)
        if exact and result != (wishart_trace_moment(k, m, n)
                                / (sympy.Integer(m) * sympy.Integer(n) ** k)):
            return f"{result} is not E tr S^k / (m n^k)"

    fuzz(_exact(wishart.wishart_spectral_moment), k, m, n, names=W_NAMES, check=_unwrap(check))


@examples(80)
@given(
    k=maybe_beyond(ORDER, BAD_ORDER),
    ratio=maybe_beyond(st.one_of(reals(0, BIG), VARIANCE), beyond_reals(0, BIG)),
)
@example(k=40, ratio=BIG)
@example(k=3, ratio=0)
def test_marchenko_pastur_moment(k, ratio):
    def check(result):
        if isinstance(k, int) and k <= 3:
            c = _as_sympy(ratio)
            want = {1: sympy.Integer(1), 2: 1 + c, 3: 1 + 3 * c + c * c}[k]
            if not _same(result, want):
                return f"{result} != {want}"

    fuzz(_exact(wishart.marchenko_pastur_moment), k, ratio, names=W_NAMES, check=_unwrap(check))


@examples(30)
@given(k=maybe_beyond(ORDER, BAD_ORDER))
@example(k=40)
def test_wishart_trace_moment_latex(k):
    outcome, text = fuzz(wishart.wishart_trace_moment_latex, k, names=W_NAMES)
    assert outcome == "ValueError" or text.startswith(r"\sigma") or text == r"m n \sigma^{2}"


# --------------------------------------------------------------------------- reproducers
def test_reproducer_ldlt_tiny_sigma_is_exact_not_zero_division():
    """sigma = 1e-300: sigma**2 underflowed, a = alpha/sigma**2 divided by zero.  The value
    is n sigma^2/alpha (1 - ...) = 1.2e-599: 0.0 in float64, correctly rounded; with
    gamma = 1e300 it is representable, 1.2e1 * (1 - 2.1e-599)."""
    assert ldlt.ldlt_output_variance(8, 12, 1e-300) == 0.0
    assert ldlt.ldlt_output_variance(8, 12, 1e-300, gamma=1e300) == pytest.approx(
        float(_series_reference(8, 12, 1e-300, 1.0) * mpmath.mpf(1e300) ** 2), rel=1e-14
    )
    # sigma^2 / alpha = 1e-20 from two numbers whose square underflows: all digits kept
    want = _series_reference(8, 12, 1e-160, 1e-300)
    assert ldlt.ldlt_output_variance(8, 12, 1e-160, 1e-300) == pytest.approx(float(want), rel=1e-14)


def test_reproducer_ldlt_large_widths_answer_at_once():
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"^m, n = 100000, 100000 .*method='asymptotic'"):
        ldlt.ldlt_output_variance(10**5, 10**5, 0.003)
    assert time.perf_counter() - start < 0.1


def test_reproducer_ldlt_series_radius_validates():
    with pytest.raises(ValueError, match="^m must be an integer in"):
        ldlt.ldlt_series_radius(0, 0)
    with pytest.raises(ValueError, match="^alpha "):
        ldlt.ldlt_series_radius(3, 3, -1.0)
    np.testing.assert_allclose(ldlt.ldlt_series_radius([1, 4], 4, 2.0), [2 / 9, 2 / 16])


def test_reproducer_ldlt_large_sigma_and_the_rank_one_case():
    """sigma = 1e200: sigma**2 overflowed (a = 0, ZeroDivisionError in the recurrence);
    the variance is min(m,n)/m to rounding.  m = 1: E[X/(X+a)] by its Laplace transform
    (the old quadrature returned 1.00004 > 1 at n = 1, sigma = 147.7)."""
    assert ldlt.ldlt_output_variance(8, 8, 1e200) == 1.0
    assert ldlt.ldlt_output_variance(8, 4, 1e200) == 0.5
    a = 1 / 147.73776525985127**2
    assert ldlt.ldlt_output_variance(1, 1, 147.73776525985127) == pytest.approx(
        float(_chi2_reference(1, a)), rel=1e-13
    )
    assert float(_chi2_reference(1, a)) == pytest.approx(0.991562252258, rel=1e-11)


def test_reproducer_wishart_huge_dimension_is_a_value_error():
    with pytest.raises(
        ValueError,
        match=r"^m must be an integer in \[1, 2\*\*53\] or a symbol, "
        r"got 10000000\.\.\.\(401 digits\)$",
    ):
        wishart_trace_moment(1, 10**400, 2)
    # the exact result at the limit, and exact huge rational variances, are fine
    assert wishart_trace_moment(1, 2**53, 2, 10**400) == 2**54 * 10**400
    assert wishart_trace_moment(2, 2, 3, Fraction(1, 10**400)) == sympy.Rational(2 * 3 * 6, 10**800)


def test_exact_variance_when_q_is_much_larger_than_p():
    """The last integral was cut at edge + 15 edge^(1/3), truncating psi_{p-1} (spread
    ~sqrt(q - p) when q >> p): 0.5001955 at p = 2, q = 1e5 (Monte Carlo 0.4999959 +- 1.3e-6),
    and 10 s / 10 GB at q = 1e7.  Reference: the 2-D integral over the joint eigenvalue
    density of W_2(q, I), (x y)^((q-3)/2) e^(-(x+y)/2) |x - y|, by scipy nquad in
    u = (x - q)/sqrt(2q) (agrees with the exact route to 1e-11 at q = 300)."""
    q = 10**5
    assert ldlt.ldlt_output_variance(2, q, 1 / math.sqrt(q)) == pytest.approx(
        0.4999962500743343, rel=1e-9
    )
    # at the aspect limit |m - n| = 1e5: the 1/q expansion 1/2 - (p + 1)/(8q) (E f(x) with
    # f(x) = x/(q + x), eigenvalue mean q and variance (p + 1) q), error ~0.3 p^2/q^2
    start = time.perf_counter()
    for p in (2, 8):
        q = 10**5 + p
        value = ldlt.ldlt_output_variance(p, q, 1 / math.sqrt(q))
        assert value == pytest.approx(0.5 - (p + 1) / (8 * q), rel=2e-10 + 0.3 * p * p / q / q)
    assert time.perf_counter() - start < 2
    with pytest.raises(ValueError, match="too far from square.*method='asymptotic'"):
        ldlt.ldlt_output_variance(2, 10**7, 1 / math.sqrt(10**7))

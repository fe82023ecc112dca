"""Tests for initmath.asymptotics.

The expansions are checked against (i) exact symbolic identities (s = 2, integer s/2,
the Gamma-ratio closed form at a = 1) and (ii) an independent mpmath evaluation of the
exact critical variance, written below from the chi-square mixture representation and
sharing no code with the module.  The same convergence check that accepts the
module's expansions is used to judge the paper's printed ones.
"""
import itertools
from fractions import Fraction
from functools import cache

import mpmath as mp
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st
from sympy.utilities.iterables import multiset_partitions

from initmath.asymptotics import (
    critical_sigma_expansion,
    critical_variance_expansion,
    d,
)
from initmath.papers.gurbuzbalaban_hu import paper_critical_variance_expansion

s_, a_, q_ = sympy.symbols("s a q", positive=True)
EPS = sympy.Symbol("epsilon", positive=True)
DIMS = (64, 128, 256, 512)

# ---------------------------------------------------------------------------
# Independent exact reference (mpmath, 40 digits).
# Units are dropped (prob 1 - q), positive (q/2: contributes g^2) or negative (q/2:
# contributes a^2 g^2), so q^2 Z = chi2_n + a^2 chi2_k.  Writing T = chi2_{n+k} and
# B = chi2_k / T ~ Beta(k/2, n/2) independent of T,
#   E[(chi2_n + a^2 chi2_k)^h] = 2^h Gamma(m/2 + h)/Gamma(m/2) 2F1(-h, k/2; m/2; 1 - a^2).
# ---------------------------------------------------------------------------
_TINY = mp.mpf("1e-45")  # binomial weights below this cannot move 40-digit results


def _band(n, p):
    """(k, P(Binomial(n, p) = k)) for the k whose weight exceeds _TINY."""
    if p == 1:
        return [(n, mp.mpf(1))]
    weights = ((k, mp.binomial(n, k) * p ** k * (1 - p) ** (n - k)) for k in range(n + 1))
    return [(k, w) for k, w in weights if w > _TINY]


def _chi2_moment(m, h):
    return mp.mpf(0) if m == 0 else 2 ** h * mp.exp(mp.loggamma(m / mp.mpf(2) + h)
                                                    - mp.loggamma(m / mp.mpf(2)))


def _mixture_moment(n_pos, n_neg, h, a):
    m = n_pos + n_neg
    if n_neg == 0 or a == 1:
        return _chi2_moment(m, h)
    if n_pos == 0:
        return a ** (2 * h) * _chi2_moment(m, h)
    return _chi2_moment(m, h) * mp.hyp2f1(-h, n_neg / mp.mpf(2), m / mp.mpf(2), 1 - a * a)


def _nested_moment(dim, h, a, q):
    """E[(q^2 Z)^h] summed over kept units m ~ Bin(d, q), positive n ~ Bin(m, 1/2)."""
    return sum(wm * wn * _mixture_moment(n, m - n, h, a)
               for m, wm in _band(dim, q) for n, wn in _band(m, mp.mpf(1) / 2))


def _thinned_moment(dim, h, a, q):
    """Same as _nested_moment for a in {0, 1}, in O(d): only live units count."""
    live = q / 2 if a == 0 else q
    return sum(w * _chi2_moment(n, h) for n, w in _band(dim, live))


@cache
def exact_variance(s, a, q, dim, nested=False):
    """Exact critical variance E[Z^(s/2)]^(-2/s); s, a, q given as strings.

    The O(d) thinned sum is used where it applies (a in {0, 1}) unless nested is set.
    """
    with mp.workdps(40):
        s, a, q = mp.mpf(s), mp.mpf(a), mp.mpf(q)
        thinned = not nested and a in (0, 1)
        moment = (_thinned_moment if thinned else _nested_moment)(dim, s / 2, a, q)
        return (moment / q ** s) ** (-2 / s)


def at(expr, n):
    """A rational sympy expression in d evaluated at d = n as a 40-digit mpf."""
    value = sympy.Rational(expr.subs(d, n))
    with mp.workdps(40):
        return mp.mpf(value.p) / value.q


def scaled_errors(expr, power, s, a="0", q="1", dims=DIMS, nested=False):
    """(exact - expr) * d^power at each d."""
    with mp.workdps(40):
        return [(exact_variance(s, a, q, n, nested) - at(expr, n)) * mp.mpf(n) ** power
                for n in dims]


def converges(r):
    """True if r(d) settles as d doubles: each step shrinks by at least 0.7.

    A correct expansion through d^-N gives r = (exact - expansion) d^(N+1) =
    c_{N+1} + c_{N+2}/d + ..., whose steps halve; a wrong d^-N coefficient (miss delta)
    gives r ~ delta d, whose steps double.
    """
    steps = [abs(y - x) for x, y in itertools.pairwise(r)]
    return all(later < 0.7 * earlier for earlier, later in itertools.pairwise(steps))


def assert_converges_to(r, limit):
    assert converges(r), [mp.nstr(x, 8) for x in r]
    # After halving steps the remaining distance to the limit is about one step.
    assert abs(r[-1] - limit) < 2 * abs(r[-1] - r[-2]) + mp.mpf("1e-25"), (
        mp.nstr(r[-1], 10), mp.nstr(limit, 10))


def coefficient(expr, k):
    return sympy.Rational(sympy.expand(expr).coeff(d, -k))


# ---------------------------------------------------------------------------
# Exact identities
# ---------------------------------------------------------------------------
fractions_01 = st.fractions(min_value=0, max_value=1, max_denominator=12)
keep_probs = st.fractions(min_value=Fraction(1, 12), max_value=1, max_denominator=12)


@settings(max_examples=15, deadline=None)
@given(a=fractions_01, q=keep_probs, order=st.integers(1, 5))
def test_s2_is_kaiming_exactly(a, q, order):
    kaiming = 2 * sympy.Rational(q) / ((1 + sympy.Rational(a) ** 2) * d)
    assert critical_variance_expansion(2, a, order, keep_prob=q) == kaiming


def test_s2_is_kaiming_symbolically():
    expansion = critical_variance_expansion(2, a_, 4, keep_prob=q_)
    assert sympy.simplify(expansion - 2 * q_ / ((1 + a_ ** 2) * d)) == 0


def _moment_integer_h(h, a, q):
    """E[Z^h] for integer h as a polynomial in d, from set partitions of h factors."""
    moment = {r: q ** (1 - 2 * r) * (1 + a ** (2 * r)) / 2 * sympy.factorial2(2 * r - 1)
              for r in range(1, h + 1)}
    return sum(sympy.ff(d, len(blocks)) * sympy.prod(moment[len(b)] for b in blocks)
               for blocks in multiset_partitions(list(range(h))))


@settings(max_examples=15, deadline=None)
@given(h=st.integers(2, 3), a=fractions_01, q=keep_probs)
def test_integer_half_s_matches_exact_moment(h, a, q):
    # For integer h = s/2, E[Z^h] is an exact polynomial in d; expand its -1/h power.
    a, q, order = sympy.Rational(a), sympy.Rational(q), 4
    exact = _moment_integer_h(h, a, q).subs(d, 1 / EPS) ** (-sympy.Rational(1, h))
    series = sympy.series(exact, EPS, 0, order + 1).removeO().subs(EPS, 1 / d)
    assert sympy.expand(critical_variance_expansion(2 * h, a, order, keep_prob=q)
                        - series) == 0


def test_linear_matches_gamma_ratio_through_d4():
    # a = 1: Z ~ chi2_d, so sigma^2 = (Gamma(d/2) / Gamma((d+s)/2))^(2/s) / 2 exactly.
    h = s_ / 2
    log_ratio = sympy.series(sympy.loggamma(1 / (2 * EPS)) - sympy.loggamma(1 / (2 * EPS) + h),
                             EPS, 0, 5).removeO()
    # log_ratio = h log(2 eps) + O(eps): divide out 2 eps before exponentiating.
    rest = sympy.expand(sympy.expand_log(log_ratio - h * sympy.log(2 * EPS), force=True))
    assert sympy.simplify(rest.subs(EPS, 0)) == 0
    exact = EPS * sympy.series(sympy.exp(rest / h), EPS, 0, 4).removeO()
    expansion = critical_variance_expansion(s_, 1, 4).subs(d, 1 / EPS)
    assert sympy.simplify(sympy.expand(exact - expansion)) == 0


def test_relu_coefficients():
    # The ReLU coefficients quoted in docs/errata.md.
    s = s_
    expected = (2 / d + 5 * (2 - s) / (2 * d ** 2) + (2 - s) * (346 - 199 * s) / (48 * d ** 3)
                + (2 - s) * (527 * s ** 2 - 1880 * s + 1588) / (64 * d ** 4))
    assert sympy.simplify(critical_variance_expansion(s, 0, 4) - expected) == 0


def test_general_second_coefficient():
    # c2 = (2 - s)/4 * Var(Y)/E[Y]^3, the delta-method term, as quoted in docs/errata.md.
    expected = ((2 - s_) * (6 * (1 + a_ ** 4) - q_ * (1 + a_ ** 2) ** 2)
                / (2 * (1 + a_ ** 2) ** 3))
    c2 = critical_variance_expansion(s_, a_, 2, keep_prob=q_).coeff(d, -2)
    assert sympy.simplify(c2 - expected) == 0


@settings(max_examples=10, deadline=None)
@given(s=st.fractions(min_value=Fraction(1, 10), max_value=5, max_denominator=10),
       a=fractions_01, q=keep_probs)
def test_symbolic_coefficients_specialise_to_numeric(s, a, q):
    symbolic = critical_variance_expansion(s_, a_, 3, keep_prob=q_)
    numeric = critical_variance_expansion(s, a, 3, keep_prob=q)
    values = {s_: sympy.Rational(s), a_: sympy.Rational(a), q_: sympy.Rational(q)}
    assert sympy.simplify(symbolic.subs(values) - numeric) == 0


@pytest.mark.parametrize("s, a, q", [(1, 0, 1), ("1/3", "1/2", "3/4"), (3, 1, "1/2")])
def test_sigma_expansion_squares_to_variance_expansion(s, a, q):
    order = 4
    sigma = critical_sigma_expansion(s, a, order, keep_prob=q)
    variance = critical_variance_expansion(s, a, order, keep_prob=q)
    leftover = sympy.expand(sigma ** 2 - variance)
    assert all(term.as_coeff_exponent(d)[1] <= -(order + 1) for term in leftover.args)


def test_input_forms_agree():
    reference = critical_variance_expansion(sympy.Rational(4, 5), sympy.Rational(1, 100),
                                            keep_prob=sympy.Rational(9, 10))
    for s, a, q in [(0.8, 0.01, 0.9), ("0.8", "0.01", "0.9"),
                    (Fraction(4, 5), Fraction(1, 100), Fraction(9, 10)),
                    (sympy.Float("0.8"), "1/100", "9/10")]:
        assert critical_variance_expansion(s, a, keep_prob=q) == reference


@pytest.mark.parametrize("kwargs, name", [
    (dict(s=0), "s"), (dict(s=-1), "s"), (dict(s=float("nan")), "s"), (dict(s="x"), "s"),
    (dict(s=1j), "s"), (dict(s=True), "s"), (dict(s=d), "s"),
    (dict(s=1, a=-0.1), "a"), (dict(s=1, a="1.01"), "a"),
    (dict(s=1, keep_prob=0), "keep_prob"), (dict(s=1, keep_prob=1.5), "keep_prob"),
    (dict(s=1, order=0), "order"), (dict(s=1, order=2.0), "order"),
    (dict(s=1, order=True), "order"),
])
def test_bad_inputs_raise(kwargs, name):
    for function in (critical_variance_expansion, critical_sigma_expansion):
        with pytest.raises(ValueError, match=name):
            function(**kwargs)


def test_paper_has_no_leaky_dropout_formula():
    with pytest.raises(ValueError, match="ReLU"):
        paper_critical_variance_expansion(1, a="0.5", keep_prob="0.5")


# ---------------------------------------------------------------------------
# Convergence against the exact reference
# ---------------------------------------------------------------------------
def test_reference_shortcuts_match_nested_sum():
    # The O(d) thinned sums used below agree with the brief's nested mixture sum.
    for a in ("0", "1"):
        for q in ("1", "0.6"):
            thinned = exact_variance("1.3", a, q, 12)
            assert abs(thinned / exact_variance("1.3", a, q, 12, nested=True) - 1) < 1e-35


@pytest.mark.parametrize("s, a", [("0.8", "0"), ("1", "0"), ("1.5", "0"), ("3", "0"),
                                  ("4", "0"), ("1", "0.01"), ("1", "0.5"), ("3", "0.5"),
                                  ("1", "1"), ("3", "1")])
def test_expansion_converges_at_rate(s, a):
    order = 3
    r = scaled_errors(critical_variance_expansion(s, a, order), order + 1, s, a)
    assert_converges_to(r, coefficient(critical_variance_expansion(s, a, order + 1), order + 1))


@pytest.mark.parametrize("order", [1, 2, 4])
def test_expansion_converges_at_every_order(order):
    r = scaled_errors(critical_variance_expansion("1.5", "0.5", order), order + 1, "1.5", "0.5")
    assert_converges_to(r, coefficient(critical_variance_expansion("1.5", "0.5", order + 1),
                                       order + 1))


@pytest.mark.parametrize("s, a, q", [("1", "0", "0.5"), ("0.8", "0", "0.9"),
                                     ("3", "1", "0.7")])
def test_dropout_expansion_converges_at_rate(s, a, q):
    r = scaled_errors(critical_variance_expansion(s, a, 3, keep_prob=q), 4, s, a, q)
    assert_converges_to(r, coefficient(critical_variance_expansion(s, a, 4, keep_prob=q), 4))


def test_leaky_dropout_expansion_matches_nested_reference():
    # Leaky ReLU with dropout needs the O(d^2) nested sum, so smaller widths.
    s, a, q = "1", "0.5", "0.8"
    r = scaled_errors(critical_variance_expansion(s, a, 2, keep_prob=q), 3, s, a, q,
                      dims=(24, 48, 96), nested=True)
    assert_converges_to(r, coefficient(critical_variance_expansion(s, a, 3, keep_prob=q), 3))


# ---------------------------------------------------------------------------
# The paper's printed expansions, judged by the same check
# ---------------------------------------------------------------------------
PAPER_S = ("0.8", "1", "1.5")


@pytest.mark.parametrize("s", PAPER_S)
def test_corollary4_printed_expansion_is_right(s):
    printed = paper_critical_variance_expansion(s)
    assert printed == critical_variance_expansion(s, 0, 2)
    assert_converges_to(scaled_errors(printed, 3, s),
                        coefficient(critical_variance_expansion(s, 0, 3), 3))
    # The check has the power to see a 2% error in the printed d^-2 coefficient.
    assert not converges(scaled_errors(printed + coefficient(printed, 2) / 50 / d ** 2, 3, s))


def test_corollary4_printed_sigma_is_right():
    printed = (sympy.sqrt(2) / sympy.sqrt(d)
               + 5 * sympy.sqrt(2) * (2 - s_) / (8 * d ** sympy.Rational(3, 2)))
    assert sympy.simplify(critical_sigma_expansion(s_, 0, 2) - printed) == 0


@pytest.mark.parametrize("s", PAPER_S)
def test_corollary10_printed_linear_expansion_is_right(s):
    printed = paper_critical_variance_expansion(s, 1)
    assert printed == critical_variance_expansion(s, 1, 2)
    assert converges(scaled_errors(printed, 3, s, "1"))


def test_corollary10_small_a_formula_misses_at_order_a4():
    printed = paper_critical_variance_expansion(s_, a_).coeff(d, -2)
    true = critical_variance_expansion(s_, a_, 2).coeff(d, -2)
    miss = sympy.series(printed - true, a_, 0, 5).removeO()
    assert (
        sympy.simplify(
            miss - a_**4 * (-sympy.Rational(17, 4) * s_**2 + sympy.Rational(41, 2) * s_ - 24)
        )
        == 0
    )
    # The d^-1 coefficient is exact; apart from s = 2 and a = 0 the d^-2 one is right
    # only on the curve s = 24(a^2+1)(a^2+2)/(5a^4+10a^2+17), which lies in s > 2.
    assert paper_critical_variance_expansion(s_, a_).coeff(d, -1) == critical_variance_expansion(
        s_, a_, 2
    ).coeff(d, -1)
    assert sympy.simplify((printed - true).subs(a_, 0)) == 0
    curve = sympy.solve(sympy.numer(sympy.cancel((printed - true) / (2 - s_) / a_**4)), s_)
    assert len(curve) == 1
    assert (
        sympy.simplify(curve[0] - 24 * (a_**2 + 1) * (a_**2 + 2) / (5 * a_**4 + 10 * a_**2 + 17))
        == 0
    )
    assert sympy.minimum(curve[0], a_, sympy.Interval(0, 1)) == sympy.Rational(48, 17)


@pytest.mark.parametrize("s", PAPER_S)
@pytest.mark.parametrize("a", ["0.5", "1"])
def test_corollary10_small_a_formula_rejected(s, a):
    # Symbolic a selects the small-a formula even where a = 1.
    small_a = paper_critical_variance_expansion(s_, a_).subs(
        {s_: sympy.Rational(s), a_: sympy.Rational(a)}
    )
    r = scaled_errors(small_a, 3, s, a)
    assert not converges(r)
    # r ~ (true - printed) d: the growth rate recovers the miss in the d^-2 coefficient.
    miss = coefficient(critical_variance_expansion(s, a, 2) - small_a, 2)
    assert abs((r[-1] - r[-2]) / (DIMS[-1] - DIMS[-2]) / miss - 1) < 0.05


def test_corollary10_small_a_formula_miss_is_tiny_at_a_001():
    small_a = paper_critical_variance_expansion(s_, a_).subs({s_: 1, a_: sympy.Rational(1, 100)})
    miss = coefficient(critical_variance_expansion(1, "0.01", 2) - small_a, 2)
    assert 0 < miss < sympy.Rational(1, 10**7)


@pytest.mark.parametrize("q", ["0.5", "0.8"])
def test_remark13_printed_dropout_expansion_is_right(q):
    assert (
        sympy.simplify(
            paper_critical_variance_expansion(s_, keep_prob=q_)
            - critical_variance_expansion(s_, 0, 2, keep_prob=q_)
        )
        == 0
    )
    printed = paper_critical_variance_expansion("1", keep_prob=q)
    assert_converges_to(
        scaled_errors(printed, 3, "1", "0", q),
        coefficient(critical_variance_expansion(1, 0, 3, keep_prob=q), 3),
    )

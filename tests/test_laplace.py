"""Tests of the Laplace-transform engine (initmath._engine.laplace) against exact references.

References (mpmath, 50 digits): for leaky ReLU c = [1, a^2], w = [1/2, 1/2],
E Z^h = sum_n C(d,n) 2^-d 2^h Gamma(d/2+h)/Gamma(d/2) 2F1(-h, (d-n)/2; d/2; 1-a^2);
dropout = binomial mixture of rescaled ReLU sums; mixtures: exact integer moments and
an independent quadrature of E Z^h = h/Gamma(1-h) int_0^inf (1 - L(t)) t^(-h-1) dt.
"""
import warnings
from fractions import Fraction

import mpmath
import numpy as np
import pytest

from initmath._engine import laplace as _laplace
from initmath._engine.laplace import log_moment, log_moment_mp


def ref_relu(h, d, a, dps=50):
    """Exact log E Z^h for c = [1, a^2], w = [1/2, 1/2] (only the central band of n)."""
    with mpmath.workdps(dps):
        h, a, d = mpmath.mpf(h), mpmath.mpf(a), int(d)
        band = int(10 * d ** 0.5 + 20)
        pref = h * mpmath.log(2) + mpmath.loggamma(mpmath.mpf(d) / 2 + h) \
            - mpmath.loggamma(mpmath.mpf(d) / 2)
        total = mpmath.mpf(0)
        for n in range(max(0, d // 2 - band), min(d, d // 2 + band) + 1):
            lb = mpmath.log(mpmath.binomial(d, n)) - d * mpmath.log(2)
            if a == 0:
                if n:
                    total += mpmath.exp(
                        lb
                        + h * mpmath.log(2)
                        + mpmath.loggamma(mpmath.mpf(n) / 2 + h)
                        - mpmath.loggamma(mpmath.mpf(n) / 2)
                    )
            else:
                total += mpmath.exp(lb + pref) * mpmath.hyp2f1(
                    -h, mpmath.mpf(d - n) / 2, mpmath.mpf(d) / 2, 1 - a * a
                )
        return mpmath.log(total)


def ref_dropout(h, d, q, a, dps=50):
    """c = [0, 1/q^2, a^2/q^2], w = [1-q, q/2, q/2]: sum over kept count k ~ Bin(d, q)."""
    with mpmath.workdps(dps):
        q, h = mpmath.mpf(q), mpmath.mpf(h)
        total = sum(
            mpmath.binomial(d, k)
            * q**k
            * (1 - q) ** (d - k)
            * q ** (-2 * h)
            * mpmath.exp(ref_relu(h, k, a, dps))
            for k in range(1, d + 1)
        )
        return mpmath.log(total)


def relu_cw(a):
    return [mpmath.mpf(1), mpmath.mpf(a) ** 2], [mpmath.mpf(1) / 2] * 2


def f64(h, d, c, w):
    out = log_moment(
        np.array([h], float), np.array([d], float), np.array([c], float), np.array([w], float)
    )
    assert out.shape == (1,)
    return float(out[0])


def f64_tol(ref):
    """2e-15 absolute, or one ulp of the result where that is larger (|log E Z^h| > 8)."""
    return max(2e-15, float(np.spacing(abs(float(ref)))))


def mp_at(dps, h, d, c, w):
    with mpmath.workdps(dps):
        return log_moment_mp(
            mpmath.mpf(h), d, [mpmath.mpf(x) for x in c], [mpmath.mpf(x) for x in w]
        )


RELU_CASES = [
    (1.5, 10, 0.01),
    (2.0, 1000, 1.0),
    (0.5, 1, 0.3),
    (0.3, 7, 0.0),
    (1.0, 100, 1e-4),
    (0.1, 1000, 0.3),
    (2.9, 3, 0.01),
    (0.7, 1, 0.0),
    (0.49, 2, 0.0),
    (3.0, 50, 0.5),
    (0.025, 300, 1e-4),
    (1.49, 20, 0.0),
]


@pytest.mark.parametrize("h,d,a", RELU_CASES)
def test_mp_matches_exact_relu(h, d, a):
    ref = ref_relu(h, d, a, dps=60)
    with mpmath.workdps(45):
        got = log_moment_mp(mpmath.mpf(h), d, *relu_cw(a))
        assert abs(got - ref) <= 20 * mpmath.eps * max(1, abs(ref))
    # f64 path as well
    assert abs(f64(h, d, [1, a * a], [0.5, 0.5]) - float(ref)) <= f64_tol(ref)


@pytest.mark.parametrize(
    "h,d,a,m_form", [(0.3, 7, 0.0, 0), (1.5, 1000, 0.01, 3), (0.9, 10**6, 0.3, 2)]
)
def test_mp_step_halving_converged(h, d, a, m_form):
    """The mp trapezoid with the precision-chosen step agrees with step/2."""
    c, w = relu_cw(a)
    with mpmath.workdps(40):
        tail = mpmath.mpf(mpmath.mp.prec + 8) * mpmath.ln2
        step = mpmath.pi**2 / (tail + 8)
        coarse = _laplace._log_moment_mp(mpmath.mpf(h), d, c, w, tail, step)
        fine = _laplace._log_moment_mp(mpmath.mpf(h), d, c, w, tail + 20, step / 2)
        assert _laplace._split_form(h) == m_form
        assert abs(coarse - fine) <= 10 * mpmath.eps * max(1, abs(fine))
        # a too coarse step must visibly fail (the check above can fail)
        bad = _laplace._log_moment_mp(mpmath.mpf(h), d, c, w, tail, 4 * step)
        assert abs(bad - fine) > 1e6 * mpmath.eps


@pytest.mark.parametrize("d", [1, 2, 3, 5])
def test_atom_relu(d):
    """a = 0: P(Z = 0) = 2^-d; both forms (h < 1/2 and h >= 1/2)."""
    for h in (0.2, 0.5, 1.7):
        ref = ref_relu(h, d, 0)
        assert abs(mp_at(40, h, d, [0, 1], [0.5, 0.5]) - ref) < 1e-38
        assert abs(f64(h, d, [1, 0], [0.5, 0.5]) - float(ref)) <= f64_tol(ref)


@pytest.mark.parametrize("d,a", [(1, 0.0), (4, 0.0), (30, 0.3), (10**7, 1.0)])
def test_h_to_zero(d, a):
    """h = 1e-6: log E Z^h = log P(Z>0) + h E[log Z | Z>0] + O(h^2), to full precision."""
    h = mpmath.mpf("1e-6")
    if d == 10**7:
        with mpmath.workdps(70):
            ref = (
                h * mpmath.log(2)
                + mpmath.loggamma(mpmath.mpf(d) / 2 + h)
                - mpmath.loggamma(mpmath.mpf(d) / 2)
            )
            first_order = h * (mpmath.log(2) + mpmath.digamma(mpmath.mpf(d) / 2))
    else:
        ref = ref_relu(h, d, a)
        with mpmath.workdps(50):  # E[log Z; Z > 0] from the exact chi-square mixture (a = 0)
            first_order = None
            if a == 0:
                p0 = mpmath.mpf(2) ** -d
                elog = (
                    sum(
                        mpmath.binomial(d, n) * (mpmath.log(2) + mpmath.digamma(mpmath.mpf(n) / 2))
                        for n in range(1, d + 1)
                    )
                    / 2**d
                    / (1 - p0)
                )
                first_order = mpmath.log(1 - p0) + h * elog
    if first_order is not None:
        assert abs(ref - first_order) < 1e-10  # the reference is right to first order
    with mpmath.workdps(40):
        got = log_moment_mp(h, d, *relu_cw(a))
        assert abs(got - ref) <= 20 * mpmath.eps * max(1, abs(ref))
    assert abs(f64(1e-6, d, [1, a * a], [0.5, 0.5]) - float(ref)) <= 2e-16 + 1e-9 * abs(float(ref))


@pytest.mark.parametrize("h", [0.025, 0.3, 0.5, 1.0, 1.5, 2.0, 3.0])
def test_large_d_closed_form(h):
    """c = [1, 1]: Z ~ chi^2_d, log E Z^h = log(2^h Gamma(d/2+h)/Gamma(d/2)), d = 10^7."""
    d = 10**7
    with mpmath.workdps(70):  # loggamma(d/2) ~ 7e7: the difference needs extra digits
        ref = (
            h * mpmath.log(2)
            + mpmath.loggamma(mpmath.mpf(d) / 2 + h)
            - mpmath.loggamma(mpmath.mpf(d) / 2)
        )
    with mpmath.workdps(40):
        ref = +ref
        got = log_moment_mp(mpmath.mpf(h), d, [mpmath.mpf(1)] * 2, [mpmath.mpf(1) / 2] * 2)
        assert abs(got - ref) <= 20 * mpmath.eps * abs(ref)
    if h <= 2:
        assert abs(f64(h, d, [1, 1], [0.5, 0.5]) - float(ref)) <= f64_tol(ref)


@pytest.mark.parametrize(
    "h,d,q,a", [(0.3, 6, 0.5, 0.0), (1.2, 12, 0.9, 0.3), (2.0, 8, 0.5, 0.3), (0.05, 1, 0.9, 0.0)]
)
def test_dropout(h, d, q, a):
    ref = ref_dropout(h, d, q, a)
    with mpmath.workdps(50):
        c = [0, 1 / mpmath.mpf(q) ** 2, mpmath.mpf(a) ** 2 / mpmath.mpf(q) ** 2]
        w = [1 - mpmath.mpf(q), mpmath.mpf(q) / 2, mpmath.mpf(q) / 2]
    with mpmath.workdps(40):
        got = log_moment_mp(mpmath.mpf(h), d, c, w)
        assert abs(got - ref) <= 20 * mpmath.eps * max(1, abs(ref))
    assert abs(f64(h, d, [float(x) for x in c], [float(x) for x in w]) - float(ref)) <= f64_tol(ref)


def gl_mixture(k):
    """Per-neuron random slope uniform on [0, 1], discretised by Gauss-Legendre."""
    x, gw = np.polynomial.legendre.leggauss(k)
    w = [Fraction(g / 2) for g in gw[:-1]]
    return [((xi + 1) / 2) ** 2 for xi in x], w + [1 - sum(w)]  # weights sum exactly to 1


def mpf_list(xs):
    return [
        mpmath.mpf(x.numerator) / x.denominator if isinstance(x, Fraction) else mpmath.mpf(x)
        for x in xs
    ]


def exact_integer_moment(m, d, c, w):
    """E Z^m exactly (Fractions): m! [u^m] (sum_j E Y^j u^j / j!)^d, E Y^j = E C^j (2j-1)!!."""
    c = [Fraction(x) for x in c]
    w = [Fraction(x) for x in w]
    dfact = [1, 1, 3, 15, 105, 945]
    fact = [1, 1, 2, 6, 24, 120]
    mgf = [sum(wi * ci**j for ci, wi in zip(c, w)) * dfact[j] / fact[j] for j in range(m + 1)]

    def mul(p, r):
        return [sum(p[i] * r[k - i] for i in range(k + 1)) for k in range(m + 1)]

    out, base, n = [Fraction(1)] + [Fraction(0)] * m, mgf, d
    while n:
        if n & 1:
            out = mul(out, base)
        base, n = mul(base, base), n >> 1
    return out[m] * fact[m]


@pytest.mark.parametrize("m,d", [(1, 7), (2, 1), (2, 300), (3, 40)])
def test_mixture_k16_integer_moments(m, d):
    c, w = gl_mixture(16)
    exact = exact_integer_moment(m, d, c, w)
    with mpmath.workdps(40):
        ref = mpmath.log(mpmath.mpf(exact.numerator) / exact.denominator)
        got = log_moment_mp(mpmath.mpf(m), d, mpf_list(c), mpf_list(w))
        assert abs(got - ref) <= 20 * mpmath.eps * max(1, abs(ref))
    assert abs(f64(m, d, c, [float(x) for x in w]) - float(ref)) <= f64_tol(ref)


@pytest.mark.parametrize("h,d", [(0.5, 3)])  # mpmath.quad is the bottleneck here
def test_mixture_k16_fractional(h, d):
    """Independent formula: E Z^h = h/Gamma(1-h) int_0^inf (1 - M(t)^d) t^(-h-1) dt."""
    c, w = gl_mixture(16)
    with mpmath.workdps(50):
        cm, wm = mpf_list(c), mpf_list(w)
        hm = mpmath.mpf(h)

        def f(t):
            sq = [mpmath.sqrt(1 + 2 * ci * t) for ci in cm]  # M - 1 without cancellation
            m1 = -mpmath.fsum(wi * 2 * ci * t / (s * (1 + s)) for ci, wi, s in zip(cm, wm, sq))
            return -mpmath.expm1(d * mpmath.log1p(m1)) * t ** (-hm - 1)

        pts = [0] + [mpmath.mpf(2) ** k for k in range(-8, 24)] + [mpmath.inf]
        ref = mpmath.log(hm / mpmath.gamma(1 - hm) * mpmath.quad(f, pts))
    with mpmath.workdps(30):
        got = log_moment_mp(hm, d, cm, wm)
        assert abs(got - ref) < 1e-26  # quad's own error is ~1e-28
    assert abs(f64(h, d, c, [float(x) for x in w]) - float(ref)) <= f64_tol(ref)


def test_vectorised_matches_rows_and_no_warnings():
    rng = np.random.default_rng(1)
    n = 400
    h = rng.uniform(0.02, 2.5, n)
    d = np.floor(np.exp(rng.uniform(0, np.log(1e9), n)))
    a = rng.uniform(0, 1, n)
    a[::7] = 0
    c = np.stack([np.ones(n), a * a, np.zeros(n)], axis=1)
    w = np.tile([0.45, 0.45, 0.1], (n, 1))
    w[::3] = [0.5, 0.5, 0.0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = log_moment(h, d, c, w)
        single = [
            log_moment(h[i : i + 1], d[i : i + 1], c[i : i + 1], w[i : i + 1])[0]
            for i in range(0, n, 37)
        ]
    assert np.all(np.isfinite(out))
    assert np.allclose(out[::37], single, rtol=4e-16, atol=1e-16)
    # spot-check some rows against the mp path
    for i in range(0, n, 53):
        ref = mp_at(30, h[i], int(d[i]), c[i], w[i])
        assert abs(out[i] - float(ref)) <= 2 * f64_tol(ref)


# --------------------------------------------------------------- regression tests (bugs a-d)
def test_tiny_h_d1_no_nan():
    """(a) M - 1 rounded below -1 at large t (log1p -> NaN); log M now from M when M < 1/2."""
    h = 5e-10
    got = f64(h, 1, [1, 1], [0.5, 0.5])
    # cumulants of log chi^2_1: mean psi(1/2) + log 2, variance psi'(1/2) = pi^2 / 2
    ref = h * (float(mpmath.digamma(0.5)) + np.log(2)) + h * h * np.pi**2 / 4
    assert abs(got - ref) <= 1e-24
    for h, a in [(0.0625, 0.0039**0.5), (0.125, 0.25), (1e-12, 0.0), (0.3, 1e-3)]:
        ref = ref_relu(h, 1, a, dps=30)
        assert abs(f64(h, 1, [1, a * a], [0.5, 0.5]) - float(ref)) <= f64_tol(ref)


def test_grid_small_d_finite_and_exact():
    """(a) a coarse version of the sweep h in [1e-12, 3], d = 1..5, a in [0, 1]."""
    hs = np.array([1e-12, 1e-7, 3e-3, 0.0625, 0.125, 0.4999, 0.5, 1.2, 2.0, 3.0])
    for d in (1, 2, 5):
        for a in (0.0, 0.0625, 0.3, 1.0):
            c = np.tile([1, a * a], (hs.size, 1))
            out = log_moment(hs, np.full(hs.size, float(d)), c, np.full(c.shape, 0.5))
            assert np.all(np.isfinite(out))
            for i in (0, 3, 4, 6, 9):
                ref = ref_relu(hs[i], d, a, dps=30)
                assert abs(out[i] - float(ref)) <= f64_tol(ref), (hs[i], d, a)


def test_slope_mixture_rows_no_nan():
    """(b) rows of the tanh-sinh slope rule (a ~ 1e-23 .. 1/3) at d = 1 were NaN."""
    tau = np.arange(-3.5, 3.5 + 1 / 16, 1 / 8)
    frac = 1 / (1 + np.exp(-np.pi * np.sinh(tau)))
    for lower in (0.125, 0.0):
        sl = lower + (1 / 3 - lower) * frac
        c = np.stack([np.ones(sl.size), sl**2], axis=1)
        out = log_moment(np.full(sl.size, 0.1), np.ones(sl.size), c, np.full(c.shape, 0.5))
        assert np.all(np.isfinite(out))
        assert np.all(np.diff(out) >= -1e-15)  # increasing in the slope
        ref = ref_relu(0.1, 1, sl[-1], dps=30)
        assert abs(out[-1] - float(ref)) <= f64_tol(ref)


def ref_chi2(h, d):
    with mpmath.workdps(60):
        h = mpmath.mpf(h)
        return (
            h * mpmath.log(2)
            + mpmath.loggamma(mpmath.mpf(d) / 2 + h)
            - mpmath.loggamma(mpmath.mpf(d) / 2)
        )


@pytest.mark.parametrize("h", [3.6, 10.0, 100.0, 250.5, 500.0])
def test_large_h_chi2(h):
    """(c) h up to 500: c = [1, 1] (Z ~ chi^2_d), float64 within ~1 ulp of the result."""
    ds = np.array([1.0, 2, 7, 100, 1e4, 1e6, 1e9])
    out = log_moment(np.full(ds.size, h), ds, np.ones((ds.size, 2)), np.full((ds.size, 2), 0.5))
    for d, got in zip(ds, out):
        ref = ref_chi2(h, int(d))
        assert abs(got - float(ref)) <= 2 * f64_tol(ref), (h, d)


def test_large_h_reported_cases_and_limit():
    """(c) h = 500, d = 1e6 raised OverflowError; h = 100, d = 1e9 gave inf; h > 500 raises."""
    got = f64(500.0, 10**6, [1, 0.25], [0.5, 0.5])
    assert np.isfinite(got) and 6600 < got < 6700
    assert abs(f64(100.0, 10**9, [1, 1], [0.5, 0.5]) - float(ref_chi2(100, 10**9))) <= 2e-12
    with pytest.raises(ValueError, match="h"):
        log_moment(np.array([500.5]), np.array([1.0]), np.array([[1, 1.0]]), np.array([[0.5, 0.5]]))
    with mpmath.workdps(20), pytest.raises(ValueError, match="h"):
        log_moment_mp(mpmath.mpf(501), 3, [1, 1], [0.5, 0.5])


@pytest.mark.parametrize("h,d,a", [(12.0, 5, 0.3), (40.0, 3, 1e-2), (30.5, 10**5, 0.7)])
def test_large_h_mp_and_mixture(h, d, a):
    """(c) mp path for large h agrees with the exact ReLU sum; float64 agrees with both."""
    ref = ref_relu(h, d, a, dps=50) if d < 100 else None
    with mpmath.workdps(30):
        got = log_moment_mp(mpmath.mpf(h), d, *relu_cw(a))
        if ref is not None:
            assert abs(got - ref) <= 100 * mpmath.eps * abs(ref)
        ref = got
    assert abs(f64(h, d, [1, a * a], [0.5, 0.5]) - float(ref)) <= 2 * f64_tol(ref)


def test_row_independent_of_batch():
    """(d) a row's value does not depend on its batch companions (own node lattice)."""
    rng = np.random.default_rng(5)
    n = 300
    h = rng.uniform(0.02, 4, n)
    d = np.floor(np.exp(rng.uniform(0, np.log(1e9), n)))
    a = rng.uniform(0, 1, n)
    c = np.stack([np.ones(n), a * a], axis=1)
    w = np.full(c.shape, 0.5)
    out = log_moment(h, d, c, w)
    for i in range(0, n, 7):
        alone = log_moment(h[i : i + 1], d[i : i + 1], c[i : i + 1], w[i : i + 1])[0]
        assert abs(alone - out[i]) <= 4 * np.spacing(abs(out[i])) + 1e-16
        sub = log_moment(h[i : i + 5], d[i : i + 5], c[i : i + 5], w[i : i + 5])[0]
        assert abs(sub - out[i]) <= 4 * np.spacing(abs(out[i])) + 1e-16

"""The law of log Z' (Z' = Z | Z > 0) for sums of iid scaled chi-square mixtures.

Z = Y_1 + ... + Y_d, Y = C g^2, g ~ N(0, 1), C = c_i with probability w_i (c_i = 0 is
an atom), as in :mod:`.laplace`.  Write Z = m Z~ with m = E Z = d sum(c w), so that
log Z' = log m + log Z~' and Z~ = (1/d) sum Yhat_j with E Yhat = 1.

Frullani form (exact, any d)
----------------------------
For -1/2 < Re h < 1, with L~' the Laplace transform of Z~',
    E Z~'^h = 1 + h / Gamma(1 - h) * J(h),   J(h) = int (e^-t - L~'(t)) t^(-h-1) dt,
so in x = log t, J(h) = int f(x) e^(-h x) dx with f = e^-t - L~'(t), and the Taylor
coefficients J_j = int f (-x)^j / j! dx give K(h) = log E Z~'^h = log1p(h G(h)),
G = J / Gamma(1 - h), whose coefficients are the cumulants of log Z~'.

For large d, f is O(1/d) while e^-t and L~ are O(1): computing their difference
directly would lose a factor d.  Instead L~(t) = e^-t exp(D), D = d psi(t/d), with
    psi(tau) = log E exp(-tau (Yhat - 1)) = log1p(S),
    S = sum_i w_i [expm1(rho(chat_i tau)) e^(y_i) + (expm1(y_i) - y_i)],
    rho(x) = x - log1p(2x)/2 >= 0,  y_i = (1 - chat_i) tau  (sum w_i y_i = 0),
a sum of nonnegative terms, each evaluated by its series where it is small.  Then
f = -e^-t expm1(D) (plus the atom terms) has full relative accuracy at every node.

Asymptotic (delta-method) series (large d)
------------------------------------------
The Taylor coefficients G_j (j >= 2) are O(1/d^2) but come out of O(1/d) integrals,
and kappa_4 = O(1/d^3) is a difference of O(1/d^2) moments: the Frullani route loses
about d (kappa_3) and d^2 (kappa_4) ulps.  For d >= 150 max(2, max c / E C) the cumulants of order
>= 3 come instead from the exact formal expansion in eps = 1/d of
    log E (1 + U)^h = log sum_m binom(h, m) E U^m,   U = Z~ - 1,
whose cumulants are kappa_n(Yhat) eps^(n-1); the truncation (relative (C/d)^(R+1))
is far below double precision there.  P(Z = 0) = atom^d is ignored by that series,
so it is only used where atom^d < 1e-30.

The Frullani integrals run on the plan of :mod:`.quadrature` with wider margins (the
integrands carry powers of x) and the float64 backend of :mod:`.backend`.
"""
import itertools
import math
from types import SimpleNamespace

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from . import quadrature
from .backend import FLOAT, SCALAR
from .mixture import atom as mixture_atom

__all__ = ["characteristic_function", "log_cumulants"]

_STEP = 0.2           # trapezoid step in u (x = u - e^(x_left-u) + e^(u-x_right))
_TAIL = 50.0          # tails cut where the integrand is ~ exp(-_TAIL) of its scale
_EXTRA = 4.0          # extra u-range on each side (the x^j factors, margins)
_CUT_SHIFT = 1.0      # the Chernoff cut point moved right by this (the x^j factors)
_D_SERIES = 150.0     # d >= _D_SERIES * max(chat_max, 2): kappa_(j>=3) from the 1/d series
_SERIES_EXTRA = 12    # orders of 1/d kept beyond the leading one


def _rho(x):
    """x - log1p(2x)/2 for x >= 0, relative accuracy near 0.

    With z = 2x and v = z/(2+z): log1p(z) = 2 atanh(v) and z = 2v/(1-v), so
    z - log1p(z) = 2v^2/(1-v) - 2v^3 (1/3 + v^2/5 + v^4/7 + ...), a series in v^2
    (v <= 0.13 for z <= 0.3: 9 terms reach 1e-17).
    """
    z = 2 * x
    small = z <= 0.3
    v = np.where(small, z, 0.0) / (2 + np.where(small, z, 0.0))
    v2 = v * v
    acc = np.zeros_like(v)
    for k in range(10, 0, -1):                  # sum_{k>=1} v^(2k-2) / (2k+1)
        acc = acc * v2 + 1.0 / (2 * k + 1)
    ser = v2 / (1 - v) - v2 * v * acc           # (z - log1p(z)) / 2
    with np.errstate(invalid="ignore"):
        direct = x - 0.5 * np.log1p(z)
    return np.where(small, ser, direct)


def _em1x(y):
    """expm1(y) - y, relative accuracy near 0: (cosh y - 1) + (sinh y - y) with
    cosh y - 1 = 2 sinh(y/2)^2 (no cancellation) and sinh y - y = y^3 sum y^2k/(2k+3)!."""
    small = np.abs(y) <= 0.5
    ys = np.where(small, y, 0.0)
    y2 = ys * ys
    acc = np.zeros_like(ys)
    for k in range(8, -1, -1):
        acc = acc * y2 + 1.0 / math.factorial(2 * k + 3)
    half = np.sinh(ys / 2)
    ser = 2 * half * half + y2 * ys * acc
    with np.errstate(over="ignore", invalid="ignore"):
        direct = np.expm1(y) - y
    return np.where(small, ser, direct)


def _nodes(d, chat, atom, step=_STEP):
    """Padded node arrays x, weights (N, n) (weights 0 on padding).

    Z~ = (1/d) sum Yhat: the scales of L~ sit at t ~ d / chat, and the integrand
    f = e^-t - L~'(t) is O(t) at the left end (rate 1) and decays like L~ at the right.
    """
    cmax = chat.max(axis=-1)
    has_atom = (atom > 0) | (d == 1)
    j0, n, x_left, x_right = quadrature.plan(
        np.log(d / cmax), np.log(d / np.where(chat > 0, chat, np.inf).min(axis=-1)), d / cmax,
        1, quadrature.right_rate(0, d, has_atom, FLOAT), _TAIL, step, FLOAT,
        extra=_EXTRA, cut_shift=_CUT_SHIFT)
    u = quadrature.points(j0, int(n.max()), step, FLOAT)
    inside = np.arange(u.shape[-1]) < n[:, None]
    u = np.minimum(u, (j0 + n - 1)[:, None] * step)
    x, jac = quadrature.nodes(u, x_left[:, None], x_right[:, None], FLOAT)
    return x, np.where(inside, jac * step, 0.0)


def _integrand(x, d, chat, w, atom, xp=FLOAT):
    """f(x) = e^-t - L~'(t), t = e^x; x: (N, n); d, atom: (N, 1); chat, w: (N, K, 1)."""
    t = xp.exp(np.minimum(x, 700.0))
    tau = t / d
    p0 = atom ** d
    small = tau <= 1.0
    # D-form (tau <= 1): L~ = e^-t exp(D), D = d log1p(S).
    ts = np.where(small, tau, 0.0)[:, None, :]
    y = (1 - chat) * ts
    s = (w * (xp.expm1(_rho(chat * ts)) * xp.exp(y) + _em1x(y))).sum(axis=1)
    dd = d * xp.log1p(s)
    e_t = xp.exp(-t)
    # -e^-t expm1(D); for large D as e^-t - e^(D - t) (no inf * 0)
    f_small = np.where(dd < 1.0, -e_t * xp.expm1(np.minimum(dd, 1.0)), e_t - xp.exp(dd - t))
    f_small = (f_small - p0 * xp.expm1(-t)) / (1 - p0)
    # Direct form (tau > 1), the atom split off.
    tb = np.where(small, 1.0, tau)[:, None, :]
    base = w / xp.sqrt(1 + 2 * chat * tb)
    total = base.sum(axis=1)
    log_l = d * xp.log(total)
    l_full = xp.exp(log_l)
    alive = (base * (chat > 0)).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        l_alive = quadrature.without_atom(l_full, alive, atom, d, xp) / (1 - p0)
    f_big = e_t - l_alive
    # beyond x = 700 the integrand is below e^(-350) (it decays at least like t^-1/2)
    return np.where(x > 700.0, 0.0, np.where(small, f_small, f_big))


def _inv_gamma_1mh(order):
    """Taylor coefficients of 1/Gamma(1-h) up to h^order."""
    # log Gamma(1-h) = gamma h + sum_{k>=2} zeta(k) h^k / k
    lg = np.zeros(order + 1)
    if order >= 1:
        lg[1] = np.euler_gamma
    for k in range(2, order + 1):
        lg[k] = special.zeta(k) / k
    return _series_exp(-lg)


def _series_exp(a):
    """exp of a power series a (a[0] = 0), coefficients along the last axis."""
    n = a.shape[-1]
    out = np.zeros_like(a)
    out[..., 0] = 1.0
    # b' = a' b: k b_k = sum_{j=1}^k j a_j b_{k-j}
    for k in range(1, n):
        acc = 0.0
        for j in range(1, k + 1):
            acc = acc + j * a[..., j] * out[..., k - j]
        out[..., k] = acc / k
    return out


def _series_log1p(b):
    """log(1 + b) for a power series b with b[0] = 0 (coefficients on the last axis)."""
    n = b.shape[-1]
    out = np.zeros_like(b)
    # (1 + b) l' = b':  k l_k = k b_k - sum_{j=1}^{k-1} j l_j b_{k-j}
    for k in range(1, n):
        acc = k * b[..., k]
        for j in range(1, k):
            acc = acc - j * out[..., j] * b[..., k - j]
        out[..., k] = acc / k
    return out


def _prepare(d, c, w):
    d = np.atleast_1d(np.asarray(d, float))
    c = np.atleast_2d(np.asarray(c, float))
    w = np.atleast_2d(np.asarray(w, float))
    mc = (c * w).sum(axis=-1)
    chat = c / mc[:, None]
    return d, c, w, mc, chat, mixture_atom(c, w)


def _frullani_cumulants(d, chat, w, atom, order):
    """Cumulants kappa_1..kappa_order of log Z~' by the Frullani integral."""
    x, wts = _nodes(d, chat, atom)
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        f = _integrand(x, d[:, None], chat[:, :, None], w[:, :, None], atom[:, None])
    fw = f * wts
    mx = -x
    jcoef = np.empty((len(d), order))
    p = np.ones_like(x)
    for j in range(order):
        jcoef[:, j] = fw.sum(axis=-1) if j == 0 else (fw * p).sum(axis=-1)
        p = p * mx / (j + 1)
    r = _inv_gamma_1mh(order - 1)
    g = np.zeros((len(d), order + 1))      # coefficients of h G(h)
    for j in range(order):
        g[:, j + 1] = (jcoef[:, :j + 1] * r[j::-1]).sum(axis=-1)
    k = _series_log1p(g)
    fact = np.array([math.factorial(j) for j in range(order + 1)], float)
    return (k * fact)[:, 1:]


def _yhat_cumulants(chat, w, nmax):
    """Cumulants kappa_1..kappa_nmax of Yhat = chat g^2 (mixture), shape (N, nmax + 1)."""
    n_rows = chat.shape[0]
    mom = np.zeros((n_rows, nmax + 1))
    dfact = 1.0
    for n in range(nmax + 1):
        if n:
            dfact *= 2 * n - 1
        mom[:, n] = (w * chat ** n).sum(axis=-1) * dfact
    kap = np.zeros_like(mom)
    for n in range(1, nmax + 1):
        acc = mom[:, n].copy()
        for i in range(1, n):
            acc -= math.comb(n - 1, i - 1) * kap[:, i] * mom[:, n - i]
        kap[:, n] = acc
    return kap


def _bivariate_mult(a, b):
    """Product of truncated bivariate series a, b: (N, J, P) -> (N, J, P)."""
    nj, np_ = a.shape[1], a.shape[2]
    out = np.zeros_like(a)
    for j1 in range(nj):
        for p1 in range(np_):
            aa = a[:, j1, p1]
            if not np.any(aa):
                continue
            out[:, j1:, p1:] += aa[:, None, None] * b[:, :nj - j1, :np_ - p1]
    return out


def _series_K(d, chat, w, order, extra=_SERIES_EXTRA):
    """Coefficients k[n, j, p] of log E(1+U)^h = sum_{j,p} k h^j eps^p, eps = 1/d."""
    n_rows = chat.shape[0]
    pmax = order - 1 + extra
    kap = _yhat_cumulants(chat, w, pmax + 1)
    mmax = 2 * pmax
    # moments mu_m(eps) of U as polynomials in eps (degree <= pmax)
    mu = np.zeros((mmax + 1, n_rows, pmax + 1))
    mu[0, :, 0] = 1.0
    for m in range(2, mmax + 1):
        acc = np.zeros((n_rows, pmax + 1))
        for i in range(2, min(m, pmax + 1) + 1):
            shift = i - 1
            acc[:, shift:] += (math.comb(m - 1, i - 1) * kap[:, i:i + 1]
                               * mu[m - i, :, :pmax + 1 - shift])
        mu[m] = acc
    # binom(h, m) as a polynomial in h, truncated at degree `order`
    a = np.zeros((n_rows, order + 1, pmax + 1))
    poly = np.zeros(order + 1)
    poly[0] = 1.0
    for m in range(0, mmax + 1):
        if m:
            # poly *= (h - (m - 1)) / m
            new = np.zeros_like(poly)
            new[1:] += poly[:-1]
            new -= (m - 1) * poly
            poly = new / m
        if m == 0:
            continue
        a += poly[None, :, None] * mu[m][:, None, :]
    # log1p(a): a = O(eps), so pmax terms suffice
    out = np.zeros_like(a)
    power = a.copy()
    for k in range(1, pmax + 1):
        out += ((-1) ** (k + 1) / k) * power
        if k < pmax:
            power = _bivariate_mult(power, a)
    # kappa_j = O(eps^(j-1)) exactly: drop the rounding residue below that order
    jj, pp = np.meshgrid(np.arange(order + 1), np.arange(pmax + 1), indexing="ij")
    out[:, pp < jj - 1] = 0.0
    return out


def _series_cumulants(d, chat, w, order, extra=_SERIES_EXTRA):
    """kappa_1..kappa_order of log Z~ from the 1/d series (atom ignored)."""
    kc = _series_K(d, chat, w, order, extra)
    eps = 1.0 / d
    powers = eps[:, None] ** np.arange(kc.shape[2])[None, :]
    k = (kc * powers[:, None, :]).sum(axis=-1)
    fact = np.array([math.factorial(j) for j in range(order + 1)], float)
    return (k * fact)[:, 1:]


def log_cumulants(d: ArrayLike, c: ArrayLike, w: ArrayLike, order: int = 4) -> np.ndarray:
    """Cumulants kappa_1..kappa_order of log Z', Z' = Z | Z > 0, in float64.

    d: shape (N,) (any real d >= 1); c, w: (N, K) mixture scales (>= 0) and weights
    (summing to 1).  Returns an array (N, order): kappa_1 = E log Z', kappa_2 =
    Var log Z', ...  kappa_1 and kappa_2 come from the Frullani integral for every d;
    kappa_j, j >= 3, from the 1/d series when d >= 150 max(2, max c / E[C])
    (and P(Z = 0) < 1e-30).
    """
    if order < 1:
        raise ValueError("order must be >= 1")
    d, c, w, mc, chat, atom = _prepare(d, c, w)
    out = _frullani_cumulants(d, chat, w, atom, order)
    if order >= 3:
        with np.errstate(divide="ignore"):
            use = ((d >= _D_SERIES * np.maximum(chat.max(axis=-1), 2.0))
                   & (d * np.log(np.where(atom > 0, atom, 1e-300)) < -69.0))
        if np.any(use):
            ser = _series_cumulants(d[use], chat[use], w[use], order)
            out[use, 2:] = ser[:, 2:]
    out[:, 0] += np.log(d * mc)
    return out


# ---------------------------------------------------------------------------
# characteristic function E[Z'^(iu)]
# ---------------------------------------------------------------------------

_PHI_SERIES = 5000.0    # d >= _PHI_SERIES * max(chat_max, 2): cumulant (1/d) series
_PHI_J = 20             # h-degree of the series
_PHI_EXTRA = 4


def _c_expm1(z):
    x, y = z.real, z.imag
    return (np.expm1(x) * np.cos(y) - 2 * np.sin(y / 2) ** 2) + 1j * (np.exp(x) * np.sin(y))


def _c_log1p(z):
    x, y = z.real, z.imag
    return 0.5 * np.log1p(x * (2 + x) + y * y) + 1j * np.arctan2(y, 1 + x)


def _c_rho(z):
    """z - log(1 + 2z)/2 for complex z (Re z >= 0)."""
    zz = 2 * z
    small = np.abs(zz) <= 0.3
    zs = np.where(small, zz, 0.0)
    acc = np.zeros_like(zs)
    for k in range(34, 1, -1):
        acc = acc * zs + ((-1) ** k) / (2.0 * k)
    return np.where(small, acc * zs * zs, z - 0.5 * _c_log1p(zz))


def _c_em1x(y):
    small = np.abs(y) <= 0.5
    ys = np.where(small, y, 0.0)
    acc = np.zeros_like(ys)
    for k in range(20, 1, -1):
        acc = acc * ys + 1.0 / math.factorial(k)
    return np.where(small, acc * ys * ys, _c_expm1(y) - y)


# Complex numbers (Re z >= 0 or near the real axis) for the atom split of _c_integrand.
_COMPLEX = SimpleNamespace(expm1=_c_expm1, log1p=_c_log1p)


def _c_integrand(t, d, chat, w, atom):
    """e^-t - L~'(t) for complex t (Re t >= 0), one row; chat, w: (K, 1)."""
    tau = t / d
    p0 = atom ** d
    small = np.abs(tau) <= 1.0
    ts = np.where(small, tau, 0.0)[None]
    y = (1 - chat) * ts
    s = (w * (_c_expm1(_c_rho(chat * ts)) * np.exp(y) + _c_em1x(y))).sum(axis=0)
    dd = d * _c_log1p(s)
    e_t = np.exp(-t)
    f_small = -e_t * _c_expm1(dd)
    f_small = (f_small - p0 * _c_expm1(-t)) / (1 - p0)
    tb = np.where(small, 1.0, tau)[None]
    base = w / np.sqrt(1 + 2 * chat * tb)
    l_full = np.exp(d * np.log(base.sum(axis=0)))
    alive = (base * (chat > 0)).sum(axis=0)
    l_alive = quadrature.without_atom(l_full, alive, atom, d, _COMPLEX) / (1 - p0)
    return np.where(small, f_small, e_t - l_alive)


def _phi_quadrature(u, d, chat, w, atom):
    """E Z~'^(iu) for u > 0 by the Frullani integral on the ray arg t = -theta."""
    out = np.empty(u.shape, complex)
    cmax = chat.max()
    cmin = chat[chat > 0].min()
    p = quadrature.right_rate(0, d, atom > 0 or d == 1, SCALAR)
    x_lo = min(math.log(d / cmax), 0.0) - 44.0
    edges = [0.0, 0.5] + [2.0 ** k for k in range(0, 40)]
    for lo, hi in itertools.pairwise(edges):
        sel = (u > lo) & (u <= hi)
        if not np.any(sel):
            continue
        uu = u[sel]
        delta = min(1.5, 3.0 / hi)
        theta = math.pi / 2 - delta
        step = min(0.2, math.pi * delta / 42.0)
        x_hi = max(math.log(46.0 / math.sin(delta)) + 1.0,
                   max(math.log(d / cmin), 0.0) + 2.0 + 46.0 / p)
        x = np.arange(x_lo, x_hi + step, step)
        t = np.exp(x - 1j * theta)
        with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
            f = _c_integrand(t, d, chat[:, None], w[:, None], atom)
        f = np.where(np.isfinite(f), f, 0.0) * step
        # J = e^(-theta u) sum f e^(-i u x);  E Z~'^(iu) = 1 + iu J / Gamma(1 - iu)
        ph = np.exp(-1j * np.outer(uu, x))
        s = ph @ f
        pref = 1j * uu * np.exp(-theta * uu - special.loggamma(1 - 1j * uu))
        out[sel] = 1 + pref * s
    return out


def _phi_series(u, d, chat, w):
    kc = _series_K(np.array([d]), chat[None], w[None], _PHI_J, _PHI_EXTRA)[0]
    eps = 1.0 / d
    coef = (kc * eps ** np.arange(kc.shape[1])[None, :]).sum(axis=-1)
    h = 1j * u
    acc = np.zeros(u.shape, complex)
    for j in range(_PHI_J, 0, -1):
        acc = (acc + coef[j]) * h
    return np.exp(acc)


def characteristic_function(u: ArrayLike, d: float, c: ArrayLike, w: ArrayLike) -> np.ndarray:
    """E[exp(i u log Z')] for one mixture row (d scalar; c, w 1-D) and real u (any shape)."""
    u = np.asarray(u, float)
    d, c, w, mc, chat, atom = _prepare(d, c, w)
    d, chat, w, atom = float(d[0]), chat[0], w[0], float(atom[0])
    lm = math.log(d * float(mc[0]))
    au = np.abs(u).ravel()
    res = np.ones(au.shape, complex)
    pos = au > 0
    if np.any(pos):
        use_series = (d >= _PHI_SERIES * max(chat.max(), 2.0)
                      and (atom == 0 or d * math.log(atom) < -69.0))
        if use_series:
            res[pos] = _phi_series(au[pos], d, chat, w)
        else:
            res[pos] = _phi_quadrature(au[pos], d, chat, w, atom)
    res = res * np.exp(1j * au * lm)
    res = np.where(u.ravel() < 0, np.conj(res), res)
    return res.reshape(u.shape)

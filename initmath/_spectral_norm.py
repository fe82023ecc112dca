r"""Expected spectral norm of a Gaussian matrix: exact (float64 Pfaffian) and Tracy-Widom.

:math:`G` is :math:`n \times p` (or :math:`p \times n`), :math:`n \ge p`, with iid N(0, 1)
entries, and :math:`E\lVert G\rVert_2 = E\sqrt{\lambda_{max}}` for the real Wishart matrix
:math:`G^T G \sim W_p(n, I)`.

Exact.  The eigenvalue density is proportional to
:math:`\prod_i \lambda_i^{\alpha} e^{-\lambda_i/2}\prod_{i<j}|\lambda_i - \lambda_j|`,
:math:`\alpha = (n-p-1)/2`, and de Bruijn's (1955) integration of the Vandermonde gives
:math:`P(\lambda_{max} \le x) = \mathrm{Pf}\,A(x) / \mathrm{Pf}\,A(\infty)` with
:math:`A_{ij}(x) = \iint_{[0,x]^2}\mathrm{sgn}(y - t)\phi_i(t)\phi_j(y)\,dt\,dy
= b_{ij}(x) - b_{ji}(x)`, :math:`b_{ij}(x) = \int_0^x \phi_j g_i`,
:math:`g_i(y) = \int_0^y \phi_i` (for odd p the matrix is bordered by the :math:`g_i(x)`),
for ANY basis :math:`\phi_i = t^{\alpha}e^{-t/2}P_i(t)` of that space: a change of basis
multiplies both Pfaffians by the same determinant.  The monomial basis (Chiani 2014) loses
about 3p digits to cancellation; the orthonormal Laguerre basis used here (weight
:math:`t^{n-p}e^{-t}`) keeps A(x) well conditioned, so float64 suffices.  Everything runs in
:math:`u = \sqrt t` (no endpoint singularity, :math:`\sqrt{\lambda_{max}}` is the norm):
composite Gauss-Legendre panels of unit width, the inner integrals :math:`g, b` by spectral
(Legendre) integration matrices on each panel, then
:math:`E\lVert G\rVert_2 = \int_0^\infty (1 - F(u^2))\,du` on a coarser Gauss rule.
Only :math:`u \in [\sqrt n - \sqrt p - 9, \sqrt n + \sqrt p + 9]` is used: by Gaussian
concentration (Davidson-Szarek) the singular values leave it with probability below
:math:`e^{-40}`, so conditioning on it changes nothing in float64.  Agreement with the
mpmath monomial-basis route: 1e-15 relative up to p = 64.

Tracy-Widom.  :math:`\lambda_{max} \approx \mu + s\,T`, :math:`T \sim TW_1`, with
Johnstone's (2001) finite-size centring :math:`\mu = (\sqrt{n'} + \sqrt{p'})^2`,
:math:`s = (\sqrt{n'} + \sqrt{p'})(1/\sqrt{n'} + 1/\sqrt{p'})^{1/3}`,
:math:`n' = n - 1/2`, :math:`p' = p - 1/2`; for a population covariance with two levels
(slopes) El Karoui's (2007) centring (see :func:`two_level_norm`).  The expectation
:math:`E\sqrt{\mu + sT}` is a fixed quadrature against the :math:`TW_1` density, computed
once from Bornemann's (2010) Fredholm determinant
:math:`F_1(t) = \det(I - K)_{L^2(t, \infty)}`, :math:`K(x, y) = \frac12 Ai((x+y)/2)`.
"""
import functools
import math
from fractions import Fraction

import numpy as np
from numpy.polynomial import legendre
from scipy.special import airy, gammaln

# Largest min(n, p) of the exact route (its cost grows like p^3 * panels; 64: ~30 ms).
EXACT_MAX_MIN_WIDTH = 128
# Panel (u-width 1) Gauss nodes for the inner integrals, by p: refined until doubling them
# changes E||G|| by < 1e-15 relative (the Laguerre functions oscillate faster as p grows).
_INNER_NODES = ((16, 16), (64, 20), (EXACT_MAX_MIN_WIDTH, 24))
_OUTER_NODES = 12
# u-margin beyond the bulk [sqrt n - sqrt p, sqrt n + sqrt p]: P(outside) < exp(-40).
_MARGIN = 9.0
# From n - p = 2**12 on, the basis functions are evaluated in the offset u - sqrt(n - p)
# (no cancellation; the direct form loses ~eps (n - p) log(n - p) relative).
_OFFSET_FROM = 2 ** 12
_LOG1PMX_TERMS = 64
# TW_1 quadrature: F_1 is interpolated on [_TW_LO, _TW_HI] (F_1(-14) ~ 1e-49,
# 1 - F_1(12) ~ 1e-14) and integrated with _TW_NODES Gauss-Legendre nodes.
_TW_LO, _TW_HI = -14.0, 12.0
_TW_CHEB_DEGREE = 100
_TW_FREDHOLM_NODES = 90
_TW_NODES = 160
# log r bracket of two_level_norm is < 1 wide: 60 halvings reach rounding.
_BISECTIONS = 60
# Rows of the TW quadrature evaluated at once (memory ~ _CHUNK * _TW_NODES floats).
_CHUNK = 1 << 14


# --------------------------------------------------------------------------- exact
# log(Gamma(x + 1/2) / Gamma(x)) - log(x)/2 = sum_k c_k x^-k (odd k; Stirling with the
# Bernoulli polynomials: c_k = (-1)^(k+1) (B_{k+1}(1/2) - B_{k+1}(0)) / (k (k+1))).
_CHI_SERIES = (-1 / 8, 1 / 192, -1 / 640, 17 / 14336, -31 / 18432, 691 / 180224,
               -5461 / 425984, 929569 / 15728640)
# From this n on the series (next term ~1e-16 relative at n = 16) replaces the gammaln
# difference, which loses about eps * n log n to cancellation (all digits at n ~ 2**53).
_CHI_SERIES_FROM = 16


def chi_mean(n):
    """E chi_n = sqrt(2) Gamma((n+1)/2) / Gamma(n/2) (p = 1), for an array n (real n > 0;
    relative error ~1e-16 for every n up to 2**53 and beyond)."""
    n = np.asarray(n, dtype=float)
    small = n < _CHI_SERIES_FROM
    x = np.where(small, _CHI_SERIES_FROM, n) / 2
    y = 1 / (x * x)
    series = 0.0
    for c in reversed(_CHI_SERIES):
        series = series * y + c
    large = np.sqrt(n) * np.exp(series / x)
    with np.errstate(invalid="ignore", over="ignore"):
        direct = np.sqrt(2.0) * np.exp(gammaln((np.where(small, n, 1) + 1) / 2)
                                       - gammaln(np.where(small, n, 1) / 2))
    return np.where(small, direct, large)


@functools.cache
def _panel_matrices(inner):
    """Gauss nodes/weights on [-1, 1] and the matrices taking values at the inner nodes to
    the integral from -1 up to each inner node (S) and each outer node (S_out)."""
    x, w = legendre.leggauss(inner)
    y, wy = legendre.leggauss(_OUTER_NODES)
    antiderivative = np.stack([legendre.legint(e, lbnd=-1) for e in np.eye(inner)], axis=1)
    to_coefficients = np.linalg.inv(legendre.legvander(x, inner - 1))
    lift = antiderivative @ to_coefficients
    return x, w, legendre.legvander(x, inner) @ lift, wy, legendre.legvander(y, inner) @ lift


def _laguerre_functions(u, n, p):
    r"""Columns :math:`\phi_k(u^2)\cdot 2u`, k < p: the orthonormal Laguerre functions for
    the weight :math:`t^{n-p}e^{-t}` times :math:`t^{\alpha}e^{-t/2}`, with the Jacobian
    dt = 2u du folded in (normalised three-term recurrence, prefactor in logs)."""
    beta = n - p
    t = u * u
    log_power = beta * np.log(u, out=np.zeros_like(u), where=u > 0) if beta else 0.0
    base = np.exp(log_power - t / 2 - 0.5 * gammaln(beta + 1) + math.log(2.0))
    h = np.empty((u.size, p))
    h[:, 0] = base
    if p > 1:
        h[:, 1] = (1 + beta - t) * base / math.sqrt(1 + beta)
    for k in range(1, p - 1):
        h[:, k + 1] = ((2 * k + 1 + beta - t) * h[:, k] - math.sqrt(k * (k + beta))
                       * h[:, k - 1]) / math.sqrt((k + 1) * (k + 1 + beta))
    return h


def _log1pmx(x):
    """log(1 + x) - x for an array x > -1, to full relative accuracy (series for |x| < 1/2)."""
    x = np.asarray(x, dtype=float)
    small = np.abs(x) < 0.5
    xs = np.where(small, x, 0.0)
    series = np.zeros_like(xs)
    for k in range(_LOG1PMX_TERMS, 1, -1):    # x^2 (-1/2 + x/3 - x^2/4 + ...) by Horner
        series = series * xs + (-1.0) ** (k + 1) / k
    series = series * xs * xs
    with np.errstate(invalid="ignore", divide="ignore"):
        direct = np.log1p(np.where(small, 0.0, x)) - np.where(small, 0.0, x)
    return np.where(small, series, direct)


def _offset_laguerre_functions(delta, c, e0, beta, p):
    r""":func:`_laguerre_functions` at :math:`u = c + \delta` for a large ``beta``
    (= n - p), with :math:`c \approx \sqrt{\beta}` (the peak of :math:`u^\beta e^{-u^2/2}`)
    and :math:`e_0 = \beta - c^2` exactly: everything that the direct form computes as a
    difference of numbers of size :math:`\beta` (the log prefactor
    :math:`\beta\log u - u^2/2`, the recurrence's :math:`\beta - t`) is written in
    :math:`\delta`, so no digits are lost however large n is.  The prefactor omits a
    constant (common to every function, it cancels in the Pfaffian ratio)."""
    s = delta * (2 * c + delta) - e0                     # t - beta
    log_base = (beta * _log1pmx(delta / c) + e0 / c * delta - delta * delta / 2
                + math.log(2.0) - 0.25 * math.log(2 * math.pi * beta))
    base = np.exp(log_base)
    h = np.empty((delta.size, p))
    h[:, 0] = base
    if p > 1:
        h[:, 1] = (1 - s) * base / math.sqrt(1 + beta)
    for k in range(1, p - 1):
        h[:, k + 1] = ((2 * k + 1 - s) * h[:, k] - math.sqrt(k * (k + beta))
                       * h[:, k - 1]) / math.sqrt((k + 1) * (k + 1 + beta))
    return h


def _grid(n, p):
    """(origin, lo, panels, first, functions): the panels [origin + lo + j, origin + lo + j
    + 1], j < panels, of u, the first one whose CDF is not negligible, and the map from
    panel-local u offsets to the basis functions."""
    beta = n - p
    if beta < _OFFSET_FROM:
        lo = max(0, math.floor(math.sqrt(n) - math.sqrt(p) - _MARGIN))
        panels = math.ceil(math.sqrt(n) + math.sqrt(p) + _MARGIN) - lo
        # The CDF is below 1e-18 until u = sqrt(n) - 9.5 (||G|| >= a column norm ~ chi_n).
        first = min(panels - 1, max(0, math.floor(math.sqrt(n) - _MARGIN - 0.5) - lo))
        return 0.0, lo, panels, first, lambda u: _laguerre_functions(u, n, p)
    c = math.sqrt(beta)
    e0 = float(Fraction(beta) - Fraction(c) ** 2)
    r = p / (math.sqrt(n) + c)                           # sqrt(n) - c, without cancellation
    lo = math.floor(r - math.sqrt(p) - _MARGIN)
    panels = math.ceil(r + math.sqrt(p) + _MARGIN) - lo
    first = min(panels - 1, max(0, math.floor(r - _MARGIN - 0.5) - lo))
    return c, lo, panels, first, lambda d: _offset_laguerre_functions(d, c, e0, beta, p)


@functools.lru_cache(maxsize=4096)
def exact_norm(n, p):
    """E||G||_2 for G of shape n x p, n >= p >= 1, exactly (float64, ~1e-15 relative).

    n may be any real >= p (the Wishart law W_p(n, I) and its eigenvalue density exist for
    real degrees of freedom; the ReLU mixture uses this to integrate over the number of
    active units with a Gauss rule)."""
    if p == 1:
        return float(chi_mean(n))
    inner = next(nodes for limit, nodes in _INNER_NODES if p <= limit)
    x, w, to_inner, wy, to_outer = _panel_matrices(inner)
    origin, lo, panels, first, functions = _grid(n, p)
    u = lo + np.arange(panels)[:, None] + (x + 1) / 2
    phi = functions(u.ravel()).reshape(panels, inner, p)
    g_offset, b_offset = np.zeros(p), np.zeros((p, p))
    logdets, signs = [], []
    for k in range(panels):
        g = g_offset + 0.5 * to_inner @ phi[k]                       # (inner, p)
        integrand = (g[:, :, None] * phi[k][:, None, :]).reshape(inner, p * p)
        if k >= first:
            b = (b_offset.ravel() + 0.5 * to_outer @ integrand).reshape(-1, p, p)
            matrix = b - np.swapaxes(b, 1, 2)
            if p % 2:                                               # de Bruijn's border
                g_out = g_offset + 0.5 * to_outer @ phi[k]
                matrix = np.pad(matrix, ((0, 0), (0, 1), (0, 1)))
                matrix[:, :p, p] = g_out
                matrix[:, p, :p] = -g_out
            sign, logdet = np.linalg.slogdet(matrix)
            signs.append(sign)
            logdets.append(logdet)
        g_offset = g_offset + 0.5 * w @ phi[k]
        b_offset = b_offset + 0.5 * (w @ integrand).reshape(p, p)
    sign, logdet = np.concatenate(signs), np.concatenate(logdets)
    if not np.all(np.isfinite(logdet) | (sign == 0)):
        raise RuntimeError(f"exact E||G||_2 for ({n}, {p}) overflowed")
    # det A(x) = Pf^2 >= 0; a non-positive value is rounding where F ~ 0.
    cdf = np.where(sign > 0, np.exp(0.5 * (logdet - logdet[-1])), 0.0)
    return float(origin + (lo + first + 0.5 * np.tile(wy, panels - first) @ (1 - cdf)))


# --------------------------------------------------------------------------- Tracy-Widom
def tw1_cdf(t, nodes=_TW_FREDHOLM_NODES):
    """F_1(t) for an array t: Bornemann's Nystrom discretisation of det(I - K) on
    (t, 30 + |t|) (beyond, the kernel is below 1e-19 times its scale)."""
    t = np.asarray(t, dtype=float)[:, None]
    x, w = legendre.leggauss(nodes)
    half = (30.0 + np.abs(t) - t) / 2
    x = t + (x + 1) * half                      # (k, m)
    sw = np.sqrt(w * half)
    kernel = 0.5 * airy((x[:, :, None] + x[:, None, :]) / 2)[0]
    matrix = np.eye(nodes) - sw[:, :, None] * kernel * sw[:, None, :]
    return np.linalg.det(matrix)


@functools.cache
def tw1_quadrature():
    """Nodes t_i and weights w_i with sum w_i g(t_i) ~ E g(T), T ~ TW_1 (computed once)."""
    cheb = np.polynomial.chebyshev
    k = np.arange(_TW_CHEB_DEGREE + 1)
    u = np.cos(np.pi * (k + 0.5) / (_TW_CHEB_DEGREE + 1))
    half = (_TW_HI - _TW_LO) / 2
    coef = cheb.chebfit(u, tw1_cdf(_TW_LO + (u + 1) * half), _TW_CHEB_DEGREE)
    density = cheb.chebder(coef) / half
    g, gw = legendre.leggauss(_TW_NODES)
    t = _TW_LO + (g + 1) * half
    w = gw * half * cheb.chebval(g, density)
    w = np.maximum(w, 0.0)
    return t, w / w.sum()


def tw1_moments() -> tuple[float, float]:
    """Mean and variance of the Tracy-Widom law TW_1 from the library's quadrature
    (Bornemann's Fredholm determinant; published: -1.2065335745820, 1.6077810345810).

    Returns
    -------
    tuple of float
        (mean, variance).

    Examples
    --------
    >>> from initmath.hessian import tw1_moments
    >>> mean, variance = tw1_moments()
    >>> round(mean, 10), round(variance, 9)
    (-1.2065335746, 1.607781035)
    """
    t, w = tw1_quadrature()
    mean = float(w @ t)
    return mean, float(w @ (t - mean) ** 2)


def _mean_sqrt(centre, scale):
    """E sqrt(centre + scale T), T ~ TW_1, elementwise (negative arguments count as 0)."""
    t, w = tw1_quadrature()
    centre, scale = np.broadcast_arrays(centre, scale)
    shape = centre.shape
    centre, scale = centre.ravel(), scale.ravel()
    values = np.empty(centre.size)
    for start in range(0, centre.size, _CHUNK):           # bounded memory for long arrays
        part = slice(start, start + _CHUNK)
        values[part] = np.sqrt(np.maximum(centre[part, None] + scale[part, None] * t,
                                          0.0)) @ w
    return values.reshape(shape)


def johnstone_norm(n, p):
    """Tracy-Widom E||G||_2 with Johnstone's centring and scaling (arrays n, p >= 1)."""
    rn = np.sqrt(np.asarray(n, dtype=float) - 0.5)
    rp = np.sqrt(np.asarray(p, dtype=float) - 0.5)
    return _mean_sqrt((rn + rp) ** 2, (rn + rp) * np.cbrt(1 / rn + 1 / rp))


def two_level_norm(n, k, m, a):
    r"""Tracy-Widom E||M||_2 for an n-column matrix M whose rows are k rows of iid N(0, 1)
    and m rows of iid N(0, a^2), 0 < a < 1, k >= 1 (arrays k, m broadcast; n, a scalars).

    :math:`MM^T` is Wishart with covariance :math:`\Sigma = I_k \oplus a^2 I_m` and n
    degrees of freedom.  El Karoui's (2007) edge: :math:`c \in (0, 1)` solves
    :math:`\frac1n\sum_j(\tau_j c/(1 - \tau_j c))^2 = 1`, then
    :math:`\lambda_{max} \approx \frac1c(n + \sum_j \frac{\tau_j c}{1-\tau_j c})
    + n^{1/3}\frac1c(1 + \frac1n\sum_j(\frac{\tau_j c}{1-\tau_j c})^3)^{1/3}\,T`; with
    Johnstone's finite-size shift, n and the multiplicities each lose a half (k, m in
    proportion).  With :math:`r = c/(1-c)`, :math:`\kappa = k/n`, :math:`\nu = m/n` the
    edge equation reads :math:`f(r) = \kappa r^2 + \nu(a^2 r/(1 + (1-a^2)r))^2 = 1`; f
    increases, :math:`f \le 1` at :math:`r = (\kappa + \nu a^4)^{-1/2}` and
    :math:`f \ge 1` at :math:`\kappa^{-1/2}`, and bisection in log r between the two
    pins the root to rounding.
    """
    k, m = np.broadcast_arrays(np.asarray(k, dtype=float), np.asarray(m, dtype=float))
    shrink = 1 - 0.5 / (k + m)
    n = n - 0.5
    kappa, nu, b = k * shrink / n, m * shrink / n, 1 - a * a
    lo, hi = np.log(kappa + nu * a ** 4) / -2, np.log(kappa) / -2
    for _ in range(_BISECTIONS):
        mid = (lo + hi) / 2
        r = np.exp(mid)
        above = kappa * r * r + nu * (a * a * r / (1 + b * r)) ** 2 > 1
        hi, lo = np.where(above, mid, hi), np.where(above, lo, mid)
    r = np.exp((lo + hi) / 2)
    c = r / (1 + r)
    s = a * a * c / (1 - a * a * c)
    centre = (n + kappa * n * r + nu * n * s) / c
    scale = np.cbrt(n) / c * np.cbrt(1 + kappa * r ** 3 + nu * s ** 3)
    return _mean_sqrt(centre, scale)

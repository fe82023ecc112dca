r"""Spectral-norm ("Hessian") initialization of a dense layer (Skorski 2020, Cor. 2).

A layer :math:`x \mapsto W x` with a :math:`d_{out} \times d_{in}` matrix of iid
:math:`N(0, \sigma^2)` entries has Jacobian :math:`W`; the scheme picks
:math:`\sigma` so that :math:`E\lVert W\rVert_2 = 1`.  Since
:math:`\lVert W\rVert_2 = \sigma \lVert G\rVert_2` with :math:`G` standard Gaussian,

.. math:: \sigma = 1 / E\lVert G\rVert_2 = 1 / E\sqrt{\lambda_{max}(G^T G)},

where :math:`G^T G` (or :math:`G G^T`) is a real Wishart matrix :math:`W_p(n, I)`,
:math:`n = \max(d_{in}, d_{out})`, :math:`p = \min(d_{in}, d_{out})`.

``method=`` chooses how :math:`E\lVert G\rVert_2` is obtained:

* ``"gordon"`` -- the paper's :math:`\sqrt n + \sqrt p` (Gordon's inequality makes it
  an upper bound, so this sigma is a lower bound on the exact one);
* ``"tracy-widom"`` -- :math:`E\sqrt{\mu + s T}` with :math:`T \sim TW_1` and
  Johnstone's (2001) centering :math:`\mu = (\sqrt{n-1/2} + \sqrt{p-1/2})^2` and scale
  :math:`s = \sqrt\mu\,(1/\sqrt{n-1/2} + 1/\sqrt{p-1/2})^{1/3}`; the expectation is a
  fixed quadrature against the :math:`TW_1` density, itself computed once from
  Bornemann's (2010) Fredholm determinant
  :math:`F_1(t) = \det(I - K)_{L^2(t, \infty)}`, :math:`K(x, y) = \frac12 Ai((x+y)/2)`;
* ``"exact"`` -- the exact Wishart value for p <= 32: p = 1 is
  :math:`E\chi_n = \sqrt2\,\Gamma(\frac{n+1}2)/\Gamma(\frac n2)`, p = 2 a closed form
  with Gauss hypergeometric functions at 1/2, p >= 3 the exact CDF
  :math:`F(x) = P(\lambda_{max} \le x) = \mathrm{Pf}\,A(x)/\mathrm{Pf}\,A(\infty)`
  (de Bruijn's Pfaffian of incomplete-gamma entries, as in Chiani 2014) in mpmath, and
  :math:`E\sqrt{\lambda_{max}} = \int_0^\infty (1 - F(u^2))\,du` by composite
  Gauss-Legendre quadrature (about 1e-14 relative).

References
----------
.. [1] M. Skorski, "Revisiting initialization of neural networks" (2020), Cor. 2, Rem. 3.
.. [2] I. M. Johnstone, "On the distribution of the largest eigenvalue in principal
   components analysis", Ann. Statist. 29 (2001) 295-327.
.. [3] F. Bornemann, "On the numerical evaluation of distributions in random matrix
   theory: a review", Markov Process. Related Fields 16 (2010) 803-866.
.. [4] M. Chiani, "Distribution of the largest eigenvalue for real Wishart and Gaussian
   random matrices and a simple approximation for the Tracy-Widom distribution",
   J. Multivariate Anal. 129 (2014) 69-81.
.. [5] X. Glorot and Y. Bengio, "Understanding the difficulty of training deep
   feedforward neural networks", AISTATS 2010.
"""
import functools
import math

import mpmath
import numpy as np
from scipy.special import airy, gammaln

from . import _validate

__all__ = ["glorot_sigma", "hessian_sigma", "hessian_glorot_ratio", "expected_norm"]

METHODS = ("gordon", "tracy-widom", "exact")
# Largest min(d_in, d_out) that method="exact" handles.
EXACT_MAX_MIN_WIDTH = 32
# TW_1 quadrature: F_1 is interpolated on [_TW_LO, _TW_HI] (F_1(-14) ~ 1e-49,
# 1 - F_1(12) ~ 1e-14) and integrated with _TW_NODES Gauss-Legendre nodes.
_TW_LO, _TW_HI = -14.0, 12.0
_TW_CHEB_DEGREE = 100
_TW_FREDHOLM_NODES = 90
_TW_NODES = 160


def _widths(d_in, d_out):
    d_in = _validate.positive_integer(d_in, "d_in")
    d_out = _validate.positive_integer(d_out, "d_out")
    return np.broadcast_arrays(d_in, d_out)


def _finish(out):
    return out[()] if out.ndim == 0 else out


# --------------------------------------------------------------------------- Glorot / ratio
def glorot_sigma(d_in, d_out):
    r"""Glorot/Xavier standard deviation :math:`\sqrt{2/(d_{in} + d_{out})}`.

    Parameters
    ----------
    d_in, d_out : int or array_like of int
        Fan-in and fan-out, integers >= 1 (broadcast together).

    Returns
    -------
    float or ndarray

    Raises
    ------
    ValueError
        If d_in or d_out is not an integer >= 1.

    Examples
    --------
    >>> from initmath.hessian import glorot_sigma
    >>> float(glorot_sigma(3, 5))
    0.5
    """
    d_in, d_out = _widths(d_in, d_out)
    return _finish(np.sqrt(2.0 / (d_in + d_out)))


def hessian_glorot_ratio(d_in, d_out):
    r"""Ratio of the paper's scheme to Glorot's,
    :math:`\frac{1/(\sqrt{d_{in}} + \sqrt{d_{out}})}{\sqrt{2/(d_{in}+d_{out})}}
    = \frac{\sqrt{(d_{in}+d_{out})/2}}{\sqrt{d_{in}} + \sqrt{d_{out}}}`.

    With :math:`r = d_{in}/d_{out}` this is
    :math:`\sqrt{(1+r)/2}/(1+\sqrt r)`, which is 1/2 at r = 1 (square layers) and
    increases to :math:`1/\sqrt2` as r tends to 0 or infinity, so over all shapes it lies
    in :math:`[1/2, 1/\sqrt2)` (the supremum is not attained).  The paper's Remark 3
    ("between 1 and :math:`1/\sqrt2`", "both close for skewed layers") drops Glorot's
    factor :math:`\sqrt2`: the inequality it quotes,
    :math:`\sqrt{a+b} \le \sqrt a + \sqrt b \le \sqrt2\sqrt{a+b}`, gives
    :math:`[1/2, 1/\sqrt2]`, and the two schemes are never closer than a factor
    :math:`\sqrt2`.

    Parameters
    ----------
    d_in, d_out : int or array_like of int
        Integers >= 1.

    Returns
    -------
    float or ndarray

    Raises
    ------
    ValueError
        If d_in or d_out is not an integer >= 1.

    Examples
    --------
    >>> from initmath.hessian import hessian_glorot_ratio
    >>> float(hessian_glorot_ratio(64, 64))
    0.5
    >>> bool(hessian_glorot_ratio(1, 10**8) < 2 ** -0.5)
    True
    """
    d_in, d_out = _widths(d_in, d_out)
    return _finish(np.sqrt((d_in + d_out) / 2.0) / (np.sqrt(d_in) + np.sqrt(d_out)))


# --------------------------------------------------------------------------- Tracy-Widom
def _tw1_cdf(t, nodes=_TW_FREDHOLM_NODES):
    """F_1(t) for an array t: Bornemann's Nystrom discretisation of det(I - K) on
    (t, 30 + |t|) (beyond, the kernel is below 1e-19 times its scale)."""
    t = np.asarray(t, dtype=float)[:, None]
    x, w = np.polynomial.legendre.leggauss(nodes)
    half = (30.0 + np.abs(t) - t) / 2
    x = t + (x + 1) * half                      # (k, m)
    sw = np.sqrt(w * half)
    kernel = 0.5 * airy((x[:, :, None] + x[:, None, :]) / 2)[0]
    matrix = np.eye(nodes) - sw[:, :, None] * kernel * sw[:, None, :]
    return np.linalg.det(matrix)


@functools.lru_cache(maxsize=None)
def _tw1_quadrature():
    """Nodes t_i and weights w_i with sum w_i g(t_i) ~ E g(T), T ~ TW_1 (computed once)."""
    cheb = np.polynomial.chebyshev
    k = np.arange(_TW_CHEB_DEGREE + 1)
    u = np.cos(np.pi * (k + 0.5) / (_TW_CHEB_DEGREE + 1))
    half = (_TW_HI - _TW_LO) / 2
    coef = cheb.chebfit(u, _tw1_cdf(_TW_LO + (u + 1) * half), _TW_CHEB_DEGREE)
    density = cheb.chebder(coef) / half
    g, gw = np.polynomial.legendre.leggauss(_TW_NODES)
    t = _TW_LO + (g + 1) * half
    w = gw * half * cheb.chebval(g, density)
    w = np.maximum(w, 0.0)
    return t, w / w.sum()


def tw1_moments():
    """Mean and variance of TW_1 from the quadrature (published: -1.2065335745820,
    1.6077810345810)."""
    t, w = _tw1_quadrature()
    mean = float(w @ t)
    return mean, float(w @ (t - mean) ** 2)


def _tw_expected_norm(n, p):
    n = n.astype(float) - 0.5
    p = p.astype(float) - 0.5
    rn, rp = np.sqrt(n), np.sqrt(p)
    mu = (rn + rp) ** 2
    scale = (rn + rp) * np.cbrt(1 / rn + 1 / rp)
    t, w = _tw1_quadrature()
    flat_mu, flat_s = mu.ravel(), scale.ravel()
    values = np.sqrt(np.maximum(flat_mu[:, None] + flat_s[:, None] * t, 0.0)) @ w
    return values.reshape(mu.shape)


# --------------------------------------------------------------------------- exact
def _exact_p1(n):
    """E chi_n = sqrt(2) Gamma((n+1)/2) / Gamma(n/2)."""
    n = n.astype(float)
    return np.sqrt(2.0) * np.exp(gammaln((n + 1) / 2) - gammaln(n / 2))


@functools.lru_cache(maxsize=4096)
def _exact_p2(n):
    r"""E sqrt(lambda_max) for W_2(n, I), in closed form.

    The eigenvalues have density proportional to
    :math:`(l_1 l_2)^a e^{-(l_1+l_2)/2}(l_1 - l_2)`, :math:`l_1 > l_2`,
    :math:`a = (n-3)/2`.  Integrating out :math:`l_2` gives lower incomplete gammas,
    and Gradshteyn-Ryzhik 6.455.2,
    :math:`\int_0^\infty x^{\mu-1}e^{-x}\gamma(\nu, x)dx
    = \frac{\Gamma(\mu+\nu)}{\nu\,2^{\mu+\nu}}\,{}_2F_1(1, \mu+\nu; \nu+1; \tfrac12)`,
    leaves :math:`E l_1^h \propto \Gamma(2a+h+3)\,D(h)`,
    :math:`D(h) = \frac{{}_2F_1(1, 2a+h+3; a+2; 1/2)}{a+1}
    - \frac{{}_2F_1(1, 2a+h+3; a+3; 1/2)}{a+2}`.  scipy's hyp2f1 is wrong here
    from n ~ 20 on, so this runs in mpmath (about 0.5 ms, cached per n).
    """
    with mpmath.workdps(30 + len(str(n))):
        a = (mpmath.mpf(n) - 3) / 2

        def difference(h):
            return (mpmath.hyp2f1(1, 2 * a + h + 3, a + 2, 0.5) / (a + 1)
                    - mpmath.hyp2f1(1, 2 * a + h + 3, a + 3, 0.5) / (a + 2))

        return float(mpmath.exp(mpmath.loggamma(2 * a + 3.5) - mpmath.loggamma(2 * a + 3))
                     * difference(mpmath.mpf(0.5)) / difference(0))


def _determinant(rows):
    """Determinant of a square list-of-lists of mpf (Gaussian elimination with partial
    pivoting; several times faster than mpmath.det, which indexes an mpmatrix)."""
    rows = [row[:] for row in rows]
    size, det = len(rows), mpmath.mpf(1)
    for k in range(size):
        pivot = max(range(k, size), key=lambda r: abs(rows[r][k]))
        if rows[pivot][k] == 0:
            return mpmath.mpf(0)
        if pivot != k:
            rows[k], rows[pivot] = rows[pivot], rows[k]
            det = -det
        top = rows[k]
        det *= top[k]
        inverse = 1 / top[k]
        for r in range(k + 1, size):
            row = rows[r]
            factor = row[k] * inverse
            if factor:
                for c in range(k + 1, size):
                    row[c] -= factor * top[c]
    return det


def _skew_determinant(p, x, alpha):
    r"""det A(x) of the de Bruijn / Chiani skew-symmetric matrix (mpmath, x may be inf).

    With :math:`\phi_i(t) = t^{\alpha+i-1}e^{-t/2}`, :math:`g_i(y) = \int_0^y \phi_i`,
    :math:`a_{ij} = \iint_{[0,x]^2}\mathrm{sgn}(y-t)\phi_i(t)\phi_j(y)\,dt\,dy
    = 2 b_{ij} - g_i(x) g_j(x)`, :math:`b_{ij} = \int_0^x \phi_j g_i`; for odd p a
    border column :math:`g_i(x)` is added.  Integration by parts gives the recursions
    (:math:`\gamma` the lower incomplete gamma function)
    :math:`b_{i+1,j} = 2(\alpha+i) b_{ij} - 2\gamma(2\alpha+i+j, x)`,
    :math:`b_{1,j+1} = 2(\alpha+j) b_{1j} + 2\gamma(2\alpha+j+1, x)
    - 2x^{\alpha+j}e^{-x/2}g_1(x)`, :math:`b_{11} = g_1(x)^2/2`; the g's and
    gamma's themselves come from one incomplete gamma each by the (stable) downward
    recursion.
    """
    inf = x == mpmath.inf
    ex2 = mpmath.mpf(0) if inf else mpmath.exp(-x / 2)
    ex = ex2 * ex2
    g = [None] * p                        # g[i] = g_{i+1}(x)
    g[p - 1] = 2 ** (alpha + p) * mpmath.gammainc(alpha + p, 0, x / 2)
    for i in range(p - 1, 0, -1):
        m = alpha + i
        g[i - 1] = (g[i] + (0 if inf else 2 * x ** m * ex2)) / (2 * m)
    gam = [None] * (2 * p + 1)            # gam[s] = gamma(2 alpha + s, x), s = 2..2p
    gam[2 * p] = mpmath.gammainc(2 * alpha + 2 * p, 0, x)
    for s in range(2 * p, 2, -1):
        c = 2 * alpha + s - 1
        gam[s - 1] = (gam[s] + (0 if inf else x ** c * ex)) / c
    b = [[None] * p for _ in range(p)]
    b[0][0] = g[0] ** 2 / 2
    for j in range(1, p):
        edge = 0 if inf else 2 * ex2 * x ** (alpha + j) * g[0]
        b[0][j] = 2 * (alpha + j) * b[0][j - 1] + 2 * gam[j + 1] - edge
    for i in range(1, p):
        factor = 2 * (alpha + i)
        for j in range(p):
            b[i][j] = factor * b[i - 1][j] - 2 * gam[i + j + 1]
    q = p + p % 2
    rows = [[2 * b[i][j] - g[i] * g[j] for j in range(p)] + ([g[i]] if q > p else [])
            for i in range(p)]
    if q > p:
        rows.append([-v for v in g] + [mpmath.mpf(0)])
    return _determinant(rows)


# Composite Gauss-Legendre in u = sqrt(x): panels of width _PANEL, _PANEL_NODES nodes;
# panels where F < _CDF_TINY or 1 - F < _CDF_TINY are dropped.
_PANEL = 1.0
_PANEL_NODES = 10
_CDF_TINY = 1e-18


class _NeedDigits(Exception):
    pass


def _exact_general_at(n, p, dps):
    """_exact_general at dps digits; _NeedDigits if the CDF comes out non-positive,
    above 1 or non-monotone (the signature of too few digits)."""
    with mpmath.workdps(dps):
        alpha = (mpmath.mpf(n) - p - 1) / 2

        def determinant(x):
            det = _skew_determinant(p, x, alpha)
            if not det > 0:                   # Pf^2 of a positive quantity: rounding
                raise _NeedDigits(2 * dps)
            return det

        norm = determinant(mpmath.inf)
        previous = [0.0]

        def cdf(u):                           # called with increasing u only
            value = float(mpmath.sqrt(determinant(mpmath.mpf(u) ** 2) / norm))
            if not previous[0] - 1e-15 <= value <= 1 + 1e-15:   # not a monotone CDF
                raise _NeedDigits(2 * dps)
            previous[0] = value
            return value

        # P(s_max < sqrt(n) - t) <= exp(-t^2/2), P(s_max > sqrt(n)+sqrt(p)+t) <= exp(-t^2/2)
        lo = max(0, math.floor(math.sqrt(n)) - 9)
        hi = math.ceil(math.sqrt(n) + math.sqrt(p) + 9)
        edges = list(range(lo, hi + 1))
        # drop panels where 1 - F is 1 or 0 to double precision (F is monotone)
        left, right = 0, len(edges) - 1
        while left + 1 < right and cdf(edges[left + 1]) < _CDF_TINY:
            left += 1
        while right - 1 > left and 1 - cdf(edges[right - 1]) < _CDF_TINY:
            right -= 1
            previous[0] = 0.0
        previous[0] = 0.0
        u, w = np.polynomial.legendre.leggauss(_PANEL_NODES)
        total = float(edges[left])
        for a in edges[left:right]:
            nodes = a + (u + 1) * _PANEL / 2
            total += _PANEL / 2 * float(w @ (1 - np.array([cdf(v) for v in nodes])))
        return total


@functools.lru_cache(maxsize=4096)
def _exact_general(n, p, extra_digits=0):
    r"""E sqrt(lambda_max) = int_0^inf (1 - F(u^2)) du with the exact CDF
    :math:`F(x) = \sqrt{\det A(x) / \det A(\infty)}` (Chiani 2014, de Bruijn 1955),
    at 20 + 3p + log10(n) digits (the monomial moment matrices are ill-conditioned:
    about 3p digits are lost; tested against 450 digits), doubled if the CDF is not a
    monotone function in [0, 1].
    """
    dps = 20 + 3 * p + len(str(n)) + extra_digits
    while True:
        try:
            return _exact_general_at(n, p, dps)
        except _NeedDigits as need:
            dps = max(need.args[0], dps + 10)
            if dps > 4000:
                raise RuntimeError(f"exact E||G||_2 for ({n}, {p}) did not stabilise") from None


def _exact_expected_norm(n, p):
    if np.any(p > EXACT_MAX_MIN_WIDTH):
        bad = p[p > EXACT_MAX_MIN_WIDTH].flat[0]
        raise ValueError(f"method='exact' is implemented only for min(d_in, d_out) <= "
                         f"{EXACT_MAX_MIN_WIDTH} (its mpmath cost grows like p^4: ~4.5 s at "
                         f"32); got "
                         f"min(d_in, d_out) = {bad}. Use method='tracy-widom'.")
    out = np.empty(n.shape)
    one = p == 1
    out[one] = _exact_p1(n[one])
    for index in np.ndindex(n.shape):
        if one[index]:
            continue
        ni, pi = int(n[index]), int(p[index])
        out[index] = _exact_p2(ni) if pi == 2 else _exact_general(ni, pi)
    return out


# --------------------------------------------------------------------------- public
def expected_norm(d_in, d_out, *, method="exact"):
    r""":math:`E\lVert G\rVert_2` for a :math:`d_{out} \times d_{in}` matrix of iid
    N(0, 1) entries.

    Parameters
    ----------
    d_in, d_out : int or array_like of int
        Integers >= 1 (broadcast together).  The value is symmetric in them.
    method : {"exact", "tracy-widom", "gordon"}
        See the module docstring.  ``"exact"`` needs min(d_in, d_out) <= 32.

    Returns
    -------
    float or ndarray

    Raises
    ------
    ValueError
        If d_in or d_out is not an integer >= 1, method is unknown, or method="exact"
        with min(d_in, d_out) > 32.

    Notes
    -----
    Gordon's inequality gives :math:`E\lVert G\rVert_2 \le \sqrt{d_{in}} + \sqrt{d_{out}}`.
    The Tracy-Widom value (beta = 1, Johnstone's centering) differs from the exact one
    by -33% at (1, 1), -21% at (2, 2), -1.4% at (8, 8), -0.4% at (16, 16), -0.16% at
    (64, 8), -0.12% at (64, 16), +0.05% at (1000, 3); at min(d) = 1 it needs n ~ 1000
    for 0.03%.  method="exact" costs about 0.05 s (p = 3), 0.16 s (p = 8), 0.6 s
    (p = 16), 4.5 s (p = 32) per new shape in mpmath (cached per shape); p = 1 (any n)
    and p = 2 (about 1 ms) are closed forms.

    Examples
    --------
    >>> import math
    >>> from initmath.hessian import expected_norm
    >>> math.isclose(expected_norm(1, 2), math.sqrt(math.pi / 2), rel_tol=1e-14)
    True
    >>> math.isclose(expected_norm(2, 2), math.sqrt(math.pi), rel_tol=1e-13)
    True
    """
    d_in, d_out = _widths(d_in, d_out)
    _validate.choice(method, "method", METHODS)
    n, p = np.maximum(d_in, d_out), np.minimum(d_in, d_out)
    if method == "gordon":
        return _finish(np.sqrt(n) + np.sqrt(p))
    if method == "tracy-widom":
        return _finish(_tw_expected_norm(n, p))
    return _finish(_exact_expected_norm(n, p))


def hessian_sigma(d_in, d_out, *, method="gordon"):
    r"""Standard deviation :math:`\sigma` with :math:`E\lVert W\rVert_2 \approx 1` for
    :math:`W_{ij} \sim N(0, \sigma^2)`, :math:`W` of shape :math:`d_{out} \times d_{in}`.

    :math:`\sigma = 1 / E\lVert G\rVert_2` (see :func:`expected_norm`); with
    ``method="gordon"`` this is the paper's Eq. (8),
    :math:`1/(\sqrt{d_{in}} + \sqrt{d_{out}})`.

    Parameters
    ----------
    d_in, d_out : int or array_like of int
        Fan-in and fan-out, integers >= 1 (broadcast together).
    method : {"gordon", "tracy-widom", "exact"}
        ``"gordon"`` (paper), ``"tracy-widom"`` (TW_1 approximation, any widths) or
        ``"exact"`` (min(d_in, d_out) <= 32).

    Returns
    -------
    float or ndarray

    Raises
    ------
    ValueError
        If d_in or d_out is not an integer >= 1, method is unknown, or method="exact"
        with min(d_in, d_out) > 32.

    Examples
    --------
    >>> from initmath.hessian import hessian_sigma
    >>> float(hessian_sigma(16, 9))
    0.14285714285714285
    >>> bool(hessian_sigma(1, 4, method="exact") > hessian_sigma(1, 4))   # Gordon bound
    True
    >>> hessian_sigma([64, 256], 64, method="tracy-widom").round(5)
    array([0.06432, 0.04237])
    """
    return _finish(1.0 / np.asarray(expected_norm(d_in, d_out, method=method)))

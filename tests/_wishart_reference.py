"""Independent high-precision reference for E||G||_2 (tests only).

The largest-eigenvalue CDF of W_p(n, I) by de Bruijn's Pfaffian in the MONOMIAL basis with
incomplete-gamma entries (Chiani 2014), evaluated in mpmath at 20 + 3p digits (the
monomial moment matrices lose about 3p digits), and E sqrt(lambda_max) = int (1 - F(u^2))
du by composite Gauss-Legendre; plus the p = 2 closed form in 2F1 at 1/2.  This is the
route initmath used before its float64 orthonormal-basis version; it shares no code with
initmath._spectral_norm and is ~100-1000x slower.
"""
import functools
import math

import mpmath
import numpy as np


@functools.lru_cache(maxsize=4096)
def p2_closed_form(n):
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


def _pfaffian_at(n, p, dps):
    """monomial_pfaffian at dps digits; _NeedDigits if the CDF comes out non-positive,
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
def monomial_pfaffian(n, p, extra_digits=0):
    r"""E sqrt(lambda_max) = int_0^inf (1 - F(u^2)) du with the exact CDF
    :math:`F(x) = \sqrt{\det A(x) / \det A(\infty)}` (Chiani 2014, de Bruijn 1955),
    at 20 + 3p + log10(n) digits (the monomial moment matrices are ill-conditioned:
    about 3p digits are lost; tested against 450 digits), doubled if the CDF is not a
    monotone function in [0, 1].
    """
    dps = 20 + 3 * p + len(str(n)) + extra_digits
    while True:
        try:
            return _pfaffian_at(n, p, dps)
        except _NeedDigits as need:
            dps = max(need.args[0], dps + 10)
            if dps > 4000:
                raise RuntimeError(f"exact E||G||_2 for ({n}, {p}) did not stabilise") from None

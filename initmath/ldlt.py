r"""Marginal output variance of an LDLT / Cholesky Lipschitz layer at initialization.

The layer is :math:`y = \gamma W_0(\alpha I_n + W_0^\top W_0)^{-1/2} x` (equivalently
:math:`\gamma W_0 R^{-1}x` with :math:`R^\top R = W_0^\top W_0 + \alpha I_n`; the two
differ by an orthogonal factor on the right, so for :math:`x \sim N(0, I_n)` the law of
:math:`y` is the same).  :math:`W_0` is :math:`m\times n` with iid :math:`N(0,\sigma^2)`
entries.  Given :math:`W_0`, :math:`\operatorname{Cov}(y) = \gamma^2 W_0(\alpha I_n +
W_0^\top W_0)^{-1}W_0^\top = \gamma^2 S(\alpha I_m + S)^{-1}` (push-through identity,
:math:`S = W_0W_0^\top`), and the rows of :math:`W_0` are exchangeable, so

.. math:: \operatorname{Var}[y_i] = \frac{\gamma^2}{m}\,E\operatorname{tr}\bigl[S(\alpha I_m
          + S)^{-1}\bigr] = \frac{\gamma^2}{m}\Bigl(p - a\,E\sum_{j=1}^{p}\frac{1}{a+x_j}
          \Bigr), \qquad a = \alpha/\sigma^2,

with :math:`p = \min(m, n)`, :math:`q = \max(m, n)` and :math:`x_j` the eigenvalues of a
real Wishart :math:`W_p(q, I_p)` matrix (Laguerre orthogonal ensemble, weight
:math:`x^{(q-p-1)/2}e^{-x/2}`); the :math:`m - p` zero eigenvalues of :math:`S` add nothing.

``method="exact"`` evaluates :math:`R(a) = E\sum_j (a+x_j)^{-1}` exactly (to rounding) in
O(p) work.  de Bruijn's formula writes :math:`E\prod_j(1+tf(x_j))` as a ratio of Pfaffians
for any basis of :math:`\{P(x)x^c e^{-x/2}: \deg P<p\}`, :math:`c = (q-p-1)/2`.  The basis
:math:`u_i = -\tfrac12 (x s_i w)'`, :math:`i \le p-2` (:math:`s_i` the orthonormal Laguerre
polynomials of parameter :math:`q-p`, :math:`w = x^c e^{-x/2}`), completed by :math:`w`,
makes the skew Gram matrix a weighted path, because :math:`\varepsilon u_i = x s_i w` and
:math:`u_i = \tfrac14(\beta_i s_{i+1} - \beta_{i-1}s_{i-1})w`, :math:`\beta_i =
\sqrt{(i+1)(i+1+q-p)}`.  The result is

.. math:: R(a) = \sum_{k=0}^{p-2} s_k(-a)Q_k(a) + \tfrac14\beta_{p-2}Q_{p-1}(a)\sum_j z_j
          s_j(-a) + \text{(one scalar integral of } \psi_{p-1}\text{)},

:math:`Q_k(a) = \int s_k(x)x^{q-p}e^{-x}/(x+a)\,dx`: the Laguerre-unitary sum of size
:math:`p-1` plus two rank-one corrections (the known LOE/LUE structure).  The products
:math:`s_k(-a)Q_k(a) = 1/(\beta_k(\rho_k - \sigma_k))` come from ratio recurrences (the
Casoratian :math:`\beta_k(s_kQ_{k+1} - s_{k+1}Q_k) = 1`), forward for :math:`s` and
backward (continued fraction) for :math:`Q`, so nothing overflows; the last integral,
:math:`\int\psi_{p-1}(x)x^{-1/2}E(x)/(x+a)dx` for even :math:`p` (:math:`E` the
:math:`\varepsilon`-transform of :math:`w`) or without :math:`E` for odd :math:`p`, is done
by composite Gauss-Legendre in :math:`t = \sqrt x` where it is analytic.  For
:math:`p = 1`, :math:`R = E[1/(\chi^2_q + a)]`.
"""
import math

import numpy as np
from numpy.polynomial.legendre import leggauss
from scipy.special import gammainc, gammaln

from . import _validate

__all__ = ["ldlt_output_variance", "ldlt_sigma_for_variance", "ldlt_series_radius"]

METHODS = ("exact", "series", "asymptotic", "large_sigma")
_GL_NODES, _GL_WEIGHTS = leggauss(16)
# Below this q sigma^2 / alpha, p - a R(a) cancels badly; the 3-term series is then
# accurate to ~1e-13 relative and replaces it inside method="exact".
_SERIES_SWITCH = 1e-4
# Terms of the small-sigma series (it is asymptotic at finite size: more terms do not
# converge for a Wishart matrix, whose largest eigenvalue is unbounded).
_SERIES_TERMS = 3


# --------------------------------------------------------------------------- exact
def _psi_last(p, al, x):
    """Orthonormal Laguerre function psi_{p-1}(x) (weight x^al e^-x), log-scaled recurrence."""
    logs = 0.5 * al * np.log(x) - 0.5 * x - 0.5 * gammaln(al + 1)
    p0, p1 = np.zeros_like(x), np.ones_like(x)
    for k in range(p - 1):
        bk, bk1 = math.sqrt((k + 1) * (k + 1 + al)), math.sqrt(k * (k + al))
        p0, p1 = p1, ((x - (2 * k + al + 1)) * p1 - bk1 * p0) / bk
        if k % 8 == 7:
            s = np.abs(p1) + np.abs(p0) + 1e-300
            p0, p1, logs = p0 / s, p1 / s, logs + np.log(s)
    return p1 * np.exp(logs)


def _special_integral(p, al, a, with_e):
    """int_0^inf psi_{p-1}(x) x^(-1/2) [E(x)/Z] / (x + a) dx, in t = sqrt(x)."""
    c = (al - 1) / 2.0
    edge = (math.sqrt(p) + math.sqrt(p + al)) ** 2
    t_max = math.sqrt(edge + 15 * edge ** (1 / 3) + 60)
    h = 2 * math.pi / math.sqrt(edge + 1)          # one local wavelength at most
    breaks = set(np.arange(0.0, t_max, h).tolist()) | {t_max}
    t, sa = h, math.sqrt(a)
    while t > sa / 8:                               # grade towards the pole at i sqrt(a)
        t /= 2
        breaks.add(t)
    br = np.array(sorted(breaks))
    lo, hi = br[:-1, None], br[1:, None]
    t = (0.5 * (hi - lo) * _GL_NODES + 0.5 * (hi + lo)).ravel()
    wt = (0.5 * (hi - lo) * _GL_WEIGHTS).ravel()
    x = t * t
    val = 2.0 * _psi_last(p, al, x) / (x + a)
    if with_e:
        val = val * (1 - 2 * gammainc(c + 1, x / 2))
    return float(np.dot(wt, val))


def _q_ratios(p, al, a):
    """rho_k = Q_{k+1}(a)/Q_k(a), k < p, by backward recurrence (Q is the minimal solution)."""
    k_top = int(min(max(2 * p + 50, (math.sqrt(p) + 9 / math.sqrt(a)) ** 2), 3e6))
    r, out = 0.0, np.empty(p)
    for k in range(k_top, 0, -1):
        r = -math.sqrt(k * (k + al)) / (2 * k + al + 1 + a
                                        + math.sqrt((k + 1) * (k + 1 + al)) * r)
        if k - 1 < p:
            out[k - 1] = r
    return out


def _chi2_resolvent(q, a):
    """E[1/(X + a)], X ~ chi^2_q."""
    k = q / 2.0
    logz = k * math.log(2) + gammaln(k)
    mode = max(2 * (k - 1), 0.0)
    f = lambda x: math.exp((k - 1) * math.log(x) - x / 2 - logz) / (x + a) if x > 0 else 0.0
    pts = [0.0, mode, mode + 20 * math.sqrt(2 * q) + 50]
    from scipy import integrate      # imported on use: it adds ~0.1 s to `import initmath`
    val = sum(integrate.quad(f, lo, hi, epsabs=0, epsrel=1e-13, limit=200)[0]
              for lo, hi in zip(pts[:-1], pts[1:]) if hi > lo)
    return val + integrate.quad(f, pts[-1], np.inf, epsabs=0, epsrel=1e-13)[0]


def _resolvent_trace(p, q, a):
    """R(a) = E sum_j 1/(x_j + a) for the eigenvalues of a p x p real Wishart W_p(q, I)."""
    if p == 1:
        return _chi2_resolvent(q, a)
    al, c = q - p, (q - p - 1) / 2.0
    k = np.arange(p, dtype=float)
    beta, d = np.sqrt((k + 1) * (k + 1 + al)), 2 * k + al + 1
    sig = np.empty(p)                               # s_{k+1}(-a) / s_k(-a)
    sig[0] = (-a - d[0]) / beta[0]
    for i in range(1, p):
        sig[i] = ((-a - d[i]) - beta[i - 1] / sig[i - 1]) / beta[i]
    diag = 1.0 / (beta * (_q_ratios(p, al, a) - sig))     # s_k(-a) Q_k(a) > 0
    total = diag[:p - 1].sum()
    if p >= 3:                                      # column p-2 of the inverse Gram matrix
        js = np.arange(p - 3, -1, -2)
        z = np.empty(js.size)
        z[0] = -4 / beta[p - 3]
        for t in range(1, js.size):
            j = js[t - 1]
            z[t] = beta[j - 1] * z[t - 1] / beta[j - 2]
        logs = np.concatenate([np.cumsum(np.log(np.abs(sig[p - 2::-1])))[::-1], [0.0]])
        sgn = np.concatenate([np.cumprod(np.sign(sig[p - 2::-1]))[::-1], [1.0]])
        total += beta[p - 2] / 4 * diag[p - 1] * np.dot(z, sgn[js] * np.exp(-logs[js]))
    log_z_over_g = (c + 1) * math.log(2) + gammaln(c + 1) - 0.5 * gammaln(al + 1)
    if p % 2 == 0:
        zeta = 1.0
        for j in range(2, p - 1, 2):
            zeta *= beta[j - 2] / beta[j - 1]
        total -= (0.25 * zeta * math.exp(log_z_over_g) * beta[p - 2]
                  * _special_integral(p, al, a, True))
    else:
        zt = -4 / beta[0]
        for i in range(1, p - 2, 2):
            zt *= beta[i] / beta[i + 1]
        total -= (0.25 * zt * math.exp(-log_z_over_g) * beta[p - 2]
                  * _special_integral(p, al, a, False))
    return total


# --------------------------------------------------------------------------- series
def ldlt_series_radius(m, n, alpha=1.0):
    r"""Radius in :math:`\sigma^2` used by ``method="series"``: :math:`\alpha/(\sqrt m +
    \sqrt n)^2`.

    The series :math:`\sum_k (-1)^{k-1}\alpha^{-k}\operatorname{tr}S^k` converges iff
    :math:`\lambda_{max}(S) < \alpha`.  A Wishart matrix has unbounded support, so in
    expectation the series is only asymptotic at any finite size; the radius used is
    where :math:`\alpha` meets the top of the Marchenko-Pastur support,
    :math:`\sigma^2(\sqrt m + \sqrt n)^2`.

    Parameters
    ----------
    m, n : int or array_like
        Shape of W, integers >= 1.
    alpha : float or array_like, default 1
        The diagonal shift :math:`\alpha > 0`.

    Returns
    -------
    float or ndarray

    Examples
    --------
    >>> ldlt_series_radius(4, 4, 1.0)
    0.0625
    """
    return float(alpha) / (math.sqrt(m) + math.sqrt(n)) ** 2


def _series(m, n, sigma, alpha):
    """(1/m) sum_{k<=_SERIES_TERMS} (-1)^(k-1) alpha^-k E tr S^k, exact moments from
    initmath.wishart (imported here: it needs sympy, which `import initmath` avoids)."""
    from .wishart import wishart_trace_moment
    s2 = sigma * sigma / alpha
    return sum((-1) ** (k - 1) * float(wishart_trace_moment(k, m, n)) * s2 ** k
               for k in range(1, _SERIES_TERMS + 1)) / m


def _mp_limit(m, n, sigma, alpha):
    """Marchenko-Pastur limit of (1/m) E tr S (alpha + S)^-1 at y = m/n, sigma^2 n fixed."""
    y, b = m / n, alpha / (sigma * sigma * n)
    disc = math.sqrt((1 - y + b) ** 2 + 4 * y * b)
    # g(-b) = int dmu(x) / (x + b), rationalised to avoid cancellation
    g = 2.0 / ((1 - y + b) + disc) if (1 - y + b) > 0 else (disc - (1 - y + b)) / (2 * y * b)
    return 1 - b * g


# --------------------------------------------------------------------------- public
def _scalar_var(m, n, sigma, alpha, method):
    p, q = min(m, n), max(m, n)
    if method == "asymptotic":
        return _mp_limit(m, n, sigma, alpha)
    if method == "large_sigma":
        if q - p < 2:
            raise ValueError("method='large_sigma' needs |m - n| >= 2 (E tr S^-1 finite), "
                             f"got m={m}, n={n}")
        return p / m * (1 - alpha / (sigma * sigma * (q - p - 1)))
    if method == "series":
        if sigma * sigma >= ldlt_series_radius(m, n, alpha):
            raise ValueError(f"sigma must satisfy sigma^2 < alpha/(sqrt(m)+sqrt(n))^2 = "
                             f"{ldlt_series_radius(m, n, alpha):g} for method='series', "
                             f"got sigma={sigma!r}")
        return _series(m, n, sigma, alpha)
    a = alpha / (sigma * sigma)
    if q * sigma * sigma / alpha < _SERIES_SWITCH:
        return _series(m, n, sigma, alpha)
    return (p - a * _resolvent_trace(p, q, a)) / m


def ldlt_output_variance(m, n, sigma, alpha=1.0, gamma=1.0, *, method="exact"):
    r"""Marginal output variance :math:`\operatorname{Var}[y_i]` of an LDLT Lipschitz layer.

    .. math:: \operatorname{Var}[y_i] = \frac{\gamma^2}{m}E\operatorname{tr}\bigl[S(\alpha
              I_m + S)^{-1}\bigr], \qquad S = W_0W_0^\top \sim W_m(n, \sigma^2 I_m).

    Parameters
    ----------
    m, n : int or array_like
        Output and input widths (:math:`W_0` is m x n), integers >= 1.
    sigma : float or array_like
        Entry standard deviation of :math:`W_0`, > 0.
    alpha : float or array_like
        Regulariser :math:`\alpha > 0`.
    gamma : float or array_like
        Output scale.
    method : {"exact", "series", "asymptotic", "large_sigma"}
        ``"exact"``: finite m, n, any sigma (module docstring; relative error ~1e-10).
        ``"series"``: :math:`\frac{\gamma^2}{m}\sum_{k=1}^{3}(-1)^{k-1}\alpha^{-k}
        E\operatorname{tr}S^k`, refused (ValueError) unless
        :math:`\sigma^2 < \alpha/(\sqrt m+\sqrt n)^2`.  ``"asymptotic"``: the
        Marchenko-Pastur limit at :math:`y = m/n`, :math:`b = \alpha/(\sigma^2 n)`,
        :math:`\gamma^2[1 - b\,g(-b)]`, :math:`g(-b) = \frac{\sqrt{(1-y+b)^2+4yb}-(1-y+b)}
        {2yb}`.  ``"large_sigma"``: :math:`\gamma^2\frac pm\bigl(1 - \frac{\alpha}
        {\sigma^2(q-p-1)}\bigr) + O(\sigma^{-4})`, needs :math:`|m-n| \ge 2`.

    Returns
    -------
    float or ndarray

    Examples
    --------
    >>> from scipy.special import erfc
    >>> exact = 1 - math.sqrt(math.pi / 2) * math.exp(0.5) * erfc(math.sqrt(0.5))
    >>> bool(abs(ldlt_output_variance(1, 1, 1.0) - exact) < 1e-12)  # E[X/(1+X)], X ~ chi^2_1
    True
    >>> round(float(ldlt_output_variance(64, 64, 1 / 8)), 6)
    0.380787
    >>> round(float(ldlt_output_variance(64, 64, 1 / 8, method="asymptotic")), 6)
    0.381966
    """
    m = _validate.positive_integer(m, "m")
    n = _validate.positive_integer(n, "n")
    sigma = _validate.real(sigma, "sigma", 0, None, low_open=True)
    alpha = _validate.real(alpha, "alpha", 0, None, low_open=True)
    gamma = _validate.real(gamma, "gamma")
    _validate.choice(method, "method", METHODS)
    m, n, sigma, alpha, gamma = np.broadcast_arrays(m, n, sigma, alpha, gamma)
    out = np.empty(m.shape)
    for idx in np.ndindex(m.shape):
        out[idx] = gamma[idx] ** 2 * _scalar_var(int(m[idx]), int(n[idx]), float(sigma[idx]),
                                                 float(alpha[idx]), method)
    return out[()] if out.ndim == 0 else out


def ldlt_sigma_for_variance(target, m, n, alpha=1.0, gamma=1.0):
    r"""The sigma with ``ldlt_output_variance(m, n, sigma, alpha, gamma) == target``.

    The variance increases strictly from 0 (:math:`\sigma \to 0`) to
    :math:`\gamma^2\min(m,n)/m` (:math:`\sigma \to \infty`), so a target in that open
    interval has exactly one solution; it is bracketed in :math:`\log\sigma` and found by
    Brent's method on the exact variance.

    Parameters
    ----------
    target : float
        Wanted output variance, in the open interval above.
    m, n : int
        Shape of W, integers >= 1.
    alpha, gamma : float, default 1
        As in :func:`ldlt_output_variance`.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        If an argument is outside its range or target outside the attainable interval.

    Examples
    --------
    >>> s = ldlt_sigma_for_variance(0.5, 16, 16)
    >>> round(float(ldlt_output_variance(16, 16, s)), 10)
    0.5
    """
    m = int(_validate.positive_integer(m, "m"))
    n = int(_validate.positive_integer(n, "n"))
    alpha = float(_validate.real(alpha, "alpha", 0, None, low_open=True))
    gamma = float(_validate.real(gamma, "gamma"))
    if gamma == 0:
        raise ValueError("gamma must be nonzero for ldlt_sigma_for_variance, got 0.0")
    top = gamma * gamma * min(m, n) / m
    target = float(_validate.real(target, "target", 0, top, low_open=True, high_open=True))
    f = lambda ls: gamma * gamma * _scalar_var(m, n, math.exp(ls), alpha, "exact") - target
    s0 = 0.5 * math.log(alpha / max(m, n))
    lo, hi = s0 - 2, s0 + 2
    while f(lo) > 0:
        lo -= 4
    while f(hi) < 0:
        hi += 4
        if hi - s0 > 60:
            raise ValueError(f"target={target!r} is too close to the supremum {top!r}")
    from scipy import optimize       # imported on use, as scipy.integrate above
    return math.exp(optimize.brentq(f, lo, hi, xtol=1e-15, rtol=1e-14))

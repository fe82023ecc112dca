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
import itertools
import math

import numpy as np
from numpy.polynomial.legendre import leggauss
from numpy.typing import ArrayLike
from scipy.special import gammainc, gammaln

from . import _validate
from ._engine.evaluate import elementwise, ldexp, unwrap

__all__ = ["ldlt_output_variance", "ldlt_series_radius", "ldlt_sigma_for_variance"]

METHODS = ("exact", "series", "asymptotic", "large_sigma")
_GL_NODES, _GL_WEIGHTS = leggauss(16)
# Below this q sigma^2 / alpha, p - a R(a) cancels badly; the 5-term series is then
# accurate to ~1e-16 relative (the next term is c_6/c_1 (sigma^2/alpha)^5 <= 10395 * 1e-20
# at m = n = 1, ~(4e-4)^5 for large m, n) and replaces it inside method="exact" (with 3
# terms, as method="series" has, the error reached 1e-10 at m = n = 1).
_SERIES_SWITCH = 1e-4
_EXACT_TERMS = 5
_LOG_SIGMA_MIN = math.log(5e-324)
# Terms of the small-sigma series (it is asymptotic at finite size: more terms do not
# converge for a Wishart matrix, whose largest eigenvalue is unbounded).
_SERIES_TERMS = 3
# Below this alpha / sigma^2 the deficit p - a R(a) is under 1e-17 p: Var = p/m to rounding.
_A_LIMIT = 1e-34
# Largest estimated seconds (_exact_seconds) of one exact evaluation (m = n = 8192: ~1.7 s,
# the limit is near m = n = 9800; the last integral costs ~min(m,n) (sqrt(m) + sqrt(n))^2
# for m ~ n), and of each of ldlt_sigma_for_variance's ~40 evaluations (m = n = 2048:
# ~0.11 s, the limit is near m = n = 2700).
EXACT_SECONDS_MAX = 2.5
# Largest |m - n| for the exact route at min(m, n) >= 2: its rounding error grows with it
# (up to ~1e-10 relative at 1e5, ~1e-9 at 1e6, 1e-8 at 1e7, against the 1/q expansion).
EXACT_ASPECT_MAX = 10 ** 5
SOLVE_SECONDS_MAX = 0.2
# Most elements of one broadcast call (each is a separate evaluation).
ELEMENTS_MAX = 10 ** 6
# Estimated seconds per element of the routes other than "exact" (_exact_seconds).
_ROUTE_SECONDS = {"series": 3e-4, "chi2": 2e-3, "limit": 1e-5, "asymptotic": 1e-5,
                  "large_sigma": 1e-5}


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


def _panels(p, al):
    """(t_min, t_max, h): the range of t = sqrt(x) where psi_{p-1} lives and the panel
    width of the last integral.  psi_{p-1}^2 lives between the turning points
    (sqrt(p + al) -+ sqrt(p))^2, with Airy tails of scale edge^(1/3) and, when q >> p, a
    Gaussian spread ~sqrt(al) (psi_0^2 is a Gamma(al + 1) density): cut 12 of those
    beyond (the edge^(1/3) cut alone truncated it, 2e-4 off at p = 2, q = 1e5)."""
    edge = (math.sqrt(p) + math.sqrt(p + al)) ** 2
    low = (math.sqrt(p + al) - math.sqrt(p)) ** 2
    spread = 12 * math.sqrt(al + 1)
    t_max = math.sqrt(edge + 15 * edge ** (1 / 3) + spread + 60)
    t_min = math.sqrt(max(0.0, low - 15 * low ** (1 / 3) - spread - 60))
    return t_min, t_max, 2 * math.pi / math.sqrt(edge + 1)   # one local wavelength at most


def _special_integral(p, al, a, with_e):
    """int_0^inf psi_{p-1}(x) x^(-1/2) [E(x)/Z] / (x + a) dx, in t = sqrt(x)."""
    c = (al - 1) / 2.0
    t_min, t_max, h = _panels(p, al)
    breaks = set(np.arange(t_min, t_max, h).tolist()) | {t_max}
    t, sa = h, math.sqrt(a)
    while t_min == 0 and t > sa / 8:                # grade towards the pole at i sqrt(a)
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


def _chi2_fraction(q, a):
    """E[X/(X + a)], X ~ chi^2_q, from the Laplace transform E e^{-sX} = (1 + 2s)^{-q/2}:
    1 - int_0^inf e^{-t} (1 + 2t/a)^{-q/2} dt for a < q (the deficit a E[1/(X + a)]),
    else int_0^inf q e^{-as} (1 + 2s)^{-q/2-1} ds; log1p throughout, so any q up to 2**53
    and any a > 0 (no cancellation, no huge powers)."""
    from scipy import integrate  # imported on use: it adds ~0.1 s to `import initmath`

    def quad(f, points):
        return sum(integrate.quad(f, lo, hi, epsabs=0, epsrel=1e-13, limit=200)[0]
                   for lo, hi in itertools.pairwise(points))
    if a < q:
        f = lambda t: math.exp(-t - q / 2 * math.log1p(2 * t / a))
        s = a / q                                   # the scale where the integrand falls
        return 1 - quad(f, sorted({0.0, s, 10 * s, 40 * s, 200 * s, min(a, 1.0), 1.0, 40.0})
                        + [math.inf])
    scale = a + q + 2.0
    f = lambda u: q / scale * math.exp(-a * u / scale - (q / 2 + 1) * math.log1p(2 * u / scale))
    return quad(f, [0.0, 1.0, 40.0, math.inf])


def _resolvent_trace(p, q, a):
    """R(a) = E sum_j 1/(x_j + a) for the eigenvalues of a p x p real Wishart W_p(q, I)."""
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
def ldlt_series_radius(m: ArrayLike, n: ArrayLike, alpha: ArrayLike = 1.0) -> float | np.ndarray:
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
        Shape of W, integers in [1, 2**53].
    alpha : float or array_like, default 1
        The diagonal shift :math:`\alpha > 0`, finite.

    Returns
    -------
    float or ndarray
        All arguments broadcast together.

    Raises
    ------
    ValueError
        If an argument is outside its range.

    Examples
    --------
    >>> ldlt_series_radius(4, 4, 1.0)
    0.0625
    """
    m = _validate.positive_integer(m, "m")
    n = _validate.positive_integer(n, "n")
    alpha = _validate.real(alpha, "alpha", 0, None, low_open=True)
    _validate.broadcast(m=m, n=n, alpha=alpha)
    out = alpha / (np.sqrt(m) + np.sqrt(n)) ** 2
    return float(out) if out.ndim == 0 else out


def _series(m, n, ratio, terms=_SERIES_TERMS):
    """(1/m) sum_{k<=terms} (-1)^(k-1) alpha^-k E tr S^k as (mantissa, exponent),
    ratio = sigma^2/alpha given as (mantissa r, exponent e): the terms are
    2^e sum_k (-1)^(k-1) c_k r^k 2^((k-1)e), so a sigma^2/alpha far below float64's range
    (sigma = 1e-300) keeps every digit.  Exact moments from initmath.wishart (imported
    here: it needs sympy, which `import initmath` avoids)."""
    from .wishart import wishart_trace_moment
    r, e = ratio
    total = sum((-1) ** (k - 1) * (float(wishart_trace_moment(k, m, n)) / m) * r ** k
                * ldexp(1.0, (k - 1) * e) for k in range(1, terms + 1))
    return total, e


def _mp_limit(m, n, ratio):
    """Marchenko-Pastur limit of (1/m) E tr S (alpha + S)^-1 at y = m/n, sigma^2 n fixed,
    as (mantissa, exponent); b = alpha/(sigma^2 n) and u = 1/b from the scaled ratio."""
    y = m / n
    r, e = ratio
    u_m, u_e = math.frexp(r * n)
    u_e += e
    u = ldexp(u_m, u_e)
    if u >= 1:                                      # b <= 1: no cancellation in 1 - b g
        b = 1 / u
        lead = 1 - y + b
        disc = math.sqrt(lead * lead + 4 * y * b)
        bg = 2 * b / (lead + disc) if lead > 0 else (disc - lead) / (2 * y)
        return 1 - bg, 0
    # b > 1: 1 - b g(-b) = 4u / ((D + B)(A + D)) with A = 1 + (1-y)u, B = 1 - (1-y)u,
    # D = sqrt(A^2 + 4yu) = sqrt(B^2 + 4u), rationalised when A < 0; ~u as u -> 0
    A, B = 1 + (1 - y) * u, 1 - (1 - y) * u
    D = math.sqrt(A * A + 4 * y * u)
    if A >= 0:
        return 4 * u_m / ((D + B) * (A + D)), u_e
    return (D - A) / (y * (D + B)), 0


def _ratio(sigma, alpha):
    """sigma^2/alpha as (mantissa, exponent): exact to rounding at any sigma, alpha."""
    ms, es = math.frexp(sigma)
    ma, ea = math.frexp(alpha)
    r, e = math.frexp(ms * ms / ma)
    return r, e + 2 * es - ea


def _exact_seconds(p, q, a=None):
    """Estimated seconds of the exact route (measured on one core of a loaded 2-core
    machine): the last integral, p steps of recurrence at 16 nodes per panel, and (given
    a) the backward recurrence, O(k_top)."""
    if p == 1:
        return 0.01
    t_min, t_max, h = _panels(p, q - p)
    seconds = 4e-8 * p * ((t_max - t_min) / h + 1) + 1e-3
    if a is not None:
        seconds += 2.5e-7 * min(max(2 * p + 50, (math.sqrt(p) + 9 / math.sqrt(a)) ** 2), 3e6)
    return seconds


def _route(m, n, sigma, alpha, method):
    """(route, ratio) for one element: which evaluation the arguments take."""
    p, q = min(m, n), max(m, n)
    ratio = _ratio(sigma, alpha)
    if method != "exact":
        return method, ratio
    if q * ldexp(*ratio) < _SERIES_SWITCH:
        return "series", ratio
    a = ldexp(1 / ratio[0], -ratio[1])
    if a < _A_LIMIT:
        return "limit", ratio
    if p == 1:
        return "chi2", ratio
    if q - p > EXACT_ASPECT_MAX:
        raise ValueError(
            f"m, n = {m}, {n} are too far from square for method='exact' (it needs "
            f"|m - n| <= {EXACT_ASPECT_MAX:.0e} when min(m, n) >= 2: its rounding error grows "
            f"with |m - n|, ~1e-10 relative at the limit, ~1e-9 at 1e6): use "
            f"method='asymptotic' (the Marchenko-Pastur limit, relative error "
            f"~min(m,n)/(8 max(m,n)) here)")
    if _exact_seconds(p, q) > EXACT_SECONDS_MAX:
        raise ValueError(
            f"m, n = {m}, {n} are too large for method='exact' (~{_exact_seconds(p, q):.3g}"
            f" s estimated, the limit is {EXACT_SECONDS_MAX:g} s, about m = n = 9800; the "
            f"work grows like min(m,n) * (sqrt(m)+sqrt(n))**2 / (1 + |m-n| / min(m,n)) "
            f"roughly): use method='asymptotic' (the Marchenko-Pastur limit, relative error "
            f"O(1/min(m, n)))")
    return "exact", ratio


def _route_seconds(m, n, route):
    """The estimated time of one evaluation along its route."""
    if route[0] != "exact":
        return _ROUTE_SECONDS[route[0]]
    return _exact_seconds(min(m, n), max(m, n), ldexp(1 / route[1][0], -route[1][1]))


def _scalar_var(m, n, sigma, alpha, method, route=None):
    """Var[y_i] / gamma^2 as (mantissa, exponent) (value mantissa * 2**exponent)."""
    p, q = min(m, n), max(m, n)
    route, ratio = route or _route(m, n, sigma, alpha, method)
    if route == "asymptotic":
        return _mp_limit(m, n, ratio)
    a = ldexp(1 / ratio[0], -ratio[1])             # alpha / sigma^2
    if route == "large_sigma":
        if q - p < 2:
            raise ValueError("method='large_sigma' needs |m - n| >= 2 (E tr S^-1 finite), "
                             f"got m={m}, n={n}")
        if a >= q - p - 1:
            raise ValueError(f"sigma must satisfy sigma**2 > alpha/(|m - n| - 1) for "
                             f"method='large_sigma' (a large-sigma expansion), got "
                             f"sigma={sigma!r}")
        return p / m * (1 - a / (q - p - 1)), 0
    if route == "series":
        if method == "series" and ldexp(*ratio) * (math.sqrt(m) + math.sqrt(n)) ** 2 >= 1:
            raise ValueError(f"sigma must satisfy sigma^2 < alpha/(sqrt(m)+sqrt(n))^2 = "
                             f"{alpha / (math.sqrt(m) + math.sqrt(n)) ** 2:g} for "
                             f"method='series', got sigma={sigma!r}")
        return _series(m, n, ratio, _SERIES_TERMS if method == "series" else _EXACT_TERMS)
    if route == "chi2":
        return _chi2_fraction(q, a) / m, 0
    if route == "limit":
        # a < 1e-34: a R(a) / p <= ~sqrt(a / p) < 1e-17 (hard edge of the Wishart
        # spectrum, q = p; smaller for q > p), below rounding: Var = p/m to float64
        return (p / m * (1 - a / (q - p - 1)) if q - p >= 2 else p / m), 0
    return (p - a * _resolvent_trace(p, q, a)) / m, 0


def ldlt_output_variance(m: ArrayLike, n: ArrayLike, sigma: ArrayLike, alpha: ArrayLike = 1.0,
                         gamma: ArrayLike = 1.0, *, method: str = "exact") -> float | np.ndarray:
    r"""Marginal output variance :math:`\operatorname{Var}[y_i]` of an LDLT Lipschitz layer.

    .. math:: \operatorname{Var}[y_i] = \frac{\gamma^2}{m}E\operatorname{tr}\bigl[S(\alpha
              I_m + S)^{-1}\bigr], \qquad S = W_0W_0^\top \sim W_m(n, \sigma^2 I_m).

    Parameters
    ----------
    m, n : int or array_like
        Output and input widths (:math:`W_0` is m x n), integers in [1, 2**53].
    sigma : float or array_like
        Entry standard deviation of :math:`W_0`, any finite float > 0.
    alpha : float or array_like
        Regulariser :math:`\alpha`, any finite float > 0.
    gamma : float or array_like
        Output scale, any finite float (the result :math:`\gamma^2 \operatorname{Var}`
        must fit in float64).
    method : {"exact", "series", "asymptotic", "large_sigma"}
        ``"exact"``: finite m, n, any sigma (module docstring; relative error ~1e-10).
        It takes the 3-term series where :math:`q\sigma^2/\alpha < 10^{-4}`, returns
        :math:`\min(m,n)/m` (to rounding) where :math:`\alpha/\sigma^2 < 10^{-34}`, and
        :math:`E[X/(X+a)]`, :math:`X\sim\chi^2_q`, by its Laplace transform for
        :math:`\min(m,n) = 1` (any q); otherwise the O(p) Pfaffian formula, whose last
        integral costs about :math:`p(\sqrt p+\sqrt q)^2` for m ~ n; it needs
        :math:`|m-n| \le 10^5` (its relative error grows with it: ~1e-10 there), and is
        refused
        (ValueError pointing to ``"asymptotic"``) where it is estimated above 2.5 s (near
        m = n = 9800; m = n = 8192 takes ~1.7 s), and a broadcast call whose estimated
        total exceeds 15 s is refused up front.
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
        sigma^2 / alpha and gamma^2 enter in scaled arithmetic, so sigma = 1e-300 or
        1e200 neither under- nor overflows on the way (values below float64's range
        round to 0).

    Raises
    ------
    ValueError
        For arguments outside their domain, non-broadcasting shapes, an exact evaluation
        beyond the work limit, ``"series"`` outside its radius, ``"large_sigma"`` with
        :math:`|m-n| < 2` or :math:`\sigma^2 \le \alpha/(|m-n|-1)`, or a result
        :math:`\gamma^2\operatorname{Var}` beyond float64's range.

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
    m, n, sigma, alpha, gamma = _validate.broadcast(m=m, n=n, sigma=sigma, alpha=alpha,
                                                    gamma=gamma)
    if m.size > ELEMENTS_MAX:
        raise ValueError(f"m, n, sigma, alpha, gamma broadcast to {m.size} elements; at most "
                         f"{ELEMENTS_MAX} per call (each is a separate evaluation)")
    routes = elementwise(lambda m_i, n_i, sigma_i, alpha_i: _route(
        int(m_i), int(n_i), float(sigma_i), float(alpha_i), method), m, n, sigma, alpha)
    seconds = sum(_route_seconds(int(m_i), int(n_i), route)      # bound the work first
                  for m_i, n_i, route in zip(m.flat, n.flat, routes.flat))
    if seconds > _validate.WORK_BUDGET_S / 2:
        raise ValueError(f"m, n, sigma: these {m.size} evaluations would take ~"
                         f"{seconds:.0f} s (> {_validate.WORK_BUDGET_S / 2:g} s): pass fewer "
                         f"at a time, or use method='asymptotic' for the large m, n")

    def variance(m_i, n_i, sigma_i, alpha_i, gamma_i, route):
        value, exponent = _scalar_var(int(m_i), int(n_i), float(sigma_i), float(alpha_i),
                                      method, route)
        g, shift = math.frexp(abs(float(gamma_i)))        # gamma^2 scaled, too
        return ldexp(value * g * g, exponent + 2 * shift)

    out = elementwise(variance, m, n, sigma, alpha, gamma, routes, dtype=float)
    _validate.finite_result(out, "gamma**2 * Var[y_i]", hint="|gamma| is too large for "
                            "float64 (the variance is at most gamma**2)")
    return unwrap(out)


def ldlt_sigma_for_variance(target: ArrayLike, m: ArrayLike, n: ArrayLike, alpha: ArrayLike = 1.0,
                            gamma: ArrayLike = 1.0) -> float | np.ndarray:
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
        Shape of W, integers >= 1 whose exact variance is estimated at <= 0.2 s (near
        m = n = 2700; Brent's method evaluates it ~40 times).
    alpha, gamma : float, default 1
        As in :func:`ldlt_output_variance` (single numbers; gamma nonzero).

    Returns
    -------
    float

    Raises
    ------
    ValueError
        If an argument is outside its range or an array, m, n beyond the work limit, or
        target outside the attainable interval (or within rounding of its supremum).

    Examples
    --------
    >>> s = ldlt_sigma_for_variance(0.5, 16, 16)
    >>> round(float(ldlt_output_variance(16, 16, s)), 10)
    0.5
    """
    m = _validate.integer_scalar(m, "m")
    n = _validate.integer_scalar(n, "n")
    alpha = _validate.real_scalar(alpha, "alpha", 0, None, low_open=True)
    gamma = abs(_validate.real_scalar(gamma, "gamma"))
    if gamma == 0:
        raise ValueError("gamma must be nonzero for ldlt_sigma_for_variance, got 0.0")
    p, q = min(m, n), max(m, n)
    if _exact_seconds(p, q) > SOLVE_SECONDS_MAX:
        raise ValueError(f"m, n = {m}, {n} are too large for ldlt_sigma_for_variance (each "
                         f"of its ~40 exact evaluations would take ~{_exact_seconds(p, q):.3g}"
                         f" s, the limit is {SOLVE_SECONDS_MAX:g} s, about m = n = 2700): "
                         f"solve ldlt_output_variance(m, n, sigma, method='asymptotic') == "
                         f"target instead")
    target = _validate.real_scalar(target, "target", 0, None, low_open=True)
    # log of the variance / gamma^2 (the variance at gamma = 1, in (0, p/m)): in logs, since
    # target / gamma^2 can be subnormal (target 5e-324 gamma^2) and lose its digits
    log_want = math.log(target) - 2 * math.log(gamma)
    if not log_want < math.log(p / m):
        raise ValueError(f"target must lie in (0, gamma**2*min(m,n)/m) = (0, "
                         f"{gamma * gamma * p / m:g}), got {target!r}")

    def f(log_sigma):
        value, exponent = _scalar_var(m, n, math.exp(log_sigma), alpha, "exact")
        return math.log(value) + exponent * math.log(2) - log_want
    s0 = 0.5 * math.log(alpha) - 0.5 * math.log(q)
    lo, hi = s0 - 2, s0 + 2
    while f(lo) > 0:                # Var ~ q sigma^2/alpha: ends by log sigma ~ s0 - 380
        lo -= 4
        if lo < _LOG_SIGMA_MIN:
            raise ValueError(f"target={target!r} needs a sigma below float64's range "
                             f"(sigma**2 ~ target*alpha/(gamma**2*max(m,n)) < 5e-324**2)")
    while f(hi) < 0:
        hi += 4
        if hi - s0 > 60:
            raise ValueError(f"target={target!r} is too close to the supremum "
                             f"gamma**2*min(m,n)/m = {gamma * gamma * p / m!r}")
    from scipy import optimize  # imported on use, as scipy.integrate above
    return math.exp(optimize.brentq(f, lo, hi, xtol=1e-15, rtol=1e-14))

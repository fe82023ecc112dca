r"""Lyapunov exponent and the exact law of log‖x_k‖ (Gurbuzbalaban & Hu, Theorems 5, 11, 14).

For x_{k+1} = φ_a(W_k x_k), W_k iid N(0, σ²) entries (d × d, zero bias),

.. math:: \log\lVert x_k\rVert = \log\lVert x_0\rVert + \sum_{j=1}^k X_j, \qquad
          X_j = \log\sigma + \tfrac12 \log Z_j,

with Z_j iid copies of Z = ‖φ_a(g)‖², g ~ N(0, I_d) (see :mod:`initmath.critical_variance`).
For ReLU (a = 0) Z has an atom P(Z = 0) = 2^{-d}; as in the paper everything is then
conditional on x_k ≠ 0, i.e. on Z_1, ..., Z_k > 0, which makes the X_j iid copies of
log σ + ½ log Z' with Z' = Z | Z > 0.  One function carries everything: the cumulant
generating function Λ(s) = log E[e^{sX}] = log(σ^s I'(s, d)) with I'(s, d) = E Z'^{s/2};

* μ_a(σ) = Λ'(0) = log σ + ½ E log Z' (the Lyapunov exponent, Theorems 5 and 11),
* s_a² = Λ''(0) = ¼ Var log Z' (the CLT variance; it does not depend on σ),
* the exact law of log‖x_k‖ at any finite k from the characteristic function
  E e^{iuX}^k = (σ^{iu} E Z'^{iu/2})^k (Gil-Pelaez inversion),
* σ̄(s) solves Λ(s) = 0 for a > 0 (Theorem 14's sign statement follows from convexity).

The cumulants and the characteristic function of log Z' come from
:mod:`initmath._engine.logmoments` (Laplace-transform integrals whose cost does not grow
with d).
"""
import dataclasses
import math
from collections.abc import Callable
from typing import Any

import mpmath
import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from . import _docs, _validate
from ._engine.evaluate import at_precision, elementwise, guard_digits, unwrap
from ._engine.logmoments import characteristic_function, log_cumulants
from ._engine.mixture import slope_scales

__all__ = [
    "LogNormLaw",
    "edge_sigma",
    "log_norm_distribution",
    "log_norm_variance",
    "lyapunov_exponent",
    "stochastic_dominance",
]

# Gil-Pelaez: the characteristic function is cut where it falls below this (it is
# computed to ~1e-13 absolute), and r is processed in blocks to bound memory.
_CF_FLOOR = 1e-12
# Complex terms per block of r (bounds memory), and work limits of the inversion: beyond
# _DIRECT_WORK terms a uniformly spaced r goes through a chirp-z transform; beyond _WORK_MAX
# (~20 s at ~70 ns a term) a scattered r is refused with a ValueError; a grid longer than
# _GRID_MAX points (only tiny slopes at small d and k, where the law is a lattice of peaks
# |log a| apart, or huge d at small k, where the support's 30-wide margin for the left tail
# meets a characteristic function ~sqrt(d/k) wide) is refused with a ValueError.
_BLOCK_TERMS = 2 ** 21
_DIRECT_WORK = 2 * 10 ** 7
_WORK_MAX = 3 * 10 ** 8
_GRID_MAX = 2 * 10 ** 6
# The cumulant series of the centred log characteristic function (huge k) keeps orders
# 2.._SERIES_ORDER; it is used where the last kept term is below 1e-15 at the grid's end.
_SERIES_ORDER = 8
# stochastic_dominance's grid.
_POINTS_MAX = 10 ** 5
# Shevtsova (2011): sup |F_k - Phi| <= C rho / (s^3 sqrt k) for iid sums, C = 0.4748.
BERRY_ESSEEN_C = 0.4748
# What the public functions return: float64 (a scalar or an array) or mpmath numbers.
Result = float | np.ndarray | mpmath.mpf


# Slopes below this take the two-scale split (_split_cumulants): a**2 would leave the
# quadrature's range (it underflows below ~1e-154) while the split's error, O(a log a), is
# already far below float64 resolution (< 1e-37).
_A_TINY = 1e-40


def _split_log10_error(d, a):
    """log10 of a bound (up to a modest constant) on the error of the two-scale split at
    slope a > 0: O(a^2 log(1/a)) from the bulk of n >= 2 positive units and
    O(d^1.5 2^-d a log(1/a)) from n = 1, where E log(1 + a^2 B/g^2) ~ a sqrt(2 pi E B)."""
    log_a = math.log(a)
    log_d = math.log(d)
    bulk = 2 * log_a
    single = log_a + 1.5 * log_d - d * math.log(2)
    return (max(bulk, single) + math.log(2) + math.log(100 * (1 - log_a))) / math.log(10)


def _use_split(d, a):
    """float64: the split for 0 < a < _A_TINY, and above it wherever its error bound is
    below float64 resolution (it is also the fast route: the quadrature's cost grows like
    log(1/a)^2 for the law at small d)."""
    return 0 < a < 1 and (a < _A_TINY or _split_log10_error(d, a) < -16.5)


def _chi2_log_cumulants(d, order):
    """Cumulants of log chi2_d (float arrays d): log 2 + psi(d/2), then psi^(j-1)(d/2)."""
    x = np.asarray(d, float) / 2
    out = [math.log(2) + special.digamma(x)]
    out += [special.polygamma(j - 1, x) for j in range(2, order + 1)]
    return out


def _mix_cumulants(p, q, kappa_0, kappa_1):
    """Cumulants of the mixture p law_0 + q law_1 from the components' cumulants (lists
    kappa_1..kappa_n; numpy arrays or mpmath numbers): moments about the mixture's mean
    (no large shifts, so the O(delta^j) Bernoulli terms and the components' own cumulants
    add without cancellation), mixed, then back to cumulants."""
    n = len(kappa_0)
    delta = kappa_1[0] - kappa_0[0]
    mean = kappa_0[0] + q * delta

    def moments(kappa, shift):
        kap = [None, shift] + list(kappa[1:])
        mom = [1]
        for m in range(1, n + 1):
            mom.append(sum(math.comb(m - 1, i - 1) * kap[i] * mom[m - i]
                           for i in range(1, m + 1)))
        return mom

    mom_0, mom_1 = moments(kappa_0, -q * delta), moments(kappa_1, p * delta)
    mom = [p * x + q * y for x, y in zip(mom_0, mom_1)]
    kap = [None, None]
    for m in range(2, n + 1):      # mom[1] = 0: the terms with kappa_1 of the centred law vanish
        kap.append(mom[m] - sum(math.comb(m - 1, i - 1) * kap[i] * mom[m - i]
                                for i in range(2, m)))
    return [mean] + kap[2:]


def _split_cumulants(d, log_a, order):
    """Cumulants of log Z at a tiny slope a > 0, from log a (never a**2).

    Z = chi2_n + a^2 chi2_{d-n} with n ~ Bin(d, 1/2) positive units.  With probability
    q = 2^-d every unit is negative and log Z = 2 log a + log chi2_d exactly; otherwise
    Z = chi2_n (1 + O(a^2 / chi2_n)) is ReLU's Z' up to O(a log(1/a)) (see _split_error).
    So log Z is the mixture (1 - q) log Z'_ReLU + q (2 log a + log chi2_d).
    """
    d = np.asarray(d, float)
    relu = log_cumulants(d, *slope_scales(np.zeros(d.size)), order)
    chi2 = _chi2_log_cumulants(d, order)
    chi2[0] = chi2[0] + 2 * np.asarray(log_a, float)
    q = np.exp2(-d)
    p = -np.expm1(-d * math.log(2))
    return np.stack(_mix_cumulants(p, q, list(relu.T), chi2), axis=-1)


def _cumulants(d, a, order):
    """Cumulants of log Z' for broadcast float arrays d, a: shape d.shape + (order,)."""
    d, a = np.broadcast_arrays(d, a)
    flat_d, flat_a = d.ravel().astype(float), a.ravel().astype(float)
    out = np.empty((flat_d.size, order))
    tiny = np.array([_use_split(x, y) for x, y in zip(flat_d, flat_a)], bool).reshape(
        flat_a.shape) if flat_a.size else np.zeros(0, bool)
    if (~tiny).any():
        out[~tiny] = log_cumulants(flat_d[~tiny], *slope_scales(flat_a[~tiny]), order)
    if tiny.any():
        out[tiny] = _split_cumulants(flat_d[tiny], np.log(flat_a[tiny]), order)
    return out.reshape(d.shape + (order,))


# Below this width the closed forms for a = 0 and a = 1 are used for the characteristic
# function (complex log-gamma differences lose ~d/2 ulps, fine up to here); above it,
# and for 0 < a < 1, initmath._engine.logmoments (its quadrature is slow for small d).
_CLOSED_FORM_MAX_D = 10**4


def _log_z_characteristic_function(u, d, a):
    """E[Z'^{iu}] = E exp(iu log Z') for one (d, a), vectorised over u."""
    u = np.asarray(u, float)
    iu = 1j * u
    if 0 < a < 1 and (d == 1 or _use_split(d, a)):
        # The mixture of _split_cumulants: (1 - q) ReLU's Z' + q a^2 chi2_d, q = 2^-d (exact
        # for d = 1, where Z = c g^2; within O(a log(1/a)) < 1e-37 for tiny a), phases by log a.
        q = math.ldexp(1.0, -d) if d < 1100 else 0.0
        out = -math.expm1(-d * math.log(2)) * _log_z_characteristic_function(u, d, 0.0)
        if q > 0:
            out = out + q * np.exp(iu * (2 * math.log(a) + math.log(2))
                                   + special.loggamma(d / 2 + iu) - special.gammaln(d / 2))
        return out
    if d > _CLOSED_FORM_MAX_D or 0 < a < 1:
        return characteristic_function(u, d, *slope_scales(a))
    if a == 1:           # Z ~ chi2_d
        return np.exp(iu * math.log(2) + special.loggamma(d / 2 + iu) - special.gammaln(d / 2))
    # ReLU: n ~ Bin(d, 1/2) | n >= 1 positive units, Z' | n ~ chi2_n (Theorem 5's mixture);
    # binomial weights below 1e-20 of the total are dropped.
    n = np.arange(1, d + 1)
    log_w = special.gammaln(d + 1) - special.gammaln(n + 1) - special.gammaln(d - n + 1)
    keep = log_w > log_w.max() - 46
    n, w = n[keep], np.exp(log_w[keep] - special.logsumexp(log_w[keep]))
    terms = special.loggamma(np.add.outer(iu, n / 2)) - special.gammaln(n / 2)
    return np.exp(iu * math.log(2)) * (np.exp(terms) @ w)


def _envelope_top(k, d):
    """A u beyond which |E exp(iu(R_k - mean))| < _CF_FLOOR for every slope.

    Z = R^2 Q with R^2 = |g|^2 ~ chi2_d independent of the direction, which alone fixes
    Q = sum c_j theta_j^2 and the event Z > 0; so |E Z'^{iv}| <= |Gamma(d/2 + iv)/Gamma(d/2)|
    (computed exactly for d <= 10^4), <= exp(-v atan(2v/d)/2) (the product formula with
    log1p(t) >= t/(1+t) and the sum bounded by its integral).  The bound holds whatever the
    law of Q (bimodal or lattice-like laws at tiny slopes included, where |cf| oscillates and
    a probe could stop early).
    """
    target = -math.log(_CF_FLOOR) / k
    lo, hi = math.log(1e-30), math.log(1e30)
    for _ in range(200):
        mid = (lo + hi) / 2
        v = math.exp(mid)
        if d <= _CLOSED_FORM_MAX_D:        # the exact |Gamma(d/2 + iv)/Gamma(d/2)|
            decay = -(special.loggamma(d / 2 + 1j * v).real - special.gammaln(d / 2))
        else:
            decay = 0.5 * v * math.atan(2 * v / d)
        if decay >= target:
            hi = mid
        else:
            lo = mid
    return 2 * math.exp(hi)


def _mp_log_cumulant(d, a, order, digits):
    """kappa_order(log Z') at ``digits`` digits: the order-th derivative at t = 0 of the
    CGF log E Z'^t = log I_a(2t, d) - log P(Z > 0), by mpmath's one-sided differences
    (which raise the working precision as they need) of high-precision moment factors."""
    from .critical_variance import log_moment_factor
    def cgf(t):
        # diff raises the precision and steps t ~ 10^-dps: everything at its precision.
        if t == 0:
            return mpmath.mpf(0)
        log_alive = mpmath.log1p(-mpmath.mpf(2) ** -d) if a == 0 else 0
        return log_moment_factor(2 * t, d, a, dps=mpmath.mp.dps) - log_alive

    with mpmath.workdps(digits + guard_digits()):
        return mpmath.diff(cgf, 0, order, direction=1)


def _mp_cumulant(d, a, order, digits):
    """kappa_order(log Z') at ``digits`` digits; tiny slopes (where the split's error is
    below 10^-(digits + 5)) through the two-scale split with log a, never a**2."""
    if a > 0 and _split_log10_error(d, a) < -(digits + 5):
        with mpmath.workdps(digits + guard_digits()):
            relu = [_mp_log_cumulant(d, 0.0, j, digits) for j in range(1, order + 1)]
            x = mpmath.mpf(d) / 2
            chi2 = [2 * mpmath.log(mpmath.mpf(a)) + mpmath.log(2) + mpmath.digamma(x)]
            chi2 += [mpmath.polygamma(j - 1, x) for j in range(2, order + 1)]
            q = mpmath.mpf(2) ** -d
            return _mix_cumulants(1 - q, q, relu, chi2)[order - 1]
    return _mp_log_cumulant(d, a, order, digits)


def _evaluate_mp(arrays, dps, function: Callable[..., Any]):
    """function(*Python scalars) elementwise over broadcast arrays, at dps + guard
    digits, rounded to dps."""
    return unwrap(elementwise(
        lambda *xs: at_precision(function, dps, guard_digits(), *(x.item() for x in xs)),
        *arrays))


@_docs.fill
def lyapunov_exponent(sigma: ArrayLike, d: ArrayLike, a: ArrayLike = 0.0, *,
                      dps: int | None = None) -> Result:
    r"""Lyapunov exponent :math:`\mu_a(\sigma) = \lim_k \log\lVert x_k\rVert / k`.

    .. math:: \mu_a(\sigma) = \log\sigma + \tfrac12 E\log Z', \qquad
              Z' = \lVert\phi_a(g)\rVert^2 \mid \lVert\phi_a(g)\rVert > 0 .

    For ReLU this is the exponent conditional on x_k ≠ 0, as in Theorem 5, where
    :math:`E\log Z' = \sum_{n\ge1}\pi_d(n)[\log 2 + \psi(n/2)]`,
    :math:`\pi_d(n) = \binom dn/(2^d - 1)`.

    Parameters
    ----------
    sigma : float or array_like
        Weight standard deviation, finite and > 0.
    %(d)s
    %(a)s
    dps : int, optional
        None: float64 with numpy broadcasting.  An int: mpmath numbers correct to that
        many digits (sigma, a taken at their exact binary values; ~0.2 s per value).

    Returns
    -------
    float, ndarray, mpmath.mpf or object ndarray

    Raises
    ------
    ValueError
        For sigma <= 0 or not finite, d not a positive integer, a outside [0, 1].

    References
    ----------
    .. [1] M. Gurbuzbalaban and Y. Hu, AISTATS 2021, Theorems 5 and 11.

    Examples
    --------
    Linear layers (a = 1): Z ~ chi2_d, so mu = log sigma + (log 2 + psi(d/2)) / 2.

    >>> import math
    >>> from scipy.special import digamma
    >>> from initmath import lyapunov_exponent
    >>> mu = lyapunov_exponent(0.1, 100, 1.0)
    >>> math.isclose(mu, math.log(0.1) + (math.log(2) + digamma(50)) / 2, rel_tol=1e-13)
    True
    """
    sigma, d, a = _validate.broadcast(sigma=_validate.real(sigma, "sigma", 0, low_open=True),
                                      d=_validate.positive_integer(d, "d"),
                                      a=_validate.real(a, "a", 0, 1))
    dps = _validate.dps_or_none(dps)
    if dps is not None:
        return _evaluate_mp((sigma, d, a), dps, lambda sigma, d, a: mpmath.log(sigma)
                            + _mp_cumulant(d, a, 1, dps) / 2)
    return unwrap(_validate.finite_result(np.log(sigma) + _cumulants(d, a, 1)[..., 0] / 2,
                                           "lyapunov_exponent"))


@_docs.fill
def log_norm_variance(d: ArrayLike, a: ArrayLike = 0.0, *, dps: int | None = None) -> Result:
    r"""CLT variance :math:`s_a^2 = \tfrac14 \operatorname{Var}\log Z'` of
    :math:`(\log\lVert x_k\rVert - k\mu_a)/\sqrt k` (independent of sigma).

    Parameters
    ----------
    %(d)s
    %(a)s
    dps : int, optional
        As in :func:`lyapunov_exponent` (~0.5 s per value).

    Returns
    -------
    float, ndarray, mpmath.mpf or object ndarray

    Examples
    --------
    >>> import math
    >>> from scipy.special import polygamma
    >>> from initmath import log_norm_variance
    >>> math.isclose(log_norm_variance(64, 1.0), polygamma(1, 32) / 4, rel_tol=1e-12)
    True
    """
    d, a = _validate.broadcast(d=_validate.positive_integer(d, "d"), a=_validate.real(a, "a", 0, 1))
    dps = _validate.dps_or_none(dps)
    if dps is not None:
        return _evaluate_mp((d, a), dps, lambda d, a: _mp_cumulant(d, a, 2, dps) / 4)
    return unwrap(_validate.finite_result(_cumulants(d, a, 2)[..., 1] / 4, "log_norm_variance"))


@_docs.fill
def edge_sigma(d: ArrayLike, a: ArrayLike = 0.0) -> float | np.ndarray:
    r"""The sigma at which :math:`\mu_a(\sigma) = 0`: :math:`\exp(-\tfrac12 E\log Z')`.

    Above it log‖x_k‖ drifts to +inf, below it to -inf (for ReLU: conditional on
    survival; unconditionally a ReLU network dies a.s. whatever sigma, Theorem 14).  It
    is the s -> 0 limit of the critical sigma for a > 0.

    Parameters
    ----------
    %(d)s
    %(a)s

    Returns
    -------
    float or ndarray

    Raises
    ------
    ValueError
        If d is not an integer >= 1 or a is outside [0, 1].

    Examples
    --------
    >>> import math
    >>> from initmath import edge_sigma, lyapunov_exponent
    >>> bool(abs(lyapunov_exponent(edge_sigma(64, 0.1), 64, 0.1)) < 1e-15)
    True
    """
    d, a = _validate.broadcast(d=_validate.positive_integer(d, "d"), a=_validate.real(a, "a", 0, 1))
    # finite on the whole domain: E log Z' >= 2 log(5e-324) + psi(1/2) + log 2 > -1492
    return unwrap(_validate.finite_result(np.exp(-_cumulants(d, a, 1)[..., 0] / 2),
                                           "edge_sigma"))


@dataclasses.dataclass(frozen=True)
class LogNormLaw:
    r"""The exact law of :math:`R_k = \log\lVert x_k\rVert` at depth k (given x_k ≠ 0).

    Attributes: k, sigma, d, a, x0_norm; ``mean`` = log‖x_0‖ + k μ, ``variance`` = k s²
    (exact, not only asymptotic); ``p_zero`` = P(x_k = 0) = 1 - (1 - 2^{-d})^k for ReLU
    (0 for a > 0); ``berry_esseen`` = an upper bound on sup_r |cdf(r) - normal_cdf(r)|.
    Methods ``cdf``, ``pdf`` (exact, by Gil-Pelaez inversion of the characteristic
    function) and ``normal_cdf``, ``normal_pdf`` (the CLT approximation of Theorems 5, 11).
    """
    k: int
    sigma: float
    d: int
    a: float
    x0_norm: float
    mean: float
    variance: float
    p_zero: float
    berry_esseen: float

    def _kappa(self):
        """Cumulants kappa_1.._SERIES_ORDER of log Z' (cached on the instance)."""
        cached = self.__dict__.get("_kappa_cache")
        if cached is None:
            cached = _cumulants(np.array(self.d), np.array(self.a), _SERIES_ORDER)
            object.__setattr__(self, "_kappa_cache", cached)
        return cached

    def _shifted_cf(self, u, series=False):
        """E exp(i u (R_k - mean)) on the grid u (float array).

        Direct: phi(u/2)^k e^{-iu k kappa_1/2} in log form (where phi underflows to 0 the
        power is 0); its error grows like k ulps of log phi.  Series (huge k, where only
        small u matter): k sum_{j=2}^{J} kappa_j (iu/2)^j / j!, no cancellation at all.
        """
        kappa = self._kappa()
        v = np.asarray(u, float) / 2
        if series:
            log_cf = np.zeros(v.shape, complex)
            for j in range(_SERIES_ORDER, 1, -1):
                log_cf = (log_cf + kappa[j - 1] / math.factorial(j)) * (1j * v)
            return np.exp(self.k * log_cf * (1j * v))
        phi = _log_z_characteristic_function(v, self.d, self.a)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            out = np.exp(self.k * (np.log(phi) - 1j * v * kappa[0]))
        return np.where(phi == 0, 0, out)

    def _support(self):
        """Half-width W of the effective support [mean - W, mean + W]: the bulk needs 12 sd,
        and the left tail of a term (log Z')/2 is exponential with rate >= 1 (log chi2_n has
        density ~ e^{n x/2} as x -> -inf), so a margin of 30 covers it to ~1e-13 whatever k."""
        return 12 * math.sqrt(self.variance) + 30

    def _grid(self):
        """Midpoint grid in u up to _envelope_top, the cf on it, the step (cached).

        Spacing pi / (2 W), W = _support(): the midpoint rule's aliases of the law sit
        4 W apart, so for |r - mean| <= W they fall outside the support [mean - W, mean + W].
        """
        cached = self.__dict__.get("_grid_cache")
        if cached is None:
            cached = self._make_grid(2 * self._support())
            object.__setattr__(self, "_grid_cache", cached)
        return cached

    def _make_grid(self, half_width):
        step = math.pi / half_width
        top = _envelope_top(self.k, self.d)
        n = int(math.ceil(top / step))
        series = False
        if self.k >= 100:
            # the first dropped order, estimated by the last kept one, where it weighs
            # most against |cf| ~ exp(-k kappa_2 v^2 / 2): at v^2 = J / (k kappa_2)
            kappa = self._kappa()
            v = min(top / 2, math.sqrt(_SERIES_ORDER / (self.k * kappa[1])))
            tail = (self.k * abs(kappa[-1]) * v ** _SERIES_ORDER
                    / math.factorial(_SERIES_ORDER) * math.exp(-self.k * kappa[1] * v * v / 2))
            series = tail < 1e-15
        if n > _GRID_MAX:
            raise ValueError(f"k, d, a: the exact law of log||x_k|| at k={self.k}, d={self.d}, "
                             f"a={self.a:g} needs {n} quadrature points (more than {_GRID_MAX}); "
                             f"use normal_cdf/normal_pdf (see berry_esseen) instead")
        u = (np.arange(n) + 0.5) * step
        return u, self._shifted_cf(u, series), step

    def _invert(self, r, part, divide):
        """(step/pi) sum_j part(e^{-iu_j (r - mean)} c_j) with c_j = cf_j (/ u_j if divide),
        for the r inside the support (None elsewhere): directly, or by a chirp-z transform
        for a long uniformly spaced r (cost independent of the number of points)."""
        r = _validate.real(r, "r")
        x = (r - self.mean).ravel()
        width = self._support()
        inside = np.abs(x) <= width
        out = np.full(x.shape, np.nan)
        if inside.any():
            xs = x[inside]
            u, cf, step = self._grid()
            c = cf / u if divide else cf
            m = xs.size
            h = (xs[-1] - xs[0]) / (m - 1) if m > 1 else 0.0
            uniform = (m >= 64 and h != 0 and np.allclose(
                xs, xs[0] + h * np.arange(m), rtol=0, atol=1e-9 * abs(h)))
            if uniform and m * u.size > _DIRECT_WORK:
                from scipy.signal import czt
                j = np.arange(u.size)
                total = czt(c * np.exp(-1j * step * xs[0] * j), m, np.exp(-1j * step * h), 1.0)
                total = total * np.exp(-0.5j * step * (xs[0] + h * np.arange(m)))
                values = part(total)
            else:
                if m * u.size > _WORK_MAX:
                    raise ValueError(
                        f"r: {m} points of the exact law need {m * u.size:.2g} terms (more "
                        f"than {_WORK_MAX:.0e}, ~{_validate.WORK_BUDGET_S} s); pass fewer "
                        f"points or a uniformly spaced r")
                values = np.empty(m)
                block = max(1, _BLOCK_TERMS // u.size)
                for start in range(0, m, block):
                    terms = np.exp(-1j * np.multiply.outer(xs[start:start + block], u)) * c
                    values[start:start + block] = part(terms.sum(axis=-1))
            out[inside] = values * step / math.pi
        return x, out.reshape(np.shape(r)), inside.reshape(np.shape(r))

    def cdf(self, r: ArrayLike) -> float | np.ndarray:
        """P(log‖x_k‖ <= r | x_k ≠ 0), exact (to ~1e-11), vectorised over r (finite reals).
        Outside the effective support mean ± (12 sd + 30) it is 0 or 1 (within ~1e-13)."""
        x, values, inside = self._invert(r, np.imag, True)
        values = np.where(inside, 0.5 - np.where(inside, values, 0),
                          (x.reshape(values.shape) > 0).astype(float))
        return unwrap(np.clip(values, 0.0, 1.0))

    def pdf(self, r: ArrayLike) -> float | np.ndarray:
        """Density of log‖x_k‖ given x_k ≠ 0, exact, vectorised over r (finite reals);
        0 outside the effective support mean ± (12 sd + 30)."""
        _x, values, inside = self._invert(r, np.real, False)
        return unwrap(np.maximum(np.where(inside, values, 0.0), 0.0))

    def normal_cdf(self, r: ArrayLike) -> float | np.ndarray:
        """The CLT approximation N(mean, variance) of the CDF."""
        r = _validate.real(r, "r")
        return unwrap(special.ndtr((r - self.mean) / math.sqrt(self.variance)))

    def normal_pdf(self, r: ArrayLike) -> float | np.ndarray:
        """The CLT approximation N(mean, variance) of the density."""
        r = _validate.real(r, "r")
        z = (r - self.mean) / math.sqrt(self.variance)
        return unwrap(np.exp(-z * z / 2) / math.sqrt(2 * math.pi * self.variance))


def log_norm_distribution(k: int, sigma: float, d: int, a: float = 0.0,
                          x0_norm: float = 1.0) -> LogNormLaw:
    r"""The law of log‖x_k‖ at finite depth k: exact CDF/PDF, normal approximation,
    a Berry–Esseen bound on their distance, and P(x_k = 0) for ReLU.

    log‖x_k‖ - log‖x_0‖ is a sum of k iid copies of X = log σ + ½ log Z' (conditional
    on x_k ≠ 0 for ReLU), so its characteristic function is
    :math:`(\sigma^{iu} E Z'^{iu/2})^k` and the CDF follows by Gil-Pelaez inversion,

    .. math:: F_k(r) = \frac12 - \frac1\pi \int_0^\infty
              \frac{\operatorname{Im}[e^{-iur}\varphi_k(u)]}{u}\,du .

    The Berry–Esseen bound is :math:`C\rho/(s^3\sqrt k)` with Shevtsova's C = 0.4748
    and :math:`\rho = E|X - \mu|^3 \le (\kappa_4 + 3\kappa_2^2)^{3/4}` (Lyapunov's
    inequality, cumulants of X).

    Parameters
    ----------
    k : int
        Depth, integer >= 1.
    sigma : float
        Weight standard deviation, > 0.
    d : int
        Width, integer >= 1.
    a : float, default 0
        Negative-side slope in [0, 1].
    x0_norm : float, default 1
        ‖x_0‖ > 0.

    Returns
    -------
    LogNormLaw

    Examples
    --------
    >>> import math
    >>> from initmath import log_norm_distribution
    >>> law = log_norm_distribution(100, math.sqrt(2 / 64), 64)
    >>> round(float(law.cdf(law.mean)), 2)                        # near the median
    0.5
    >>> round(law.berry_esseen, 3), law.p_zero < 1e-16  # a bound; the true distance is 0.0025
    (0.116, True)
    """
    k = _validate.integer_scalar(k, "k")
    sigma = _validate.real_scalar(sigma, "sigma", 0, low_open=True)
    d = _validate.integer_scalar(d, "d")
    a = _validate.real_scalar(a, "a", 0, 1)
    x0_norm = _validate.real_scalar(x0_norm, "x0_norm", 0, low_open=True)
    kappa = _cumulants(np.array(d), np.array(a), 4) / 2.0 ** np.arange(1, 5)   # of X
    rho = (max(kappa[3], 0.0) + 3 * kappa[1] ** 2) ** 0.75
    p_zero = -math.expm1(k * math.log1p(-0.5 ** d)) if a == 0 else 0.0   # 1 - (1 - 2^-d)^k
    # log(rho / kappa_2^1.5) in log space: kappa_2 may be ~1e-16 (d = 2**53) or ~1e5 (tiny a).
    ratio = math.exp(math.log(rho) - 1.5 * math.log(kappa[1]))
    return LogNormLaw(
        k=k, sigma=sigma, d=d, a=a, x0_norm=x0_norm,
        mean=float(math.log(x0_norm) + k * (math.log(sigma) + kappa[0])),
        variance=float(k * kappa[1]), p_zero=p_zero,
        berry_esseen=float(min(1.0, BERRY_ESSEEN_C * ratio / math.sqrt(k))))


def stochastic_dominance(k: int, sigma_1: float, sigma_2: float, d: int, a: float = 0.0, *,
                         points: int = 2001) -> dict[str, Any]:
    r"""Compare the laws of log‖x_k‖ under two sigmas (Remark 6).

    σ enters log‖x_k‖ only through the shift k log σ, so the law under σ_2 is the law
    under σ_1 moved right by k log(σ_2/σ_1): σ_2 > σ_1 gives first-order stochastic
    dominance at every depth k >= 1 (for ReLU also unconditionally, as P(x_k = 0) does
    not depend on σ), not only for large k.  Returns the evidence computed from the
    exact laws.

    Parameters
    ----------
    k : int
        Depth, integer >= 1.
    sigma_1, sigma_2 : float
        The two weight standard deviations, finite and > 0.
    d : int
        Layer width, integer >= 1.
    a : float, default 0
        Negative slope in [0, 1].
    points : int, default 2001
        Grid points on which the two CDFs are compared.

    Returns
    -------
    dict
        ``shift`` = k log(σ_2/σ_1); ``max_cdf_difference`` = max_r F_1(r) - F_2(r) on a
        grid covering both laws (> 0 when σ_2 dominates); ``min_cdf_difference`` (>= 0,
        up to ~1e-12, when the dominance holds everywhere); ``dominant`` = 2, 1 or None.

    Examples
    --------
    Kaiming against the s ≈ 1 scheme at d = 64, k = 100 (the paper's Figure 2):

    >>> import math
    >>> from initmath import stochastic_dominance
    >>> out = stochastic_dominance(100, math.sqrt(2 / 64), math.sqrt(2 / 64 + 5 / (2 * 64**2)), 64)
    >>> out["dominant"], round(out["shift"], 4)
    (2, 0.9671)
    """
    sigma_1 = _validate.real_scalar(sigma_1, "sigma_1", 0, low_open=True)
    sigma_2 = _validate.real_scalar(sigma_2, "sigma_2", 0, low_open=True)
    points = _validate.integer_scalar(points, "points", high=_POINTS_MAX)
    law_1 = log_norm_distribution(k, sigma_1, d, a)
    law_2 = log_norm_distribution(k, sigma_2, d, a)
    k = law_1.k
    spread = 10 * math.sqrt(law_1.variance)
    r = np.linspace(min(law_1.mean, law_2.mean) - spread, max(law_1.mean, law_2.mean) + spread,
                    points)
    # The law under sigma_2 is the law under sigma_1 moved by law_2.mean - law_1.mean: one
    # characteristic function (cached on law_1) serves both.
    difference = law_1.cdf(r) - law_1.cdf(r - (law_2.mean - law_1.mean))
    shift = k * (math.log(law_2.sigma) - math.log(law_1.sigma))     # log space: no overflow
    dominant = None if shift == 0 else (2 if shift > 0 else 1)
    return {"shift": shift, "max_cdf_difference": float(np.max(difference)),
            "min_cdf_difference": float(np.min(difference)), "dominant": dominant}

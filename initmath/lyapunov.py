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
:mod:`initmath._logmoments` (Laplace-transform integrals whose cost does not grow with d).
"""
import dataclasses
import math

import mpmath
import numpy as np
from scipy import special

from . import _validate
from ._logmoments import characteristic_function, log_cumulants

__all__ = ["lyapunov_exponent", "log_norm_variance", "edge_sigma", "log_norm_distribution",
           "stochastic_dominance", "LogNormLaw"]

# Gil-Pelaez: the characteristic function is cut where it falls below this (it is
# computed to ~1e-13 absolute), and r is processed in blocks to bound memory.
_CF_FLOOR = 1e-12
_R_BLOCK = 256
# Shevtsova (2011): sup |F_k - Phi| <= C rho / (s^3 sqrt k) for iid sums, C = 0.4748.
BERRY_ESSEEN_C = 0.4748


def _mixture(a):
    """Coordinate scales and weights of Y = phi_a(g)^2 (rows of an (N, 2) array)."""
    a = np.asarray(a, float)
    c = np.stack([np.ones_like(a), a * a], axis=-1)
    return c, np.full(c.shape, 0.5)


def _cumulants(d, a, order):
    """Cumulants of log Z' for broadcast float arrays d, a: shape d.shape + (order,)."""
    d, a = np.broadcast_arrays(d, a)
    c, w = _mixture(a.ravel())
    out = log_cumulants(d.ravel().astype(float), c, w, order)
    return out.reshape(d.shape + (order,))


# Below this width the closed forms for a = 0 and a = 1 are used for the characteristic
# function (complex log-gamma differences lose ~d/2 ulps, fine up to here); above it,
# and for 0 < a < 1, initmath._logmoments (its quadrature is slow for small d).
_CLOSED_FORM_MAX_D = 10**4


def _log_z_characteristic_function(u, d, a):
    """E[Z'^{iu}] = E exp(iu log Z') for one (d, a), vectorised over u."""
    if d > _CLOSED_FORM_MAX_D or 0 < a < 1:
        return characteristic_function(u, d, [1.0, a * a], [0.5, 0.5])
    iu = 1j * np.asarray(u, float)
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


def _scalar(out):
    return out[()] if out.ndim == 0 else out


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

    with mpmath.workdps(digits + 10):
        return mpmath.diff(cgf, 0, order, direction=1)


def _evaluate_mp(arrays, dps, function):
    """function(*mpmath scalars) elementwise over broadcast arrays, rounded to dps."""
    arrays = np.broadcast_arrays(*arrays)
    out = np.empty(arrays[0].shape, dtype=object)
    for index in np.ndindex(out.shape):
        value = function(*(x[index].item() for x in arrays))
        with mpmath.workdps(dps):
            out[index] = +value
    return out[()] if out.ndim == 0 else out


def lyapunov_exponent(sigma, d, a=0.0, *, dps=None):
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
    d : int or array_like
        Layer width, integer >= 1.
    a : float or array_like, default 0
        Negative-side slope, 0 <= a <= 1.
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
    sigma = _validate.real(sigma, "sigma", 0, low_open=True)
    d = _validate.positive_integer(d, "d")
    a = _validate.real(a, "a", 0, 1)
    dps = _validate.dps_or_none(dps)
    if dps is not None:
        return _evaluate_mp((sigma, d, a), dps, lambda sigma, d, a: mpmath.log(sigma)
                            + _mp_log_cumulant(d, a, 1, dps) / 2)
    return _scalar(np.log(sigma) + _cumulants(d, a, 1)[..., 0] / 2)


def log_norm_variance(d, a=0.0, *, dps=None):
    r"""CLT variance :math:`s_a^2 = \tfrac14 \operatorname{Var}\log Z'` of
    :math:`(\log\lVert x_k\rVert - k\mu_a)/\sqrt k` (independent of sigma).

    Parameters
    ----------
    d : int or array_like
        Layer width, integer >= 1.
    a : float or array_like, default 0
        Negative-side slope, 0 <= a <= 1.
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
    d = _validate.positive_integer(d, "d")
    a = _validate.real(a, "a", 0, 1)
    dps = _validate.dps_or_none(dps)
    if dps is not None:
        return _evaluate_mp((d, a), dps, lambda d, a: _mp_log_cumulant(d, a, 2, dps) / 4)
    return _scalar(_cumulants(d, a, 2)[..., 1] / 4)


def edge_sigma(d, a=0.0):
    r"""The sigma at which :math:`\mu_a(\sigma) = 0`: :math:`\exp(-\tfrac12 E\log Z')`.

    Above it log‖x_k‖ drifts to +inf, below it to -inf (for ReLU: conditional on
    survival; unconditionally a ReLU network dies a.s. whatever sigma, Theorem 14).  It
    is the s -> 0 limit of the critical sigma for a > 0.

    Parameters
    ----------
    d : int or array_like
        Layer width, integer >= 1.
    a : float or array_like, default 0
        Negative slope in [0, 1] (broadcast with d).

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
    d = _validate.positive_integer(d, "d")
    a = _validate.real(a, "a", 0, 1)
    return _scalar(np.exp(-_cumulants(d, a, 1)[..., 0] / 2))


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

    def _shifted_cf(self, u):
        """E exp(i u (R_k - mean)) on the grid u (float array)."""
        phi = _log_z_characteristic_function(u / 2, self.d, self.a)
        # phi(u/2)^k e^{-iu E[log Z']k/2}: powers in log form, the drift removed exactly;
        # where phi underflows to 0 the power is 0.
        drift = (self.mean - math.log(self.x0_norm) - self.k * math.log(self.sigma)) / self.k
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.exp(self.k * (np.log(phi) - 1j * u * drift))
        return np.where(phi == 0, 0, out)

    def _grid(self, half_width):
        """Midpoint grid in u for Gil-Pelaez and the characteristic function on it.

        Spacing pi / half_width (the mass beyond half_width of the mean, which would alias,
        is negligible); it stops where |cf| < _CF_FLOOR, found on a geometric probe (the
        characteristic function is computed to ~1e-13, so a smaller floor is noise).
        """
        step = math.pi / half_width
        # Probe outwards 8 points at a time: far-out u are costly to evaluate.
        for first in range(0, 96, 8):
            probe = step * 1.25 ** np.arange(first, first + 8)
            small = np.abs(self._shifted_cf(probe)) < _CF_FLOOR
            if small.any():
                break
        top = probe[np.argmax(small)] if small.any() else probe[-1]
        u = (np.arange(int(math.ceil(top / step))) + 0.5) * step
        return u, self._shifted_cf(u), step

    def _half_width(self, r):
        sd = math.sqrt(self.variance)
        # The left tail of a term (log Z')/2 is exponential with rate >= 1 (log chi2_n has
        # density ~ e^{n x / 2} as x -> -inf), so a margin of 30 covers it to ~1e-13
        # whatever k; the bulk needs ~12 sd.
        return float(np.max(np.abs(np.asarray(r, float) - self.mean))) + 12 * sd + 30

    def _invert(self, r, kernel):
        """sum_j kernel(e^{-iu_j (r - mean)} cf_j, u_j) * step / pi, in blocks of r."""
        r = np.asarray(r, float)
        u, cf, step = self._grid(self._half_width(r))
        flat = (r - self.mean).ravel()
        out = np.empty(flat.shape)
        for start in range(0, flat.size, _R_BLOCK):
            block = flat[start:start + _R_BLOCK]
            terms = np.exp(-1j * np.multiply.outer(block, u)) * cf
            out[start:start + _R_BLOCK] = kernel(terms, u).sum(axis=-1) * step / math.pi
        return out.reshape(r.shape)

    def cdf(self, r):
        """P(log‖x_k‖ <= r | x_k ≠ 0), exact (to ~1e-11), vectorised over r."""
        values = 0.5 - self._invert(r, lambda terms, u: terms.imag / u)
        return _scalar(np.clip(values, 0.0, 1.0))

    def pdf(self, r):
        """Density of log‖x_k‖ given x_k ≠ 0, exact, vectorised over r."""
        return _scalar(np.maximum(self._invert(r, lambda terms, u: terms.real), 0.0))

    def normal_cdf(self, r):
        return _scalar(special.ndtr((np.asarray(r, float) - self.mean) / math.sqrt(self.variance)))

    def normal_pdf(self, r):
        z = (np.asarray(r, float) - self.mean) / math.sqrt(self.variance)
        return _scalar(np.exp(-z * z / 2) / math.sqrt(2 * math.pi * self.variance))


def log_norm_distribution(k, sigma, d, a=0.0, x0_norm=1.0):
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
    k = int(_validate.positive_integer(k, "k"))
    sigma = float(_validate.real(sigma, "sigma", 0, low_open=True))
    d = int(_validate.positive_integer(d, "d"))
    a = float(_validate.real(a, "a", 0, 1))
    x0_norm = float(_validate.real(x0_norm, "x0_norm", 0, low_open=True))
    kappa = _cumulants(np.array(d), np.array(a), 4) / 2.0 ** np.arange(1, 5)   # of X
    rho = (max(kappa[3], 0.0) + 3 * kappa[1] ** 2) ** 0.75
    p_zero = -math.expm1(k * math.log1p(-0.5 ** d)) if a == 0 else 0.0   # 1 - (1 - 2^-d)^k
    return LogNormLaw(
        k=k, sigma=sigma, d=d, a=a, x0_norm=x0_norm,
        mean=float(math.log(x0_norm) + k * (math.log(sigma) + kappa[0])),
        variance=float(k * kappa[1]), p_zero=p_zero,
        berry_esseen=float(min(1.0, BERRY_ESSEEN_C * rho / (kappa[1] ** 1.5 * math.sqrt(k)))))


def stochastic_dominance(k, sigma_1, sigma_2, d, a=0.0, *, points=2001):
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
    law_1 = log_norm_distribution(k, sigma_1, d, a)
    law_2 = log_norm_distribution(k, sigma_2, d, a)
    spread = 10 * math.sqrt(law_1.variance)
    r = np.linspace(min(law_1.mean, law_2.mean) - spread, max(law_1.mean, law_2.mean) + spread,
                    points)
    difference = law_1.cdf(r) - law_2.cdf(r)
    shift = k * math.log(sigma_2 / sigma_1)
    dominant = None if shift == 0 else (2 if shift > 0 else 1)
    return {"shift": shift, "max_cdf_difference": float(difference.max()),
            "min_cdf_difference": float(difference.min()), "dominant": dominant}

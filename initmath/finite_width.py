r"""The exact finite-width moment map of one layer, for any elementwise activation.

A layer maps :math:`x \mapsto \phi(W x + b)` with a :math:`d \times d_{in}` matrix W of
iid :math:`N(0, \sigma^2)` entries (:math:`\sigma` is the standard deviation of each
weight, no 1/d) and a bias of iid :math:`N(0, \sigma_b^2)` entries (or none).  Given
:math:`\lVert x\rVert = r` the pre-activations are exactly iid :math:`N(0, c^2)`,
:math:`c^2 = \sigma^2 r^2 + \sigma_b^2`, whatever the direction of x, so

.. math:: \lVert x_{k+1}\rVert^2 = Z = Y_1 + \dots + Y_d, \qquad
          Y_i = \phi(c g_i)^2, \ g_i \sim N(0, 1) \text{ iid},

and :math:`r_k = \lVert x_k\rVert` is a one-dimensional Markov chain for every
:math:`\phi`.  :func:`moment_map` is its exact one-step moment,
:math:`E[r_{k+1}^s \mid r_k = r] = E[Z^{s/2}]`, at finite width d; the mean-field
(infinite-width) map is its limit :math:`E[Z]/d = E\phi(cg)^2`.

Routes, with h = s/2 (see ``docs/any-activation.md``): for integer h, :math:`E Z^h` from
the moments :math:`E Y^j` (the power recurrence of the moment generating function,
whose cumulants are d times those of Y); otherwise the derivative form of the Laplace
transform,

.. math:: E Z^h = \frac{1}{\Gamma(\alpha)} \int_0^\infty t^{\alpha - 1}
          E\bigl[Z^{m} e^{-tZ}\bigr]\, dt, \qquad m = \lfloor h + \tfrac12\rfloor + 1,
          \ \alpha = m - h \in (\tfrac12, \tfrac32],

with :math:`E[Z^m e^{-tZ}] = M(t)^d\, E_t[Z^m]`, :math:`M(t) = E e^{-tY}` and
:math:`E_t[Z^m]` the m-th moment of the sum of d iid tilted coordinates (density
:math:`\propto e^{-ty}`).  The integrand is positive (no cancellation); the atom of Y
at 0 of activations that vanish on an interval (ReLU, Hardswish, ReLU6, the shrinks)
enters M only.  The t-integral is a trapezoidal rule in log t on the plan of
:mod:`initmath._engine.quadrature`; each Gaussian integral over one coordinate is
:mod:`initmath._engine.gaussian`'s rule, cut at the kinks and, for large t, ever closer
to the zeros of phi where :math:`e^{-t\phi^2}` peaks.
"""
import math

import mpmath
import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize, special

from . import _docs, _validate
from ._engine import quadrature
from ._engine.backend import FLOAT
from ._engine.evaluate import at_precision, elementwise, guard_digits, unwrap
from ._engine.gaussian import expectation_mp, gaussian_rule
from .activations import Activation
from .activations import activation as resolve_activation

__all__ = ["moment_map", "moment_preserving_sigma"]

# Largest moment order (h = s/2 <= 50): the routes need E Y^j for j <= h + 2, and the
# Gaussian rule reaches |g| = 40, beyond which g^(2j) phi(g) is negligible for j <= 52.
S_MAX = 100.0
# float64 trapezoidal step in x = log t (error ~ exp(-pi^2 / step)) and the tails kept
# (e-folds below the peak of the integrand).  1/4 (the Laplace route's) leaves 6e-9 for
# GELU at c = 3, whose phi^2 ~ e^(-x^2) as x -> -inf makes the integrand less smooth.
_STEP = 0.125
_TAIL = 44.0
# t-nodes per Gaussian rule: the rule's cuts towards the zeros of phi follow the largest
# t of the band (a factor e^(step * band) = e^2 between bands).
_BAND = 8
# The lattice stops once a band adds less than this fraction (e^-44), or at t = e^_X_MAX
# of the normalised Z: the integrand decays at least like t^-(h + 1/6) there (e^-42 for
# any h > 0), and the rule's cuts would have to reach ~ e^-_X_MAX/2 of the zeros.
_TOL = 1e-19
_X_MAX = 250.0
# Slowest power-law decay of E[Z^m e^(-tZ)] t^alpha at large t, beyond h: the density of
# Y near 0 is ~ y^(1/(2k) - 1) at a zero of phi of order k; k <= 3 covers every
# activation of initmath.activations (tanhshrink has the cubic zero).
_RATE_RIGHT = 1 / 6
# What the public functions return: float64 (a scalar or an array) or mpmath numbers.
Result = float | np.ndarray | mpmath.mpf


# --------------------------------------------------------------------------- core
def _power_series_power(a, d):
    """[u^k] (1 + a_1 u + a_2 u^2 + ...)^d for k < len(a) (a[0] = 1 is not read), by
    J.C.P. Miller's recurrence; entries may be numpy arrays or mpmath numbers."""
    b = [1]
    for k in range(1, len(a)):
        b.append(sum(((d + 1) * j - k) * a[j] * b[k - j] for j in range(1, k + 1)) / k)
    return b


def _zeros(phi: Activation):
    """The breakpoints where phi vanishes: where exp(-t phi^2) peaks for large t."""
    return tuple(b for b in phi.breakpoints if float(phi.numpy(np.float64(b))) == 0)


def _normalised_coordinate(phi, c, d, rule):
    """(Y / (d E Y), d E Y) on the nodes of ``rule``; the normalised Z has mean 1."""
    y = phi.numpy(rule[0]) ** 2
    mean = d * float(rule[1] @ y)
    return y / mean, mean


def _moment_integer(m, d, y, w):
    """E Z^m of the normalised sum from the moments of Y on the rule (y, w)."""
    a = [1.0] + [float(w @ y ** j) / math.factorial(j) for j in range(1, m + 1)]
    return math.factorial(m) * _power_series_power(a, d)[m]


def _crossings(x, y, t):
    """The x where t Y = 1 for a t of ``t``, located between nodes of a rule (x, y):
    exp(-t Y) steps there, by ~1/e per 1 / |d log Y / dx| (at the zeros of phi, and where
    phi tends to 0 at +-infinity, as GELU's x Phi(x) does)."""
    above = np.log(y * t[:, None]) > 0
    change = above[:, 1:] != above[:, :-1]
    return tuple(np.unique(((x[1:] + x[:-1]) / 2)[change.any(axis=0)]))


def _tilted_integrand(x, d, m, alpha, phi, c, mean, base, peaks):
    """t^alpha E[Z^m e^(-tZ)] of the normalised Z at the nodes x = log t of one band."""
    t = np.exp(x)[:, None]
    with np.errstate(under="ignore", divide="ignore", invalid="ignore", over="ignore"):
        steps = _crossings(*base, t[[0, -1], 0] / mean) + peaks
        # The rule's cuts close in on each step point down to ~ 1 / sqrt(t_true).
        rule = gaussian_rule(phi.breakpoints, c, peaks=steps,
                             width=math.sqrt(mean / t[-1, 0])) if steps else \
            gaussian_rule(phi.breakpoints, c)
        y = phi.numpy(rule[0]) ** 2 / mean
        tilt = np.exp(-t * y)
        m_t = tilt @ rule[1]
        near = m_t > 0.5                    # log M from 1 - M = E[-expm1(-tY)] there
        one_minus = -np.expm1(-t[near] * y) @ rule[1]
        log_m = np.log(m_t)
        log_m[near] = np.log1p(-one_minus)
        powers = rule[1][:, None] * y[:, None] ** np.arange(1, m + 1)
        a = [1.0] + list((tilt @ powers / m_t[:, None]
                          / special.factorial(np.arange(1, m + 1))).T)
        moment = math.factorial(m) * _power_series_power(a, d)[m]
        return np.where(m_t > 0, np.exp(d * log_m + alpha * x) * moment, 0)


def _moment_fractional(h, d, phi, c, mean, base, peaks, spread):
    """E Z^h of the normalised Z (mean 1) by the derivative form of its Laplace transform.

    base: a plain Gaussian rule's nodes and the normalised Y there; spread = E[Y^2] /
    (E Y)^2 / d, the scale of the largest values of the normalised Z: the integrand bends
    there (t ~ 1 / spread) and again at t ~ d, below which the small values of the
    coordinates take over.  The lattice goes on beyond the plan while the integrand is
    not negligible (phi tending to 0 at infinity, small d and h: slow power-law decay).
    """
    m = math.floor(h + 0.5) + 1
    alpha = m - h
    with np.errstate(divide="ignore", invalid="ignore"):    # no Chernoff cut (k = 0)
        j0, n, x_left, x_right = quadrature.plan(
            np.float64(-math.log(spread)), np.float64(math.log(d)), np.float64(0), alpha,
            h + _RATE_RIGHT, _TAIL, _STEP, FLOAT)
    total, start = 0.0, int(j0)
    while True:
        u = quadrature.points(start, _BAND, _STEP, FLOAT)
        x, jac = quadrature.nodes(u, x_left, x_right, FLOAT)
        inside = x <= _X_MAX
        if not inside.any():
            return total * _STEP / math.gamma(alpha)
        part = float(_tilted_integrand(x[inside], d, m, alpha, phi, c, mean, base, peaks)
                     @ jac[inside])
        total += part
        start += _BAND
        if (start >= j0 + n and part <= _TOL * total) or not inside.all():
            return total * _STEP / math.gamma(alpha)


def _moment_float(h, d, c, phi, peaks):
    """E Z^h in float64 for one (h, d, c)."""
    rule = gaussian_rule(phi.breakpoints, c)
    y, mean = _normalised_coordinate(phi, c, d, rule)
    if mean == 0:                                   # phi(c g) = 0 almost surely
        return 0.0
    if h == math.floor(h):
        normalised = _moment_integer(int(h), d, y, rule[1])
    else:
        spread = float(rule[1] @ y ** 2) * d
        normalised = _moment_fractional(h, d, phi, c, mean, (rule[0], y), peaks, spread)
    with np.errstate(over="ignore"):
        return float(np.float64(mean) ** h * normalised)


def _moment_mp(h, d, c, phi):
    """E Z^h at the working precision, integer h or d = 1 (exact mpmath integrals)."""
    def moment(j):
        return expectation_mp(lambda x: phi.mpmath(x) ** (2 * j), phi.breakpoints, c)
    if d == 1:
        return expectation_mp(lambda x: abs(phi.mpmath(x)) ** (2 * h), phi.breakpoints, c)
    m = int(h)
    a = [1] + [moment(j) / mpmath.factorial(j) for j in range(1, m + 1)]
    return mpmath.factorial(m) * _power_series_power(a, d)[m]


def _check(s, d, sigma, r, sigma_b):
    return _validate.broadcast(s=_validate.real(s, "s", 0, S_MAX, low_open=True),
                               d=_validate.positive_integer(d, "d"),
                               sigma=_validate.real(sigma, "sigma", 0, low_open=True),
                               r=_validate.real(r, "r", 0, low_open=True),
                               sigma_b=_validate.real(sigma_b, "sigma_b", 0))


def _pre_activation_std(sigma, r, sigma_b, sqrt=math.sqrt):
    return sqrt(sigma * sigma * r * r + sigma_b * sigma_b)


# --------------------------------------------------------------------------- public
_FRAGMENTS = {
    "s": """\
s : float or array_like
    Order of the moment, 0 < s <= 100.""",
    "activation": """\
activation : str, torch.nn.Module, Activation or callable
    The elementwise nonlinearity phi: a name (``"gelu"``, ``"tanh"``, ``"LeakyReLU"``,
    ...), a torch activation module instance, or a function (see
    :func:`initmath.activations.activation`).""",
    "r": """\
r : float or array_like, default 1
    Norm of the layer's input, r > 0.""",
    "sigma_b": """\
sigma_b : float or array_like, default 0
    Standard deviation of each bias entry, >= 0 (0: no bias).""",
    "references": """\
References
----------
.. [1] M. Gurbuzbalaban and Y. Hu, "Fractional moment-preserving initialization
   schemes for training deep neural networks", AISTATS 2021 (the norm chain of
   ReLU layers, Theorem 1).
.. [2] B. Poole, S. Lahiri, M. Raghu, J. Sohl-Dickstein and S. Ganguli, "Exponential
   expressivity in deep neural networks through transient chaos", NeurIPS 2016 (the
   mean-field length map, the d -> infinity limit).""",
}
_fill = _docs.fill(**_FRAGMENTS)


@_fill
def moment_map(s: ArrayLike, d: ArrayLike, activation, sigma: ArrayLike, r: ArrayLike = 1.0,
               sigma_b: ArrayLike = 0.0, *, dps: int | None = None) -> Result:
    r"""One layer's exact moment map :math:`E[\lVert x_{k+1}\rVert^s \mid \lVert x_k\rVert = r]`.

    For :math:`x_{k+1} = \phi(W x_k + b)` with :math:`W_{ij} \sim N(0, \sigma^2)`,
    :math:`b_i \sim N(0, \sigma_b^2)` iid and width d,

    .. math:: E[r_{k+1}^s \mid r_k = r] = E\Bigl[\Bigl(\sum_{i=1}^d \phi(c g_i)^2
              \Bigr)^{s/2}\Bigr], \qquad c = \sqrt{\sigma^2 r^2 + \sigma_b^2},

    exactly at finite d, for any elementwise phi.

    Parameters
    ----------
    %(s)s
    %(d)s
    %(activation)s
    sigma : float or array_like
        Standard deviation of each weight, sigma > 0.
    %(r)s
    %(sigma_b)s
    %(dps)s

    Returns
    -------
    float, ndarray, mpmath.mpf or object ndarray

    Raises
    ------
    ValueError
        If s is outside (0, 100], d is not a positive integer, sigma or r is not > 0,
        sigma_b is negative, any value is NaN or infinite, the activation is unknown,
        dps is not a positive integer, dps is asked for a non-integer s/2 at d >= 2, or
        the float64 result overflows.

    Notes
    -----
    Integer h = s/2: :math:`E Z^h = h!\,[u^h] (E e^{uY})^d` from the moments
    :math:`E Y^j = E\phi(cg)^{2j}`, j <= h (s = 2: :math:`d\,E Y`; s = 4:
    :math:`d\,E Y^2 + d(d-1)(E Y)^2`).  Otherwise the Laplace-transform integral of the
    module docstring: ~1e-13 relative in float64 (up to ~1e-10 at s < 1 for phi with
    a cubic zero or tending to 0 at infinity, d <= 2); a call takes ~5-25 ms.
    For phi(x) = max(x, a x) and sigma_b = 0 this is
    :math:`(\sigma r)^s I_a(s, d)` (:func:`initmath.moment_factor`).  With ``dps``:
    integer s/2 for any d, and any s at d = 1 (:math:`E|\phi(cg)|^s`).

    %(references)s

    Examples
    --------
    The mean is d times the mean-field length map; for ReLU it is Kaiming's
    :math:`d \sigma^2 r^2 / 2`:

    >>> import math
    >>> from initmath.finite_width import moment_map
    >>> math.isclose(moment_map(2.0, 64, "relu", 0.5, r=2.0), 64 * 0.25 * 4 / 2,
    ...              rel_tol=1e-13)
    True
    >>> from initmath import moment_factor
    >>> math.isclose(moment_map(1.0, 16, "relu", 0.3), 0.3 * moment_factor(1.0, 16),
    ...              rel_tol=1e-12)
    True
    >>> import mpmath
    >>> x = moment_map(2, 1, "tanh", 1.0, dps=30)            # E tanh(g)^2
    >>> mpmath.nstr(x, 20)
    '0.39429449039784117442'
    """
    phi = resolve_activation(activation)
    arrays = _check(s, d, sigma, r, sigma_b)
    dps = _validate.dps_or_none(dps)
    if dps is None:
        peaks = _zeros(phi)

        def kernel(s, d, sigma, r, sigma_b):
            c = _pre_activation_std(float(sigma), float(r), float(sigma_b))
            return _moment_float(float(s) / 2, int(d), c, phi, peaks)

        out = elementwise(kernel, *arrays, dtype=float)
        _validate.finite_result(out, "the moment map", hint="use dps= for an mpmath number")
        return unwrap(out)
    bad = ~((arrays[0] % 2 == 0) | (arrays[1] == 1))
    if bad.any():
        raise ValueError(f"dps= needs an even integer s (s/2 an integer) or d = 1, got "
                         f"s={arrays[0][bad].flat[0]!r}, d={arrays[1][bad].flat[0]!r}; "
                         f"use dps=None for float64")

    def value(s, d, sigma, r, sigma_b):
        c = _pre_activation_std(sigma, r, sigma_b, mpmath.sqrt)
        return _moment_mp(s / 2, d, c, phi)

    def kernel_mp(s_float, d, s, sigma, r, sigma_b):
        d = int(d)
        args = map(_validate.mp_number, (s, sigma, r, sigma_b))
        return at_precision(lambda *a: value(a[0], d, *a[1:]), dps,
                            guard_digits(d ** (float(s_float) / 2), float(s_float)),
                            *args)

    originals = [np.asarray(x, dtype=object) for x in (s, sigma, r, sigma_b)]
    originals = np.broadcast_arrays(*originals, arrays[0])[:4]
    return unwrap(elementwise(kernel_mp, arrays[0], arrays[1], *originals))


def _kaiming_guess(phi, d):
    """A starting sigma at r = 1: the one preserving E r^2 of the mean-field map at c = 1."""
    rule = gaussian_rule(phi.breakpoints, 1.0)
    return 1 / math.sqrt(d * max(float(rule[1] @ phi.numpy(rule[0]) ** 2), 1e-300))


@_fill
def moment_preserving_sigma(s: ArrayLike, d: ArrayLike, activation, r: ArrayLike = 1.0,
                            sigma_b: ArrayLike = 0.0) -> float | np.ndarray:
    r"""The weight standard deviation that preserves :math:`E r^s` through one layer.

    The :math:`\sigma` with :math:`E[r_{k+1}^s \mid r_k = r] = r^s`
    (:func:`moment_map`); for phi(x) = max(x, a x) and no bias it is
    :func:`initmath.critical_sigma`, whatever r.

    Parameters
    ----------
    %(s)s
    %(d)s
    %(activation)s
    %(r)s
    %(sigma_b)s

    Returns
    -------
    float or ndarray
        The smallest such sigma (found on a geometric grid, then refined by Brent's
        method to ~1e-14 relative).

    Raises
    ------
    ValueError
        For arguments outside the ranges of :func:`moment_map`, or when no sigma in
        [1e-8, 1e8] times the mean-field guess preserves the moment (a bounded phi
        whose largest output norm is below r, or a bias alone already too large).

    %(references)s

    Examples
    --------
    >>> import math
    >>> from initmath import critical_sigma
    >>> from initmath.finite_width import moment_preserving_sigma
    >>> math.isclose(moment_preserving_sigma(1.0, 8, "relu", r=3.0), critical_sigma(1.0, 8),
    ...              rel_tol=1e-12)
    True
    """
    phi = resolve_activation(activation)
    s_a, d_a, _, r_a, b_a = _check(s, d, 1.0, r, sigma_b)
    peaks = _zeros(phi)

    def kernel(s, d, r, sigma_b):
        s, d, r, sigma_b = float(s), int(d), float(r), float(sigma_b)

        def excess(log_sigma):
            c = _pre_activation_std(math.exp(log_sigma), r, sigma_b)
            moment = _moment_float(s / 2, d, c, phi, peaks)
            return (math.log(moment) if moment > 0 else -math.inf) - s * math.log(r)

        guess = math.log(_kaiming_guess(phi, d) / r)
        grid = guess + np.arange(-16, 17) * math.log(10) / 2
        values = [excess(x) for x in grid]
        for i in range(len(grid) - 1):
            if -math.inf < values[i] <= 0 <= values[i + 1]:
                return math.exp(optimize.brentq(excess, grid[i], grid[i + 1], xtol=1e-15,
                                                rtol=1e-15))
        raise ValueError(f"no sigma in [{math.exp(grid[0]):.3g}, {math.exp(grid[-1]):.3g}] "
                         f"preserves E r^s at s={s:g}, d={d}, r={r:g}, sigma_b={sigma_b:g} "
                         f"for {phi.name}")

    return unwrap(elementwise(kernel, s_a, d_a, r_a, b_a, dtype=float))

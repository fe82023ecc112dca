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

Built on it: the weight and bias standard deviations that preserve the moment
(:func:`moment_preserving_sigma`, :func:`moment_preserving_sigma_b`), the finite-width
fixed point of the norm map and its slope (:func:`fixed_point_norm`, the analogue of the
mean-field :math:`q^*`), and the expansion of the moment map in 1/d around the mean field
(:func:`moment_map_expansion`).
"""
import math
from typing import NamedTuple

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

__all__ = ["FixedPointNorm", "fixed_point_norm", "moment_map", "moment_map_expansion",
           "moment_preserving_sigma", "moment_preserving_sigma_b"]

# Largest moment order (h = s/2 <= 50): the routes need E Y^j for j <= h + 2, and the
# Gaussian rule reaches |g| = 40, beyond which g^(2j) phi(g) is negligible for j <= 52.
S_MAX = 100.0
# The float64 routes' range of the pre-activation standard deviation c: phi(c g)^2 up to
# c^2 g^2 with |g| <= 40 and the Laplace variable t ~ 1 / (d c^2) stay within float64.
C_MIN, C_MAX = 1e-100, 1e100
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
    return (y / mean if mean > 0 else y), mean     # mean = 0: phi(c g) = 0 almost surely


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
    """c = sqrt(sigma^2 r^2 + sigma_b^2); in float64 it must lie in [C_MIN, C_MAX]."""
    if sqrt is not math.sqrt:
        return sqrt(sigma * sigma * r * r + sigma_b * sigma_b)
    c = math.hypot(sigma * r, sigma_b)
    if not C_MIN <= c <= C_MAX:
        raise ValueError(f"sigma, r, sigma_b give the pre-activation standard deviation "
                         f"c = sqrt(sigma^2 r^2 + sigma_b^2) = {c:.3g}; float64 needs c in "
                         f"[{C_MIN:g}, {C_MAX:g}] (phi(c g)^2 and its Laplace variable must "
                         f"stay representable): use dps= or rescale")
    return c


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
    _check_exact_route(arrays[0], arrays[1])

    def value(s, d, sigma, r, sigma_b):
        c = _pre_activation_std(sigma, r, sigma_b, mpmath.sqrt)
        return _moment_mp(s / 2, d, c, phi)

    def kernel_mp(s_float, d, s, sigma, r, sigma_b):
        d = int(d)
        args = map(_validate.mp_number, (s, sigma, r, sigma_b))
        return at_precision(lambda *a: value(a[0], d, *a[1:]), dps,
                            _mp_guard(float(s_float), d), *args)

    return unwrap(elementwise(kernel_mp, arrays[0], arrays[1],
                              *_as_given((s, sigma, r, sigma_b), arrays[0])))


def _check_exact_route(s, d):
    """The ValueError for dps= where the mpmath routes do not reach: s/2 not an integer
    at d >= 2."""
    bad = ~((s % 2 == 0) | (d == 1))
    if bad.any():
        raise ValueError(f"dps= needs an even integer s (s/2 an integer) or d = 1, got "
                         f"s={s[bad].flat[0]!r}, d={d[bad].flat[0]!r}; "
                         f"use dps=None for float64")


def _mp_guard(s, d, *amplifications):
    """Guard digits of the mpmath moment (the power recurrence's terms reach d^(s/2),
    1/s in the root), with further amplifications (a root's condition number)."""
    return guard_digits(d ** (s / 2), s, *amplifications)


def _as_given(values, like):
    """The arguments as the user gave them (object arrays: a Fraction or an int stays
    exact), broadcast to the shape of ``like``."""
    return np.broadcast_arrays(*(np.asarray(x, dtype=object) for x in values), like)[:-1]


def _refine(excess_mp, x0):
    """The root of excess_mp at mpmath's working precision, by the secant method from the
    float64 root x0 > 0."""
    x0 = mpmath.mpf(x0)
    tol = (mpmath.mpf(2) ** (-mpmath.mp.prec + 4) * x0) ** 2
    return mpmath.findroot(excess_mp, (x0, x0 * (1 + mpmath.mpf(2) ** -40)), solver="secant",
                           tol=tol, maxsteps=60)


def _condition(excess, root, step=1e-4):
    """1 / |d excess / d x| at the root of a log-scale excess (a central difference): how
    much the root amplifies relative errors of the moment, for guard digits only."""
    return 1 / max(abs(excess(root + step) - excess(root - step)) / (2 * step), 1e-300)


def _decades(centre, below=16, above=16):
    """A grid in log scale around ``centre``: half-decade steps, ``below`` and ``above``."""
    return centre + np.arange(-below, above + 1) * math.log(10) / 2


def _first_crossing(excess, grid):
    """The root of ``excess`` in the first grid interval where it rises through 0 (both
    ends finite or the left one -inf excluded), refined by Brent's method; None if none."""
    values = [excess(x) for x in grid]
    for i in range(len(grid) - 1):
        if -math.inf < values[i] <= 0 <= values[i + 1] < math.inf:
            return optimize.brentq(excess, grid[i], grid[i + 1], xtol=1e-15, rtol=1e-15)
    return None


def _kaiming_guess(phi, d):
    """A starting sigma at r = 1: the one preserving E r^2 of the mean-field map at c = 1."""
    rule = gaussian_rule(phi.breakpoints, 1.0)
    return 1 / math.sqrt(d * max(float(rule[1] @ phi.numpy(rule[0]) ** 2), 1e-300))


def _log_excess(s, d, r, c, phi, peaks):
    """log E[r'^s | r] - s log r at pre-activation std c (-inf where the moment is 0)."""
    moment = _moment_float(s / 2, d, c, phi, peaks)
    return (math.log(moment) if moment > 0 else -math.inf) - s * math.log(r)


def _preserving_root(phi, peaks, s, d, r, c_of, grid, missing, dps, given, c_of_mp):
    """The unknown x (a weight or a bias std) with E[r'^s | r] = r^s when the
    pre-activation std is c_of(x): the first crossing on the geometric grid of log x,
    refined by Brent; with dps, refined again by the secant method at dps + guard digits,
    c_of_mp(x, *given) taking the caller's arguments (s, r, ...) as exact mpmath numbers.
    missing(low, high) is the message when no x on the grid crosses."""
    def excess(log_x):
        return _log_excess(s, d, r, c_of(math.exp(log_x)), phi, peaks)

    root = _first_crossing(excess, grid)
    if root is None:
        raise ValueError(missing(math.exp(grid[0]), math.exp(grid[-1])))
    if dps is None:
        return math.exp(root)

    def exact(s, r, *rest):
        return _refine(lambda x: _moment_mp(s / 2, d, c_of_mp(x, s, r, *rest), phi)
                       / r ** s - 1, math.exp(root))

    return at_precision(exact, dps, _mp_guard(s, d, _condition(excess, root)),
                        *map(_validate.mp_number, given))


@_fill
def moment_preserving_sigma(s: ArrayLike, d: ArrayLike, activation, r: ArrayLike = 1.0,
                            sigma_b: ArrayLike = 0.0, *, dps: int | None = None) -> Result:
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
    %(dps)s

    Returns
    -------
    float, ndarray, mpmath.mpf or object ndarray
        The smallest such sigma (found on a geometric grid, then refined by Brent's
        method to ~1e-14 relative; with ``dps``, by the secant method on the mpmath
        moment map: even integer s, or d = 1).

    Raises
    ------
    ValueError
        For arguments outside the ranges of :func:`moment_map`, dps for a non-integer s/2
        at d >= 2, or when no sigma in
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
    dps = _validate.dps_or_none(dps)
    if dps is not None:
        _check_exact_route(s_a, d_a)
    peaks = _zeros(phi)

    def kernel(s, d, r, sigma_b, *given):
        s, d, r, sigma_b = float(s), int(d), float(r), float(sigma_b)
        return _preserving_root(
            phi, peaks, s, d, r, lambda x: _pre_activation_std(x, r, sigma_b),
            _decades(math.log(_kaiming_guess(phi, d) / r)),
            lambda low, high: (f"no sigma in [{low:.3g}, {high:.3g}] preserves E r^s at "
                               f"s={s:g}, d={d}, r={r:g}, sigma_b={sigma_b:g} for {phi.name}"),
            dps, given, lambda x, s, r, sigma_b: _pre_activation_std(x, r, sigma_b,
                                                                    mpmath.sqrt))

    if dps is None:
        return unwrap(elementwise(kernel, s_a, d_a, r_a, b_a, dtype=float))
    return unwrap(elementwise(kernel, s_a, d_a, r_a, b_a, *_as_given((s, r, sigma_b), s_a)))


@_fill
def moment_preserving_sigma_b(s: ArrayLike, d: ArrayLike, activation, sigma: ArrayLike,
                              r: ArrayLike = 1.0, *, dps: int | None = None) -> Result:
    r"""The bias standard deviation that, with a given sigma, preserves :math:`E r^s`.

    The smallest :math:`\sigma_b \ge 0` with
    :math:`E[r_{k+1}^s \mid r_k = r] = r^s` (:func:`moment_map`) at the given weight
    standard deviation sigma.  A bias only adds to the pre-activation variance,
    :math:`c^2 = \sigma^2 r^2 + \sigma_b^2`, so it exists when sigma alone falls short
    (sigma below :func:`moment_preserving_sigma` at sigma_b = 0) and the moment reaches
    :math:`r^s` as c grows.

    Parameters
    ----------
    %(s)s
    %(d)s
    %(activation)s
    sigma : float or array_like
        Standard deviation of each weight, sigma > 0.
    %(r)s
    %(dps)s

    Returns
    -------
    float, ndarray, mpmath.mpf or object ndarray
        The smallest such sigma_b (a geometric grid from 1e-8 to 1e8 times sigma r, then
        Brent's method to ~1e-14 relative; with ``dps``, the secant method on the mpmath
        moment map: even integer s, or d = 1); 0 when sigma alone preserves the moment.

    Raises
    ------
    ValueError
        For arguments outside the ranges of :func:`moment_map`, dps for a non-integer s/2
        at d >= 2, when sigma alone already
        gives a larger moment than :math:`r^s`, or when no sigma_b up to 1e8 sigma r
        reaches it (a bounded phi whose largest output norm is below r).

    %(references)s

    Examples
    --------
    For phi(x) = max(x, a x) the moment is :math:`c^s I_a(s, d)`, so the preserving
    :math:`c` is :math:`r\,\bar\sigma_a(s, d)` (:func:`initmath.critical_sigma`):

    >>> import math
    >>> from initmath import critical_sigma
    >>> from initmath.finite_width import moment_preserving_sigma_b
    >>> sigma, r = 0.4, 2.0
    >>> b = moment_preserving_sigma_b(1.0, 8, "relu", sigma, r=r)
    >>> math.isclose(math.hypot(sigma * r, b), r * critical_sigma(1.0, 8), rel_tol=1e-12)
    True
    """
    phi = resolve_activation(activation)
    s_a, d_a, sigma_a, r_a, _ = _check(s, d, sigma, r, 0.0)
    dps = _validate.dps_or_none(dps)
    if dps is not None:
        _check_exact_route(s_a, d_a)
    peaks = _zeros(phi)

    def kernel(s, d, r, sigma, *given):
        s, d, r, sigma = float(s), int(d), float(r), float(sigma)
        start = _log_excess(s, d, r, _pre_activation_std(sigma, r, 0.0), phi, peaks)
        if start == 0:
            return 0.0 if dps is None else mpmath.mpf(0)
        if start > 0:
            raise ValueError(f"sigma={sigma:g} alone gives E r'^s > r^s at s={s:g}, d={d}, "
                             f"r={r:g} for {phi.name}: no bias sigma_b >= 0 preserves it "
                             f"(lower sigma, see moment_preserving_sigma)")
        return _preserving_root(
            phi, peaks, s, d, r, lambda x: _pre_activation_std(sigma, r, x),
            _decades(math.log(sigma * r)),
            lambda low, high: (f"no sigma_b in [0, {high:.3g}] preserves E r^s at s={s:g}, "
                               f"d={d}, r={r:g}, sigma={sigma:g} for {phi.name}"),
            dps, given, lambda x, s, r, sigma: _pre_activation_std(sigma, r, x, mpmath.sqrt))

    if dps is None:
        return unwrap(elementwise(kernel, s_a, d_a, r_a, sigma_a, dtype=float))
    return unwrap(elementwise(kernel, s_a, d_a, r_a, sigma_a,
                              *_as_given((s, r, sigma), s_a)))


class FixedPointNorm(NamedTuple):
    """The finite-width fixed point of the norm map and its slope (see
    :func:`fixed_point_norm`)."""

    norm: float | np.ndarray
    slope: float | np.ndarray


# Relative step of the central differences in log r for the slope at the fixed point
# (Richardson-extrapolated: truncation ~ step^4, rounding ~ 1e-13 / step).
_SLOPE_STEP = 4e-3


@_fill
def fixed_point_norm(s: ArrayLike, d: ArrayLike, activation, sigma: ArrayLike,
                     sigma_b: ArrayLike = 0.0, *, dps: int | None = None) -> FixedPointNorm:
    r"""The fixed point :math:`r^*` of the finite-width norm map and its slope.

    With :math:`G(r) = E[r_{k+1}^s \mid r_k = r]^{1/s}` (:func:`moment_map`), the
    :math:`r^* > 0` with :math:`G(r^*) = r^*`, and :math:`G'(r^*)` (below 1: stable,
    layers draw the s-th moment of the norm towards :math:`r^{*s}`).  It is the
    finite-width analogue of the mean-field :math:`q^*` and of the slope of the variance
    map there: for s = 2, :math:`G(r)^2 = d\,E\phi(cg)^2`, so
    :math:`c^{*2} = \sigma^2 r^{*2} + \sigma_b^2` is exactly the mean-field
    :math:`q^*` with :math:`\sigma_w^2 = d \sigma^2`
    (:func:`initmath.mean_field.fixed_point_variance`) and
    :math:`G'(r^*) = \sigma_w^2\, \partial_q E\phi(\sqrt q g)^2` at :math:`q^*`, at
    every width d.  For phi(x) = max(x, a x),
    :math:`G(r) = \sqrt{\sigma^2 r^2 + \sigma_b^2}/\bar\sigma_a(s, d)`
    (:func:`initmath.critical_sigma`), so with :math:`\kappa = \sigma / \bar\sigma_a < 1`

    .. math:: r^{*2} = \frac{\sigma_b^2}{\bar\sigma_a^2 (1 - \kappa^2)}, \qquad
              G'(r^*) = \kappa^2 .

    Parameters
    ----------
    %(s)s
    %(d)s
    %(activation)s
    sigma : float or array_like
        Standard deviation of each weight, sigma > 0.
    %(sigma_b)s
    %(dps)s

    Returns
    -------
    FixedPointNorm
        ``norm``: :math:`r^*`, the first crossing of :math:`G(r) = r` from above as r
        grows on a geometric grid (1e-10 to 1e10 times :math:`\sqrt d`), refined by
        Brent's method to ~1e-14 relative; ``slope``: :math:`G'(r^*) =
        d \log G / d \log r` at :math:`r^*`, by Richardson-extrapolated central
        differences in log r (~1e-9 absolute).  Floats, or arrays of the broadcast shape.
        With ``dps`` (even integer s, or d = 1): mpmath numbers, r* by the secant method
        on the mpmath moment map and the slope by :func:`mpmath.diff`.

    Raises
    ------
    ValueError
        For arguments outside the ranges of :func:`moment_map`, dps for a non-integer s/2
        at d >= 2, or when G(r) = r has no
        crossing from above in the grid (phi(x) = max(x, a x) without a bias: G is
        linear; sigma too large: the norm grows without bound; sigma too small and no
        bias: it shrinks to 0).

    %(references)s

    Examples
    --------
    s = 2 is the mean-field fixed point at :math:`\sigma_w^2 = d\sigma^2`, at any width:

    >>> import math
    >>> from initmath.finite_width import fixed_point_norm
    >>> from initmath.mean_field import fixed_point_variance
    >>> d, sigma, sigma_b = 16, 0.3, 0.2
    >>> r, slope = fixed_point_norm(2.0, d, "tanh", sigma, sigma_b)
    >>> math.isclose(sigma ** 2 * r ** 2 + sigma_b ** 2,
    ...              fixed_point_variance("tanh", d * sigma ** 2, sigma_b ** 2), rel_tol=1e-12)
    True
    >>> bool(slope < 1)
    True
    """
    phi = resolve_activation(activation)
    s_a, d_a, sigma_a, _, b_a = _check(s, d, sigma, 1.0, sigma_b)
    dps = _validate.dps_or_none(dps)
    if dps is not None:
        _check_exact_route(s_a, d_a)
    peaks = _zeros(phi)

    def kernel(s, d, sigma, sigma_b, *given):
        s, d, sigma, sigma_b = float(s), int(d), float(sigma), float(sigma_b)

        def log_map(log_r):
            """log G(e^log_r) - log_r."""
            c = _pre_activation_std(sigma, math.exp(log_r), sigma_b)
            moment = _moment_float(s / 2, d, c, phi, peaks)
            return (math.log(moment) / s if moment > 0 else -math.inf) - log_r

        grid = _decades(math.log(d) / 2, 20, 20)
        root = _first_crossing(lambda x: -log_map(x), grid)
        if root is None:
            raise ValueError(f"G(r) = E[r'^s | r]^(1/s) = r has no crossing from above for r "
                             f"in [{math.exp(grid[0]):.3g}, {math.exp(grid[-1]):.3g}] at "
                             f"s={s:g}, d={d}, sigma={sigma:g}, sigma_b={sigma_b:g} for "
                             f"{phi.name}")

        def difference(step):
            return (log_map(root + step) - log_map(root - step)) / (2 * step)

        slope = 1 + (4 * difference(_SLOPE_STEP / 2) - difference(_SLOPE_STEP)) / 3
        if dps is None:
            return math.exp(root), slope
        with mpmath.workdps(dps + _mp_guard(s, d, 1 / max(abs(1 - slope), 1e-300))):
            s, sigma, sigma_b = map(_validate.mp_number, given)

            def norm_map(r):
                c = _pre_activation_std(sigma, r, sigma_b, mpmath.sqrt)
                return _moment_mp(s / 2, d, c, phi) ** (1 / s)
            norm = _refine(lambda r: norm_map(r) / r - 1, math.exp(root))
            slope = mpmath.diff(norm_map, norm)
        with mpmath.workdps(dps):
            return +norm, +slope

    if dps is None:
        out = elementwise(kernel, s_a, d_a, sigma_a, b_a)
    else:
        out = elementwise(kernel, s_a, d_a, sigma_a, b_a, *_as_given((s, sigma, sigma_b), s_a))
    kind = float if dps is None else object
    norm, slope = (np.vectorize(lambda x, i=i: x[i], otypes=[kind])(out) for i in (0, 1))
    return FixedPointNorm(unwrap(norm), unwrap(slope))


@_fill
def moment_map_expansion(s: ArrayLike, d: ArrayLike, activation, sigma: ArrayLike,
                         r: ArrayLike = 1.0, sigma_b: ArrayLike = 0.0, *, order: int = 1,
                         dps: int | None = None) -> Result:
    r"""The moment map to first (or second) order in 1/d around the mean field.

    With :math:`\mu = E Y`, :math:`Y = \phi(c g)^2`, and the cumulants
    :math:`\kappa_j` of :math:`Y/\mu` (:math:`\kappa_2 = \mathrm{Var}\,Y/\mu^2`,
    :math:`\kappa_3 = E(Y/\mu - 1)^3`), the delta method on
    :math:`Z = d\mu (1 + X)`, :math:`E X^2 = \kappa_2/d`,
    :math:`E X^3 = \kappa_3/d^2`, :math:`E X^4 = 3\kappa_2^2/d^2 + O(d^{-3})`, gives

    .. math:: E[r_{k+1}^s \mid r] = E Z^h = (d\mu)^h \Bigl[1 + \binom h2 \frac{\kappa_2}{d}
              + \Bigl(\binom h3 \kappa_3 + 3\binom h4 \kappa_2^2\Bigr)\frac{1}{d^2}
              + O(d^{-3})\Bigr], \qquad h = s/2,

    with generalised binomials :math:`\binom hj = h(h-1)\cdots(h-j+1)/j!`.  The leading
    term :math:`(d\mu)^h` is the mean-field map; ``order=1`` keeps the 1/d term (error
    :math:`O(d^{-2})` relative), ``order=2`` both (error :math:`O(d^{-3})`).  For s = 2
    (h = 1) every term beyond the first vanishes, and for s = 4 the first order is exact:
    :math:`d^2\mu^2 + d\,\mathrm{Var}\,Y`.

    Parameters
    ----------
    %(s)s
    %(d)s
    %(activation)s
    sigma : float or array_like
        Standard deviation of each weight, sigma > 0.
    %(r)s
    %(sigma_b)s
    order : int, default 1
        Highest power of 1/d kept, 1 or 2.
    %(dps)s

    Returns
    -------
    float, ndarray, mpmath.mpf or object ndarray
        The truncated expansion (not the exact moment: see :func:`moment_map`).

    Raises
    ------
    ValueError
        If an argument is outside the ranges of :func:`moment_map`, order is not 1 or 2,
        dps is not a positive integer, or the float64 result overflows.

    %(references)s

    Examples
    --------
    For ReLU, :math:`\kappa_2 = 5` (:math:`Y = c^2 \max(g, 0)^2`, :math:`E Y = c^2/2`,
    :math:`E Y^2 = 3c^4/2`); at s = 1 the 1/d term is :math:`-\kappa_2/(8d)`, and the
    error left against the exact moment is :math:`O(1/d^2)`:

    >>> import math
    >>> from initmath.finite_width import moment_map, moment_map_expansion
    >>> d = 1000
    >>> first = moment_map_expansion(1.0, d, "relu", 1.0)
    >>> math.isclose(first, math.sqrt(d / 2) * (1 - 5 / (8 * d)), rel_tol=1e-14)
    True
    >>> bool(abs(first / moment_map(1.0, d, "relu", 1.0) - 1) < 1 / d ** 2)
    True
    """
    phi = resolve_activation(activation)
    arrays = _check(s, d, sigma, r, sigma_b)
    order = _validate.integer_scalar(order, "order", 2)
    dps = _validate.dps_or_none(dps)

    def value(h, d, c, mp):
        if mp:
            y = phi.mpmath
            mu = expectation_mp(lambda x: y(x) ** 2, phi.breakpoints, c)
            k2, k3 = (expectation_mp(lambda x: (y(x) ** 2 / mu - 1) ** j, phi.breakpoints, c)
                      for j in (2, 3))
            mean = mu * d
        else:
            rule = gaussian_rule(phi.breakpoints, c)
            y, mean = _normalised_coordinate(phi, c, 1, rule)
            k2, k3 = (float(rule[1] @ (y - 1) ** j) for j in (2, 3))
            mean *= d
        binomial = [1]
        for j in range(1, 5):
            binomial.append(binomial[-1] * (h - j + 1) / j)
        terms = [1, binomial[2] * k2 / d, (binomial[3] * k3 + 3 * binomial[4] * k2 ** 2)
                 / d ** 2]
        return mean ** h * sum(terms[:order + 1])

    if dps is None:
        def kernel(s, d, sigma, r, sigma_b):
            c = _pre_activation_std(float(sigma), float(r), float(sigma_b))
            with np.errstate(over="ignore"):
                return float(value(float(s) / 2, int(d), c, False))

        out = elementwise(kernel, *arrays, dtype=float)
        _validate.finite_result(out, "the moment map expansion",
                                hint="use dps= for an mpmath number")
        return unwrap(out)

    def kernel_mp(d, s, sigma, r, sigma_b):
        d = int(d)

        def exact(s, sigma, r, sigma_b):
            return value(s / 2, d, _pre_activation_std(sigma, r, sigma_b, mpmath.sqrt), True)
        return at_precision(exact, dps, guard_digits(),
                            *map(_validate.mp_number, (s, sigma, r, sigma_b)))

    return unwrap(elementwise(kernel_mp, arrays[1],
                              *_as_given((s, sigma, r, sigma_b), arrays[0])))

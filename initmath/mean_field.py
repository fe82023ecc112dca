r"""Infinite-width mean-field theory for any activation (Poole et al. 2016, Schoenholz et
al. 2017), and the exact gain that preserves the second moment.

A fully connected network with weights :math:`W_{ij} \sim N(0, \sigma_w^2/N_{in})` and
biases :math:`b_i \sim N(0, \sigma_b^2)` has, at infinite width, Gaussian pre-activations
:math:`h^l` whose variance q and correlation c (between two inputs) follow

.. math:: q^{l+1} = \sigma_w^2\, E\,\phi(\sqrt{q^l} z)^2 + \sigma_b^2, \qquad
          c^{l+1} = \frac{\sigma_w^2\, E\,\phi(u_1)\phi(u_2) + \sigma_b^2}{q^{l+1}},

z ~ N(0, 1), (u_1, u_2) centred Gaussian with variances q^l and correlation c^l.  In
initmath's per-weight convention (:mod:`initmath.critical_variance`) the weight variance
is :math:`\sigma^2 = \sigma_w^2 / d_{in}`; a gain g (std = g / sqrt(fan_in), as in
``torch.nn.init``) is :math:`\sigma_w = g`.

The expectations over one coordinate use :func:`initmath._engine.gaussian.gaussian_rule`
(exact at the activation's kinks); the two-coordinate ones are the one-dimensional
integral of a conditional expectation, :math:`E\,\phi(u_1)\phi(u_2) = E_{u_1}[\phi(u_1)\,
E\,\phi(c u_1 + \sqrt{q(1-c^2)}\, z_2)]`, the same rule again with the breakpoints moved to
:math:`b - c u_1`.  The one-coordinate quantities (``variance_map``,
``fixed_point_variance``, ``chi_1``, ``gain``) also come at any precision (``dps``); the
two-coordinate ones are float64 (a nested mpmath quadrature takes ~40 s a value at 30
digits).
"""
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import mpmath
import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize

from . import _docs, _validate
from ._engine.evaluate import at_precision, elementwise, guard_digits, unwrap
from ._engine.gaussian import expectation, expectation_mp, gaussian_rule
from .activations import Activation
from .activations import activation as _activation

__all__ = [
    "DepthScales",
    "chi_1",
    "correlation_map",
    "depth_scales",
    "fixed_point_correlation",
    "fixed_point_variance",
    "gain",
    "variance_map",
]

Result = float | np.ndarray | mpmath.mpf

# The fixed-point search doubles (or halves) q from 1 at most this many times: beyond
# 2**100 the variance is said to grow without bound, below 2**-100 to vanish.
_DOUBLINGS = 100
# Outer nodes of the two-coordinate rule with a smaller weight (the weights sum to 1) are
# left out: beyond |g| ~ 13.6 they carry < 1e-40 of the Gaussian's mass.
_NEGLIGIBLE_WEIGHT = 1e-40
# chi_1 > 1 (chaos): c* < 1 is bracketed between c = 0 and the first of 1 - eps (eps
# descending) where the correlation map lies below the diagonal; below the smallest eps,
# c* is 1 to that resolution.
_CORRELATION_EPS = (2.0 ** -1, 2.0 ** -3, 2.0 ** -6, 2.0 ** -10, 2.0 ** -16, 2.0 ** -24)

_DOCS = {
    "activation": """\
activation : str, torch.nn.Module, Activation or callable
    The activation phi, anything :func:`initmath.activations.activation` accepts.""",
    "sigma_w2": """\
sigma_w2 : float or array_like
    Weight variance times fan-in, sigma_w^2 > 0 (finite); initmath's per-weight variance
    is sigma_w2 / d_in.""",
    "sigma_b2": """\
sigma_b2 : float or array_like, default 0
    Bias variance, sigma_b^2 >= 0 (finite).""",
}
_fill = _docs.fill(**_DOCS)


class DepthScales(NamedTuple):
    """The depth scales of :func:`depth_scales`: ``variance`` xi_q and ``correlation``
    xi_c (layers; inf on the order-to-chaos boundary)."""

    variance: float
    correlation: float


# ---------------------------------------------------------------- one-coordinate integrals

def _second_moment(phi: Activation, q, mp=False):
    """E phi(sqrt(q) z)^2 (q >= 0), float64 or at mpmath's working precision."""
    if phi.slopes is not None:
        return q * _homogeneous_factor(phi, mp)
    if mp:
        if q == 0:
            return phi.mpmath(mpmath.mpf(0)) ** 2
        return expectation_mp(lambda x: phi.mpmath(x) ** 2, phi.breakpoints, mpmath.sqrt(q))
    if q == 0:
        return float(phi.numpy(np.array(0.0))) ** 2
    return expectation(lambda x: phi.numpy(x) ** 2, phi.breakpoints, math.sqrt(q))


def _derivative_moment(phi: Activation, q, mp=False):
    """E phi'(sqrt(q) z)^2 (q > 0)."""
    if phi.slopes is not None:
        return _homogeneous_factor(phi, mp)
    d = phi.derivative
    if mp:
        return expectation_mp(lambda x: d.mpmath(x) ** 2, phi.breakpoints, mpmath.sqrt(q))
    return expectation(lambda x: d.numpy(x) ** 2, phi.breakpoints, math.sqrt(q))


def _variance_slope(phi: Activation, sigma_w2, q):
    """chi_q = d q'/d q = sigma_w^2 E[phi(u)^2 (u^2/q - 1)] / (2q), u ~ N(0, q): the
    derivative of the Gaussian density in its variance, so no derivative of phi (Stein's
    identity turns it into Schoenholz's sigma_w^2 E[phi'^2 + phi phi''])."""
    return sigma_w2 * expectation(lambda x: phi.numpy(x) ** 2 * (x * x / q - 1),
                                  phi.breakpoints, math.sqrt(q)) / (2 * q)


def _homogeneous_factor(phi: Activation, mp=False):
    """(1 + a^2) / 2 = E phi(z)^2 = E phi'(z)^2 for a positively homogeneous phi (slopes
    (1, a)), else None: then E phi(sqrt(q) z)^2 = q (1 + a^2) / 2, E phi'(sqrt(q) z)^2 does
    not depend on q."""
    if phi.slopes is None:
        return None
    a = mpmath.mpf(phi.slopes[1]) if mp else phi.slopes[1]
    return (1 + a * a) / 2


# ---------------------------------------------------------------- the fixed point q*

def _no_fixed_point(how, sigma_w2, sigma_b2):
    return ValueError(f"fixed_point_variance: the variance map has no fixed point q* > 0 at "
                      f"sigma_w2={sigma_w2!r}, sigma_b2={sigma_b2!r}: {how}")


def _fixed_point_float(phi: Activation, sigma_w2: float, sigma_b2: float) -> float:
    """q* reached by q_{l+1} = V(q_l) from q_0 = 1 (float64)."""
    k = _homogeneous_factor(phi)
    if k is not None:
        k *= sigma_w2
        if abs(k - 1) <= 4 * np.finfo(float).eps:
            if sigma_b2 == 0:
                raise _no_fixed_point("every q is a fixed point (sigma_w2 (1 + a^2) / 2 = 1, "
                                      "q_l = q_0)", sigma_w2, sigma_b2)
            raise _no_fixed_point("q_l grows by sigma_b2 per layer (q -> infinity)",
                                  sigma_w2, sigma_b2)
        if k > 1:
            raise _no_fixed_point(f"q_l grows by the factor sigma_w2 (1 + a^2) / 2 = {k:.6g} "
                                  "per layer (q -> infinity)", sigma_w2, sigma_b2)
        if sigma_b2 == 0:
            raise _no_fixed_point(f"q_l shrinks by the factor sigma_w2 (1 + a^2) / 2 = {k:.6g} "
                                  "per layer (q -> 0)", sigma_w2, sigma_b2)
        return sigma_b2 / (1 - k)

    def excess(q):
        value = sigma_w2 * _second_moment(phi, q) + sigma_b2 - q
        if not math.isfinite(value):
            raise _validate.NotRepresentableError(
                f"fixed_point_variance: the variance map overflows float64 at q = {q:g} "
                f"(sigma_w2={sigma_w2!r}); use dps= or smaller parameters")
        return value

    def resolved(q, h):
        """Whether q' - q = h is above the rounding of q' and q (~1e-15 relative): a sign
        change below it (tanh at sigma_w2 = 1, where q' - q ~ -2 q^2) is no root."""
        return abs(h) > 16 * np.finfo(float).eps * (q + abs(h + q))

    low, h_low = 1.0, excess(1.0)
    if not resolved(low, h_low):
        return 1.0
    factor, high = (2.0 if h_low > 0 else 0.5), 1.0
    for _ in range(_DOUBLINGS):
        high *= factor
        h_high = excess(high)
        if not resolved(high, h_high):
            continue                    # low stays the last point whose sign is known
        if (h_high > 0) != (h_low > 0):
            a, b = sorted((low, high))
            return optimize.brentq(excess, a, b, xtol=1e-300, rtol=4 * np.finfo(float).eps)
        low, h_low = high, h_high
    if factor > 1:
        raise _no_fixed_point(f"q' > q for all q in [1, 2**{_DOUBLINGS}] (q -> infinity)",
                              sigma_w2, sigma_b2)
    raise _no_fixed_point(f"q' < q for all q in [2**-{_DOUBLINGS}, 1] (q -> 0)",
                          sigma_w2, sigma_b2)


def _fixed_point_mp(phi: Activation, sigma_w2, sigma_b2, q0: float):
    """q* at mpmath's working precision, by the secant method from the float64 root q0."""
    if phi.slopes is not None:
        return sigma_b2 / (1 - sigma_w2 * _homogeneous_factor(phi, mp=True))
    tol = mpmath.mpf(2) ** (-mpmath.mp.prec + 4) * q0
    try:
        return mpmath.findroot(
            lambda q: sigma_w2 * _second_moment(phi, q, mp=True) + sigma_b2 - q,
            (mpmath.mpf(q0), mpmath.mpf(q0) * (1 + mpmath.mpf(2) ** -40)),
            solver="secant", tol=tol ** 2, maxsteps=60)
    except ValueError:                  # mpmath's multi-line "Could not find root"
        raise ValueError(f"fixed_point_variance: the root q* ~ {q0:.6g} could not be refined "
                         f"to the precision asked (dps); the map is too flat there "
                         f"(chi_q ~ 1) -- use dps=None or fewer digits") from None


def _fixed_point_guard(phi: Activation, sigma_w2: float, q0: float) -> int:
    """Guard digits for q*: the root of q' - q is amplified by 1 / |1 - chi_q|."""
    if phi.slopes is not None:
        return guard_digits()
    return guard_digits(1 / max(abs(1 - _variance_slope(phi, sigma_w2, q0)), 1e-300))


# ---------------------------------------------------------------- two-coordinate integrals

def _pair_moment(f: Callable, breakpoints, q: float, c: float) -> float:
    """E f(u1) f(u2), (u1, u2) centred Gaussian with variances q and correlation c:
    E_{u1}[f(u1) E f(c u1 + r z2)], r = sqrt(q (1 - c^2)), float64."""
    s = math.sqrt(q)
    x, w = gaussian_rule(breakpoints, s)
    if c == 1:
        return float(w @ f(x) ** 2)
    if c == -1:
        return float(w @ (f(x) * f(-x)))
    keep = w > _NEGLIGIBLE_WEIGHT
    x, w = x[keep], w[keep]
    r = s * math.sqrt((1 - c) * (1 + c))
    points = np.asarray(breakpoints, float)
    inner = np.empty_like(x)
    for i, m in enumerate(c * x):
        y, v = gaussian_rule(points - m, r)
        inner[i] = v @ f(m + y)
    return float(w @ (f(x) * inner))


def _correlation_map_float(phi: Activation, c: float, sigma_w2: float, sigma_b2: float,
                           q: float) -> float:
    if c == 1:
        return 1.0
    top = sigma_w2 * _pair_moment(phi.numpy, phi.breakpoints, q, c) + sigma_b2
    return top / (sigma_w2 * _second_moment(phi, q) + sigma_b2)


def _jumps(phi: Activation) -> list[float]:
    """The breakpoints where phi jumps (its one-sided limits differ, judged in float64 one
    ulp either side)."""
    out = []
    for b in phi.breakpoints:
        x = np.array([np.nextafter(b, -np.inf), np.nextafter(b, np.inf)])
        left, right = (float(v) for v in phi.numpy(x))
        # A continuous phi moves by about |phi'| times the two ulps between the sides; a
        # step below 1e-9 relative (torch's Softplus switch at its threshold, e^-20) is
        # taken as continuous, as its contribution is below the rounding of the moments.
        slope = (1.0 if phi.derivative is None
                 else float(np.max(np.abs(phi.derivative.numpy(x)), initial=1.0)))
        slack = 8 * (x[1] - x[0]) * slope + 1e-9 * max(1.0, abs(left), abs(right))
        if abs(right - left) > slack:
            out.append(b)
    return out


def _needs_derivative(phi: Activation, what: str) -> None:
    """A ValueError when phi' (almost everywhere) does not give ``what``."""
    if phi.derivative is None:
        raise ValueError(f"{what} needs phi': activation {phi.name!r} has none; pass an "
                         "initmath.activations.Activation with derivative=Derivative(float64 "
                         "phi', mpmath phi')")
    jumps = _jumps(phi)
    if jumps:
        raise ValueError(f"{what}: activation {phi.name!r} jumps at x = "
                         f"{', '.join(f'{b:g}' for b in jumps)}, so phi' has a delta there "
                         "(chi_1 = inf) and the almost-everywhere phi' does not give it")


# ---------------------------------------------------------------- the public functions

def _sigmas(sigma_w2, sigma_b2):
    return (_validate.real(sigma_w2, "sigma_w2", 0, low_open=True),
            _validate.real(sigma_b2, "sigma_b2", 0))


def _evaluate(kernel, arrays, dps, guard=lambda *xs: guard_digits()):
    """kernel(*Python floats) elementwise: float64 (dps None) or at dps + guard(*xs)
    digits, rounded to dps (the floats then enter as exact mpmath numbers)."""
    if dps is None:
        with np.errstate(over="ignore", invalid="ignore"):     # judged just below
            out = elementwise(lambda *xs: kernel(*(x.item() for x in xs)), *arrays,
                              dtype=float)
        _validate.finite_result(out, "the result", hint="an intermediate moment of phi "
                                "overflows float64; use dps= for an mpmath number")
        return unwrap(out)

    def element(*xs):
        xs = [x.item() for x in xs]
        return at_precision(lambda: kernel(*map(_validate.mp_number, xs)), dps, guard(*xs))

    return unwrap(elementwise(element, *arrays))


@_fill
def variance_map(q: ArrayLike, activation: Any, sigma_w2: ArrayLike, sigma_b2: ArrayLike = 0.0,
                 *, dps: int | None = None) -> Result:
    r"""The length map of mean-field theory: the next layer's pre-activation variance.

    .. math:: q' = \sigma_w^2\, E\,\phi(\sqrt q\, z)^2 + \sigma_b^2, \qquad z \sim N(0, 1).

    Parameters
    ----------
    q : float or array_like
        Pre-activation variance, q >= 0 (finite).
    %(activation)s
    %(sigma_w2)s
    %(sigma_b2)s
    %(dps)s

    Returns
    -------
    float, ndarray, mpmath.mpf or object ndarray
        q', broadcast over q, sigma_w2 and sigma_b2.

    Raises
    ------
    ValueError
        For q < 0, sigma_w2 <= 0, sigma_b2 < 0 or non-finite values, or an unknown
        activation.

    References
    ----------
    .. [1] B. Poole, S. Lahiri, M. Raghu, J. Sohl-Dickstein and S. Ganguli, "Exponential
       expressivity in deep neural networks through transient chaos", NeurIPS 2016, eq. 3.

    Examples
    --------
    ReLU halves the second moment, E relu(z)^2 = 1/2, so He's sigma_w^2 = 2 keeps q:

    >>> from initmath.mean_field import variance_map
    >>> float(variance_map(3.0, "relu", 2.0))
    3.0
    >>> float(variance_map(1.0, "relu", 2.0, 0.5, dps=30))
    1.5
    """
    phi = _activation(activation)
    sw, sb = _sigmas(sigma_w2, sigma_b2)
    arrays = _validate.broadcast(q=_validate.real(q, "q", 0), sigma_w2=sw, sigma_b2=sb)
    dps = _validate.dps_or_none(dps)
    return _evaluate(lambda q, sw, sb: sw * _second_moment(phi, q, dps is not None) + sb,
                     arrays, dps)


@_fill
def fixed_point_variance(activation: Any, sigma_w2: ArrayLike, sigma_b2: ArrayLike = 0.0, *,
                         dps: int | None = None) -> Result:
    r"""The fixed point :math:`q^*` of the variance map, reached from :math:`q^0 = 1`.

    .. math:: q^* = \sigma_w^2\, E\,\phi(\sqrt{q^*} z)^2 + \sigma_b^2 .

    The iteration :math:`q^{l+1} = V(q^l)` from :math:`q^0 = 1` moves towards the first
    fixed point in its direction; that one is returned.  For a positively homogeneous phi
    (ReLU, leaky ReLU, identity, slope a < 0 side) the map is
    :math:`V(q) = \sigma_w^2 (1+a^2) q/2 + \sigma_b^2` and
    :math:`q^* = \sigma_b^2 / (1 - \sigma_w^2 (1+a^2)/2)`.

    Parameters
    ----------
    %(activation)s
    %(sigma_w2)s
    %(sigma_b2)s
    %(dps)s

    Returns
    -------
    float, ndarray, mpmath.mpf or object ndarray
        q* > 0, broadcast over sigma_w2 and sigma_b2.

    Raises
    ------
    ValueError
        For bad arguments, and when there is no fixed point q* > 0: the message says
        whether q^l -> 0 (e.g. tanh with sigma_w2 <= 1 and no bias), q^l -> infinity
        (searched up to 2**100), or every q is fixed (ReLU at sigma_w2 = 2, no bias).

    References
    ----------
    .. [1] B. Poole et al., NeurIPS 2016, eq. 4.
    .. [2] S. S. Schoenholz, J. Gilmer, S. Ganguli and J. Sohl-Dickstein, "Deep information
       propagation", ICLR 2017, eq. 3.

    Examples
    --------
    The fixed point solves its own equation:

    >>> import math
    >>> from initmath.mean_field import fixed_point_variance, variance_map
    >>> q = fixed_point_variance("tanh", 2.0, 0.05)
    >>> math.isclose(float(variance_map(q, "tanh", 2.0, 0.05)), q, rel_tol=1e-14)
    True
    >>> float(fixed_point_variance("relu", 1.0, 0.5))     # 0.5 / (1 - 1/2)
    1.0
    """
    phi = _activation(activation)
    arrays = _validate.broadcast(**dict(zip(("sigma_w2", "sigma_b2"),
                                            _sigmas(sigma_w2, sigma_b2))))
    dps = _validate.dps_or_none(dps)
    if dps is None:
        return _evaluate(lambda sw, sb: _fixed_point_float(phi, sw, sb), arrays, None)

    def guard(sw, sb):
        return _fixed_point_guard(phi, sw, _fixed_point_float(phi, sw, sb))

    return _evaluate(lambda sw, sb: _fixed_point_mp(phi, sw, sb,
                                                    _fixed_point_float(phi, float(sw),
                                                                       float(sb))),
                     arrays, dps, guard)


def _variance_for(phi: Activation, sigma_w2: float, sigma_b2: float, q,
                  scale_free: bool) -> float:
    """The variance a quantity is evaluated at: q when given, else q*; or 1 when the
    quantity does not depend on q (``scale_free``) and phi is positively homogeneous."""
    if q is not None:
        return q
    if scale_free and phi.slopes is not None:
        return 1.0
    return _fixed_point_float(phi, sigma_w2, sigma_b2)


@_fill
def chi_1(activation: Any, sigma_w2: ArrayLike, sigma_b2: ArrayLike = 0.0, *,
          q: ArrayLike | None = None, dps: int | None = None) -> Result:
    r"""The slope of the correlation map at c = 1: chi_1 = 1 is the order-to-chaos boundary.

    .. math:: \chi_1 = \sigma_w^2\, E\,\phi'(\sqrt{q^*} z)^2
              = \frac{\partial c'}{\partial c}\Big|_{c=1}.

    chi_1 < 1: nearby inputs converge (ordered phase); chi_1 > 1: they separate (chaos).
    phi' is the derivative almost everywhere (kinks are fine; a jump is refused).  For a
    positively homogeneous phi (slopes (1, a)) chi_1 = sigma_w^2 (1 + a^2) / 2 at every q,
    so no fixed point is needed.

    Parameters
    ----------
    %(activation)s
    %(sigma_w2)s
    %(sigma_b2)s
    q : float or array_like, optional
        The pre-activation variance to evaluate at, q > 0; None (default): the fixed point
        q* of :func:`fixed_point_variance`.
    %(dps)s

    Returns
    -------
    float, ndarray, mpmath.mpf or object ndarray

    Raises
    ------
    ValueError
        For bad arguments, no fixed point q* (see :func:`fixed_point_variance`), an
        activation without a derivative, or one that jumps.

    References
    ----------
    .. [1] B. Poole et al., NeurIPS 2016, eq. 7.
    .. [2] S. S. Schoenholz et al., ICLR 2017, eq. 5.

    Examples
    --------
    He's initialization sits on the order-to-chaos boundary:

    >>> from initmath.mean_field import chi_1
    >>> float(chi_1("relu", 2.0))
    1.0
    >>> import math                       # tanh'(0) = 1: the edge is sigma_w2 = 1 as q -> 0
    >>> math.isclose(chi_1("tanh", 1.0, q=1e-30), 1.0, rel_tol=1e-15)
    True
    """
    phi = _activation(activation)
    _needs_derivative(phi, "chi_1")
    sw, sb = _sigmas(sigma_w2, sigma_b2)
    qs = np.full((), np.nan) if q is None else _validate.real(q, "q", 0, low_open=True)
    arrays = _validate.broadcast(sigma_w2=sw, sigma_b2=sb, q=qs)
    dps = _validate.dps_or_none(dps)

    def kernel(sw, sb, q):
        given = None if q != q else q               # nan: at q*
        if dps is None:
            at = _variance_for(phi, sw, sb, given, scale_free=True)
            return sw * _derivative_moment(phi, at)
        if given is None:
            if phi.slopes is not None:
                given = mpmath.mpf(1)
            else:
                given = _fixed_point_mp(phi, sw, sb, _fixed_point_float(phi, float(sw),
                                                                          float(sb)))
        return sw * _derivative_moment(phi, given, mp=True)

    def guard(sw, sb, q):
        if q == q or phi.slopes is not None:        # q given (not nan), or no q needed
            return guard_digits()
        return _fixed_point_guard(phi, sw, _fixed_point_float(phi, sw, sb))

    return _evaluate(kernel, arrays, dps, guard)


@_fill
def correlation_map(c: ArrayLike, activation: Any, sigma_w2: ArrayLike,
                    sigma_b2: ArrayLike = 0.0, *, q: ArrayLike | None = None) -> Result:
    r"""The correlation map of mean-field theory: the next layer's correlation between the
    pre-activations of two inputs.

    .. math:: c' = \frac{\sigma_w^2\, E\,\phi(u_1)\phi(u_2) + \sigma_b^2}
                        {\sigma_w^2\, E\,\phi(u_1)^2 + \sigma_b^2},

    :math:`(u_1, u_2)` centred Gaussian with variances q and correlation c; at q = q* the
    denominator is q*.  :math:`E\,\phi(u_1)\phi(u_2)` is computed as
    :math:`E_{u_1}[\phi(u_1)\, E\,\phi(c u_1 + \sqrt{q(1-c^2)}\, z)]`, both Gaussian rules
    cut at phi's breakpoints (float64, ~1e-15; about 0.1 s a value).

    Parameters
    ----------
    c : float or array_like
        Correlation, -1 <= c <= 1.
    %(activation)s
    %(sigma_w2)s
    %(sigma_b2)s
    q : float or array_like, optional
        The variance of u_1 and u_2, q > 0; None (default): the fixed point q* (or q = 1
        for a positively homogeneous phi without bias, where c' does not depend on q).

    Returns
    -------
    float or ndarray
        c', broadcast over c, sigma_w2, sigma_b2 and q.

    Raises
    ------
    ValueError
        For c outside [-1, 1], other bad arguments, or no fixed point q*.

    References
    ----------
    .. [1] B. Poole et al., NeurIPS 2016, eq. 5.
    .. [2] Y. Cho and L. K. Saul, "Kernel methods for deep learning", NeurIPS 2009 (the
       arc-cosine kernel: ReLU's map in closed form).

    Examples
    --------
    ReLU at sigma_w^2 = 2: :math:`c' = (\sqrt{1-c^2} + (\pi - \arccos c)\, c)/\pi`.

    >>> import math
    >>> from initmath.mean_field import correlation_map
    >>> c = 0.3
    >>> exact = (math.sqrt(1 - c * c) + (math.pi - math.acos(c)) * c) / math.pi
    >>> math.isclose(correlation_map(c, "relu", 2.0), exact, rel_tol=1e-14)
    True
    """
    phi = _activation(activation)
    sw, sb = _sigmas(sigma_w2, sigma_b2)
    qs = np.full((), np.nan) if q is None else _validate.real(q, "q", 0, low_open=True)
    arrays = _validate.broadcast(c=_validate.real(c, "c", -1, 1), sigma_w2=sw, sigma_b2=sb,
                                 q=qs)
    fixed: dict = {}

    def kernel(c, sw, sb, q):
        if math.isnan(q):
            if (sw, sb) not in fixed:
                fixed[sw, sb] = _variance_for(phi, sw, sb, None, scale_free=sb == 0)
            q = fixed[sw, sb]
        return _correlation_map_float(phi, c, sw, sb, q)

    return _evaluate(kernel, arrays, None)


def _fixed_point_correlation(phi: Activation, sw: float, sb: float, q: float,
                             chaotic: bool) -> float:
    if not chaotic:
        return 1.0

    def excess(c):
        return _correlation_map_float(phi, c, sw, sb, q) - c

    high = None
    for eps in _CORRELATION_EPS[::-1]:
        if excess(1 - eps) < 0:
            high = 1 - eps
            break
    if high is None:
        return 1.0
    points = [1 - eps for eps in _CORRELATION_EPS if 1 - eps < high]
    low = 0.0
    for p in points[::-1]:          # the largest crossing below high: c* reached from c ~ 1
        if excess(p) >= 0:
            low = p
            break
    if excess(low) == 0:
        return low
    return optimize.brentq(excess, low, high, xtol=1e-15, rtol=4 * np.finfo(float).eps)


@_fill
def fixed_point_correlation(activation: Any, sigma_w2: ArrayLike, sigma_b2: ArrayLike = 0.0
                            ) -> float | np.ndarray:
    r"""The stable fixed point :math:`c^*` of the correlation map (at q = q*).

    Ordered phase (chi_1 <= 1): c* = 1, all inputs become aligned.  Chaotic phase
    (chi_1 > 1, or phi jumps): the largest c* < 1 with
    :math:`c^* = (\sigma_w^2 E\,\phi(u_1)\phi(u_2) + \sigma_b^2)/q^*`, the one the
    iteration reaches from c close to 1 (c* >= 0 always, since c'(0) >= 0; c* = 0 for an
    odd phi without bias).  Within 2**-24 of the boundary, c* = 1 is returned.

    Parameters
    ----------
    %(activation)s
    %(sigma_w2)s
    %(sigma_b2)s

    Returns
    -------
    float or ndarray
        c* in [0, 1], broadcast over sigma_w2 and sigma_b2.

    Raises
    ------
    ValueError
        For bad arguments or no fixed point q*.

    References
    ----------
    .. [1] B. Poole et al., NeurIPS 2016, Fig. 2.
    .. [2] S. S. Schoenholz et al., ICLR 2017, section 3.

    Examples
    --------
    Odd phi, no bias, chaotic phase: uncorrelated inputs stay uncorrelated, c* = 0.

    >>> from initmath.mean_field import fixed_point_correlation
    >>> abs(float(fixed_point_correlation("tanh", 4.0))) < 1e-12
    True
    >>> float(fixed_point_correlation("tanh", 0.5, 0.1))       # ordered phase
    1.0
    """
    phi = _activation(activation)
    arrays = _validate.broadcast(**dict(zip(("sigma_w2", "sigma_b2"),
                                            _sigmas(sigma_w2, sigma_b2))))

    def kernel(sw, sb):
        q = _variance_for(phi, sw, sb, None, scale_free=sb == 0)
        return _fixed_point_correlation(phi, sw, sb, q, _chaotic(phi, sw, sb, q))

    return _evaluate(kernel, arrays, None)


def _chaotic(phi: Activation, sw: float, sb: float, q: float) -> bool:
    """Whether c = 1 repels: phi jumps, or the correlation map's slope at c = 1,
    sigma_w^2 q E phi'(u)^2 / q' (chi_1 at q = q*), exceeds 1."""
    if _jumps(phi):
        return True
    _needs_derivative(phi, "fixed_point_correlation")
    return sw * q * _derivative_moment(phi, q) > sw * _second_moment(phi, q) + sb


@_fill
def depth_scales(activation: Any, sigma_w2: float, sigma_b2: float = 0.0) -> DepthScales:
    r"""How many layers the variance and the correlation take to reach their fixed points.

    .. math:: \xi_q = -1/\log\chi_q, \quad \chi_q = \frac{\partial q'}{\partial q}\Big|_{q^*}
              = \sigma_w^2 E[\phi'(u)^2 + \phi(u)\phi''(u)]; \qquad
              \xi_c = -1/\log\chi_c, \quad
              \chi_c = \sigma_w^2 E\,\phi'(u_1)\phi'(u_2)\big|_{c^*},

    u, u_1, u_2 ~ N(0, q*), correlation c* (:func:`fixed_point_correlation`); for c* = 1,
    chi_c = chi_1.  |q^l - q*| and |c^l - c*| decay like exp(-l/xi).  chi_q is computed as
    :math:`\sigma_w^2 E[\phi(u)^2 (u^2/q^* - 1)]/(2q^*)` (the derivative of the Gaussian
    density in its variance), which needs no phi''.

    Parameters
    ----------
    %(activation)s
    sigma_w2 : float
        Weight variance times fan-in, sigma_w^2 > 0.
    sigma_b2 : float, default 0
        Bias variance, sigma_b^2 >= 0.

    Returns
    -------
    DepthScales
        ``(variance, correlation)`` = (xi_q, xi_c), in layers; xi_c = inf at chi_1 = 1.

    Raises
    ------
    ValueError
        For bad arguments, no fixed point q* (so for ReLU without bias, whose q^l moves
        geometrically), an activation without a derivative or one that jumps.

    References
    ----------
    .. [1] S. S. Schoenholz et al., ICLR 2017, eqs. 6-9.

    Examples
    --------
    ReLU with bias: q' = sigma_w^2 q / 2 + sigma_b^2, so chi_q = chi_1 = sigma_w^2 / 2, and
    c* = 1 in the ordered phase:

    >>> import math
    >>> from initmath.mean_field import depth_scales
    >>> xi = depth_scales("relu", 1.5, 0.1)
    >>> math.isclose(xi.variance, -1 / math.log(0.75)) and xi.variance == xi.correlation
    True
    """
    phi = _activation(activation)
    _needs_derivative(phi, "depth_scales")
    sw = _validate.real_scalar(sigma_w2, "sigma_w2", 0, low_open=True)
    sb = _validate.real_scalar(sigma_b2, "sigma_b2", 0)
    q = _fixed_point_float(phi, sw, sb)
    chi_q = sw * _homogeneous_factor(phi) if phi.slopes is not None else _variance_slope(
        phi, sw, q)
    c = _fixed_point_correlation(phi, sw, sb, q, _chaotic(phi, sw, sb, q))
    d = phi.derivative.numpy
    chi_c = (sw * _derivative_moment(phi, q) if c == 1
             else sw * _pair_moment(d, phi.breakpoints, q, c))
    return DepthScales(_depth(chi_q), _depth(chi_c))


def _depth(chi: float) -> float:
    """-1 / log(chi): inf at chi = 1."""
    log = math.log(chi) if chi > 0 else -math.inf
    return math.inf if log == 0 else -1 / log


@_docs.fill(activation=_DOCS["activation"])
def gain(activation: Any, q: ArrayLike = 1.0, *, dps: int | None = None) -> Result:
    r"""The exact gain: std = gain / sqrt(fan_in) keeps the pre-activation variance q.

    .. math:: g^2 = \frac{q}{E\,\phi(\sqrt q\, z)^2}, \qquad z \sim N(0, 1),

    at infinite width and without bias: q is then a fixed point of the variance map at
    sigma_w^2 = g^2.  Unlike ``torch.nn.init.calculate_gain`` it depends on q (except for
    positively homogeneous phi: ReLU sqrt(2), leaky ReLU sqrt(2 / (1 + a^2)), identity
    1, which torch gets exactly).  torch's tanh gain 5/3 and SELU gain 3/4 do not
    preserve the second moment; at q = 1 the exact ones are 1.59253... and 1.0000...
    (SELU's self-normalizing fixed point).

    Parameters
    ----------
    %(activation)s
    q : float or array_like, default 1
        Pre-activation variance to preserve, q > 0 (finite).
    %(dps)s

    Returns
    -------
    float, ndarray, mpmath.mpf or object ndarray

    Raises
    ------
    ValueError
        For q <= 0 or not finite, an unknown activation, or phi = 0 almost everywhere
        under N(0, q) (no gain preserves anything).

    References
    ----------
    .. [1] K. He, X. Zhang, S. Ren and J. Sun, "Delving deep into rectifiers", ICCV 2015.
    .. [2] G. Klambauer, T. Unterthiner, A. Mayr and S. Hochreiter, "Self-normalizing
       neural networks", NeurIPS 2017.
    .. [3] PyTorch issue #24991 (SELU's gain 3/4 in ``calculate_gain``).

    Examples
    --------
    >>> import math
    >>> from initmath.mean_field import gain
    >>> float(gain("relu")) == math.sqrt(2)
    True
    >>> round(float(gain("tanh")), 12)
    1.592537419723
    """
    phi = _activation(activation)
    q = _validate.real(q, "q", 0, low_open=True)
    dps = _validate.dps_or_none(dps)

    def kernel(q):
        moment = _second_moment(phi, q, dps is not None)
        if moment == 0:
            raise ValueError(f"gain: activation {phi.name!r} vanishes almost everywhere "
                             f"under N(0, q={float(q)!r}); no gain preserves q")
        return (mpmath.sqrt if dps is not None else math.sqrt)(q / moment)

    return _evaluate(kernel, (q,), dps)

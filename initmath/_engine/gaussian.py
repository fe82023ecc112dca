"""Expectations over one Gaussian coordinate, E f(c g) with g ~ N(0, 1), exact at kinks.

The functions integrated here are activations (and powers and exponentials of them) that
are analytic between finitely many breakpoints (kinks, jumps, zeros).  The g-axis is cut
at those breakpoints and at a fixed geometric partition around the Gaussian's centre
(0, +-1, +-2, ..., +-16, +-40; phi(40) < 1e-347, so nothing beyond contributes to any
integrand of polynomial growth), and each piece gets a tanh-sinh rule.  Tanh-sinh
converges geometrically for integrands analytic inside the piece, whatever they do at its
ends, and clusters its nodes double-exponentially there: the sharp peaks of exp(-t phi^2)
at the zeros of phi (which are breakpoints) are resolved for any t.

float64: :func:`gaussian_rule` gives nodes x = c g and weights (the Gaussian density
included), reusable for many integrands; :func:`expectation` applies it.  Distances to the
piece ends are computed from exp(+-u) / cosh(u), not from 1 -+ tanh(u), so nodes next to a
breakpoint keep their relative accuracy.  mpmath: :func:`expectation_mp` hands the same
pieces to :func:`mpmath.quad` (tanh-sinh at the working precision);
:func:`gaussian_rule_mp` is :func:`gaussian_rule`'s pieces (peaks included) with a
Gauss-Legendre rule on each at the working precision, for many integrands at once.
"""
import functools
import itertools
import math
from collections.abc import Callable, Sequence

import mpmath
import numpy as np

# The g-axis partition: a piece never spans more than one of these octaves, so the Gaussian
# factor is well resolved by one tanh-sinh rule per piece.
_PARTITION = (0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 40.0)
_G_MAX = 40.0
# Tanh-sinh step and half-width in the rule's variable: weights beyond |t| = 3.3 are below
# 1e-17 of the total; h = 1/16 gives ~1e-15 relative accuracy for the integrands here.
_STEP = 1 / 16
_T_MAX = 3.3
# Geometric cuts towards a peak: 4^600 spans any ratio of two float64 numbers.
_MAX_CUTS = 600


@functools.cache
def _tanh_sinh():
    """Offsets from the left end (as a fraction of the half-length), from the right end,
    and weights (per unit half-length) of the tanh-sinh rule on [-1, 1]."""
    t = np.arange(-round(_T_MAX / _STEP), round(_T_MAX / _STEP) + 1) * _STEP
    u = math.pi / 2 * np.sinh(t)
    from_left = np.exp(u) / np.cosh(u)          # 1 + tanh(u), exact near the left end
    from_right = np.exp(-u) / np.cosh(u)        # 1 - tanh(u), exact near the right end
    weight = math.pi / 2 * _STEP * np.cosh(t) / np.cosh(u) ** 2
    return from_left, from_right, weight, t < 0


def _pieces(breakpoints, scale, peaks, width, ratio=4.0):
    """Sorted ends of the pieces of the g-axis for E f(scale g): the partition, the
    breakpoints, and cuts at geometric distances width ratio^k (x units) from each peak
    (width: one for all peaks, or one per peak).  With an mpmath scale the breakpoints'
    ends are mpmath numbers (exact at the working precision), the other cuts floats."""
    cuts = {s * p for p in _PARTITION for s in (-1.0, 1.0)}
    cuts |= {b / scale for b in breakpoints}
    if width is not None:
        for z, w in zip(peaks, np.broadcast_to(width, (len(peaks),))):
            # From the peak's width out to one standard deviation (scale), by factors of 4.
            steps = math.ceil((math.log(float(scale)) - math.log(w)) / math.log(ratio))
            distances = w * ratio ** np.arange(0, min(max(1, steps), _MAX_CUTS))
            cuts |= {(z + s * e) / float(scale) for e in distances for s in (-1.0, 1.0)}
    return np.array(sorted(c for c in cuts if abs(c) <= _G_MAX))


def gaussian_rule(breakpoints: Sequence[float], scale: float, *, peaks: Sequence[float] = (),
                  width: float | Sequence[float] | None = None, legendre: int | None = None,
                  ratio: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    """Nodes x = scale g and weights w with sum w f(x) = E f(scale g), g ~ N(0, 1).

    breakpoints: the x where f is not analytic (kinks, jumps, zeros); scale > 0; peaks,
    width: points where f has a sharp peak (or step) of about this width (x units; one
    width, or one per peak), such as exp(-t phi(x)^2) at the zeros of phi for large t:
    the pieces then shrink geometrically towards each peak, so one rule per piece
    resolves it (by factors of ``ratio``).  legendre: a Gauss-Legendre rule of this many
    nodes on each piece instead of tanh-sinh (~4 times fewer nodes; the integrand must
    then be analytic on a neighbourhood of each piece, not only inside it).
    """
    if not (math.isfinite(scale) and scale > 0) or (width is not None and not np.all(
            np.isfinite(width) & (np.asarray(width) > 0))):
        raise ValueError(f"gaussian_rule: scale and width must be finite and > 0, got "
                         f"scale={scale!r}, width={width!r} (the pre-activation standard "
                         f"deviation underflowed or overflowed float64)")
    ends = _pieces(breakpoints, scale, peaks, width, ratio)
    left, right = ends[:-1, None], ends[1:, None]
    half = (right - left) / 2
    if legendre is None:
        from_left, from_right, weight, left_half = _tanh_sinh()
        g = np.where(left_half, left + half * from_left, right - half * from_right)
    else:
        unit, weight = _legendre(legendre)
        g = (left + right) / 2 + half * unit
    w = half * weight * np.exp(-g * g / 2) / math.sqrt(2 * math.pi)
    return (scale * g).ravel(), w.ravel()


@functools.cache
def _legendre(n):
    """Gauss-Legendre nodes and weights on [-1, 1] (numpy's)."""
    return np.polynomial.legendre.leggauss(n)


@functools.cache
def _gauss_legendre(degree, prec):
    """Gauss-Legendre nodes and weights on [-1, 1] (mpmath's, 3 * 2^(degree - 1) nodes)."""
    rule = mpmath.calculus.quadrature.GaussLegendre(mpmath.mp).calc_nodes(degree, prec)
    return [u for u, _ in rule], [v for _, v in rule]


def gaussian_rule_mp(breakpoints: Sequence, scale, *, peaks: Sequence[float] = (),
                     width: float | Sequence[float] | None = None, degree: int = 5,
                     ratio: float = 4.0,
                     select: Callable[[np.ndarray], np.ndarray] | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`gaussian_rule` at mpmath's working precision: the same pieces (the
    breakpoints' ends exact), a Gauss-Legendre rule of 3 * 2^(degree - 1) nodes on each
    (object arrays of mpmath numbers).  The integrand must be analytic on a neighbourhood
    of each piece; the cuts towards the peaks keep it so at the scale of the piece.
    select: keeps only the nodes where it is true, given the nodes x in float64 (so that
    an integrand negligible on most of the line costs only where it is not)."""
    scale = mpmath.mpf(scale)
    ends = [mpmath.mpf(e) for e in _pieces(breakpoints, scale, peaks, width, ratio)]
    unit, weight = _gauss_legendre(degree, mpmath.mp.prec)
    pieces = [((a + b) / 2, (b - a) / 2) for a, b in itertools.pairwise(ends)]
    index = np.arange(len(pieces) * len(unit))
    if select is not None:
        ends_float = np.array(ends, dtype=float)
        x_float = float(scale) * ((ends_float[:-1, None] + ends_float[1:, None]) / 2 + (
            ends_float[1:, None] - ends_float[:-1, None]) / 2 * np.array(unit, dtype=float))
        index = index[select(x_float.ravel())]
    density = 1 / mpmath.sqrt(2 * mpmath.pi)
    nodes, weights = [], []
    for i in index.tolist():
        (mid, half), j = pieces[i // len(unit)], i % len(unit)
        g = mid + half * unit[j]
        nodes.append(scale * g)
        weights.append(half * weight[j] * mpmath.exp(-g * g / 2) * density)
    return np.array(nodes, dtype=object), np.array(weights, dtype=object)


def expectation(f: Callable[[np.ndarray], np.ndarray], breakpoints: Sequence[float],
                scale: float, **peaks) -> float:
    """E f(scale g), g ~ N(0, 1), in float64 (f vectorised over numpy arrays); ``peaks``
    and ``width`` as in :func:`gaussian_rule`."""
    x, w = gaussian_rule(breakpoints, scale, **peaks)
    return float(w @ f(x))


def expectation_mp(f: Callable, breakpoints: Sequence, scale) -> mpmath.mpf:
    """E f(scale g), g ~ N(0, 1), at mpmath's working precision (f on mpmath numbers)."""
    scale = mpmath.mpf(scale)
    # Breakpoints where the Gaussian weight is below the working precision are left out:
    # a cut at g = 1e300 would leave mpmath.quad a piece [0, 1e300] it cannot resolve.
    far = max(_G_MAX, math.sqrt(2 * math.log(10) * (mpmath.mp.dps + 20)))
    cuts = sorted({mpmath.mpf(0)} | {g for g in (mpmath.mpf(b) / scale for b in breakpoints)
                                      if abs(g) <= far})
    density = 1 / mpmath.sqrt(2 * mpmath.pi)
    return mpmath.quad(lambda g: f(scale * g) * mpmath.exp(-g * g / 2) * density,
                       [-mpmath.inf, *cuts, mpmath.inf])

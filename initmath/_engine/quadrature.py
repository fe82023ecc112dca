"""The one quadrature plan: trapezoidal rule in x = log t with double-exponential tails.

The Laplace and Frullani integrands of the routes are analytic for |Im x| < pi/2 and
decay exponentially at both ends of the x = log t axis, so the trapezoidal rule
converges geometrically (error ~ exp(-pi^2 / step)).  The nodes sit on the lattice
u = step * j, mapped by

    x(u) = u - exp(x_left - u) + exp(u - x_right),   dx/du = 1 + exp(x_left - u) + exp(u - x_right),

which is the identity between the corners x_left and x_right (where the integrand
bends: t ~ 1 / c_max and t ~ 1 / c_min of the normalised scales) and compresses the
tails double-exponentially beyond them.  The lattice ends where the integrand, decaying
like exp(rate * x) on the left and exp(-rate * x) on the right, is exp(-tail) of its peak.

Chernoff cut.  With k = E[C] / max(C) * d and the chord bound
M(t) <= 1 - (1 - (1 + 2 c_max t)^(-1/2)) / (d c_max) (convexity in c),
P(Z < s E Z) <= exp(-k (1 - s^(1/3))^2 (2 + s^(1/3)) / 2), so once that is below the
tail tolerance only t <~ tail / s matters.  Without the cut the nodes would run out to
t ~ 1 / c_min ~ d.

Every route keeps its own constants (tail, step, margins); the arithmetic is written
once against a backend (:mod:`.backend`): for rows of numpy arrays, for one row of
Python floats, or in mpmath.
"""
import numpy as np

# The left corner is never right of this (t = e^-2 of the normalised Z), and the corners
# keep these margins from the bends at t = 1 / c_max and t = 1 / c_min.
X_LEFT = -2.0
LEFT_MARGIN = 2.0
RIGHT_MARGIN = 6.0
# The cut puts the right corner this far beyond the cut point.
_CUT_CORNER = 50


def right_rate(h, d, has_atom, xp):
    """Decay rate in x of the integrand E[Z^h ...]-weighted at t -> inf: h + 1/2 with an
    atom (or d = 1), h + d/2 without (L(t) ~ t^(-d/2))."""
    return h + xp.num(1) / 2 * xp.where(has_atom, 1, d)


def plan(log_first, log_last, k, rate_left, rate_right, tail, step, xp, *,
         left_shift=0, extra=0, cut_shift=0):
    """Lattice of the rule: (j0, n, x_left, x_right), the first lattice index, the node
    count and the map's corners.

    log_first, log_last: log of the t where the integrand bends first and last (log of
    1 / c_max and 1 / c_min of the normalised scales); k: the Chernoff count;
    rate_left, rate_right: the decay rates at both ends; tail: e-folds kept; step: the
    lattice spacing.  left_shift moves the left corner left (a peak left of t ~ 1),
    extra widens the lattice at both ends and cut_shift moves the cut point right (for
    integrands carrying powers of x).
    """
    # Heavy atoms (dropout) or d ~ 1 leave the mass of the normalised Z far above 1: the
    # integrand then bends at t ~ 1 / c_max, left of the usual corner.
    x_left = xp.minimum(X_LEFT, log_first - LEFT_MARGIN) - left_shift
    x_right = xp.maximum(log_last, 0) + RIGHT_MARGIN
    u_hi = x_right + xp.log(tail / rate_right) + extra
    beyond = k > tail
    s = xp.where(beyond, (1 - xp.sqrt(tail / k)) ** 3, 1)
    x_cut = xp.log((tail + 5) / s) + cut_shift
    cut = beyond & (x_cut < u_hi)
    u_hi = xp.where(cut, x_cut + extra, u_hi)
    x_right = xp.where(cut, x_cut + _CUT_CORNER, x_right)
    u_lo = x_left - xp.log(tail / rate_left) - extra
    j0 = xp.integer(xp.floor(u_lo / step))
    n = xp.integer(xp.ceil(u_hi / step)) - j0 + 1
    return j0, n, x_left, x_right


def points(j0, n, step, xp):
    """The lattice u = step * (j0 + j), j < n (one row per entry of an array j0)."""
    return (np.asarray(j0)[..., None] + np.arange(n)).astype(xp.dtype) * step


def mapped(u, e_left, e_right):
    """Nodes x(u) and weights dx/du from e_left = exp(x_left - u), e_right = exp(u - x_right)."""
    return u - e_left + e_right, 1 + e_left + e_right


def nodes(u, x_left, x_right, xp):
    """Nodes x(u) and weights dx/du of the map with corners x_left, x_right."""
    return mapped(u, xp.exp(x_left - u), xp.exp(u - x_right))


def without_atom(l_full, alive, atom, d, xp):
    """L(t) - P(Z = 0) = L(t) (1 - (atom / M(t))^d), without cancellation as t -> inf.

    The Frullani integrands need the Laplace transform of Z' = Z | Z > 0; l_full = M^d,
    alive = M - atom (the part of M(t) from the non-zero scales), atom = P(C = 0) per
    coordinate.  Where atom is 0 this is l_full itself.
    """
    no_atom = atom == 0
    safe_atom = np.where(no_atom, 1, atom)
    return np.where(no_atom, l_full, l_full * -xp.expm1(-d * xp.log1p(alive / safe_atom)))

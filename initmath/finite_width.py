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
:mod:`initmath._engine.gaussian`'s rule (Gauss-Legendre pieces), cut at the kinks and,
for large t, ever closer to the zeros of phi where :math:`e^{-t\phi^2}` peaks and to the
steps of :math:`e^{-t\phi^2}` where phi tends to 0.  The t-nodes go in groups that
share one rule (one level of its refinement towards the zeros, a factor 16 in t), all
evaluated in one array; a group's rule leaves out the nodes where :math:`e^{-ty}` is
negligible for its smallest t.  The lattice stops once a Chernoff bound on the rest,
:math:`(K/T)^h e^{tK/T} (M(t)^d - P(Z = 0))` over the nodes t so far, is below the
tolerance.  At mpmath precision (``dps``) the same lattice and rules run with mpmath
numbers, Gauss-Legendre pieces and a step and tails scaled to the digits.

Built on it: the weight and bias standard deviations that preserve the moment
(:func:`moment_preserving_sigma`, :func:`moment_preserving_sigma_b`), the finite-width
fixed point of the norm map and its slope (:func:`fixed_point_norm`, the analogue of the
mean-field :math:`q^*`), and the expansion of the moment map in 1/d around the mean field
(:func:`moment_map_expansion`).
"""
import functools
import math
from typing import NamedTuple

import mpmath
import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize, special

from . import _docs, _validate
from ._engine import quadrature
from ._engine.backend import FLOAT, MP
from ._engine.evaluate import at_precision, elementwise, guard_digits, unwrap
from ._engine.gaussian import expectation_mp, gaussian_rule, gaussian_rule_mp
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
# float64 trapezoidal step in x = log t (error ~ exp(-pi^2 / (2 step)): the integrand
# decays along the real axis only, so the strip that counts is |Im x| < pi/4) and the
# tails kept (e-folds below the peak of the integrand).  1/4 (the Laplace route's)
# leaves 3e-9 for GELU at c = 3, d = 2.
_STEP = 0.125
_TAIL = 44.0
# The fewest t-nodes a group (one Gaussian rule, its cuts following the group's largest
# t), and the stride of the t at which the steps of exp(-t Y) are located.
_BAND = 8
# The stopping rule: the rest of the integral below _TOL of the total, with Gamma(alpha,
# _K) / Gamma(alpha) < 1e-17 for its second term; and in any case at t = e^_X_MAX of the
# normalised Z, where the rule's cuts would have to reach ~ e^-_X_MAX/2 of the zeros.
_TOL = 1e-17
_K = 42.0
_X_MAX = 250.0
# t-nodes taken at a time (a group is at most this long).
_GROUP_MAX = 64
# A group's rule leaves out the nodes with t y > _CUT at its smallest t (y^j e^(-t y)
# <= (_CUT / t)^j e^-_CUT), and the nodes above the mean of Y whose every term w y^j is
# below _NEGLIGIBLE of E Y^j.
_CUT = 80.0
_NEGLIGIBLE = 1e-20
# The lattice's step is kept (no double-exponential compression) while the integrand
# carries more than this fraction of the total.
_BEND = 1e-10
# Its pieces: Gauss-Legendre rules of _LEGENDRE nodes (the integrands are analytic on a
# neighbourhood of each piece), cuts towards the peaks by factors of _RATIO (a cubic
# zero's exp(-t x^6) falls by at most e^-64 across a piece), and for c > _SCALE_MIN also
# at the x of _SCALE_CUTS, where phi itself bends (tanh(c g) at c = 30 has poles 0.05
# from the g-axis, inside the partition's first piece).
_LEGENDRE = 24
_RATIO = 2.0
_SCALE_CUTS = (-8.0, -4.0, -2.0, -1.0, 1.0, 2.0, 4.0, 8.0)
_SCALE_MIN = 1.0
_FACTORIALS = special.factorial(np.arange(52))
# The Laplace route at mpmath precision: seconds of one moment at 40 working digits
# (dps=30 and its guard digits) and s < 3, and the moments a root or fixed point takes.
_LAPLACE_S = 4.0
_ROOT_CALLS = 6
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
    """(Y / (d E Y), sqrt(d E Y)) on the nodes of ``rule``; the normalised Z has mean 1.
    phi is scaled by its largest value first, so that phi^2 cannot underflow (hardtanh
    with bounds +-1e-300: E|phi|^(1/2) ~ 1e-150 is a float64, phi^2 is not)."""
    values = phi.numpy(rule[0])
    amplitude = float(np.max(np.abs(values)))
    if amplitude == 0:                              # phi(c g) = 0 almost surely
        return values, 0.0
    root_mean = amplitude * math.sqrt(d * float(rule[1] @ (values / amplitude) ** 2))
    return (values / root_mean) ** 2, root_mean


def _moment_integer(m, d, y, w):
    """E Z^m of the normalised sum from the moments of Y on the rule (y, w)."""
    a = [1.0] + [float(w @ y ** j) / math.factorial(j) for j in range(1, m + 1)]
    return math.factorial(m) * _power_series_power(a, d)[m]


def _crossings(x, y, t):
    """The x where t Y = 1 for a t of ``t``, located between nodes of a rule (x, y), and
    the e-fold distance of Y there, 1 / |d log Y / dx|: exp(-t Y) steps there, by ~1/e
    per that distance (where phi tends to 0 at +-infinity, as GELU's x Phi(x) does, and
    near the zeros of phi)."""
    with np.errstate(divide="ignore"):
        log_y = np.log(y)
    above = log_y + np.log(t)[:, None] > 0
    change = (above[:, 1:] != above[:, :-1]).any(axis=0)
    with np.errstate(invalid="ignore"):
        efold = np.diff(x)[change] / np.abs(np.diff(log_y)[change])
    return (x[1:] + x[:-1])[change] / 2, efold


def _level(t, c, root_mean):
    """How far the rule's cuts close in on the zeros of phi for Laplace variables up to
    t (of Z / root_mean^2): to c 4^-level, the first such distance below the width
    root_mean / sqrt(t) of the peak of exp(-t phi^2 / root_mean^2) (0: no cuts needed,
    the peak is as wide as the Gaussian)."""
    return np.maximum(0, np.ceil(np.log(c * np.sqrt(t) / root_mean) / math.log(4)))


def _cuts(t, c, root_mean, base, zeros):
    """Where the rule for a group of Laplace variables t (of the normalised Z) must close
    in, and how far: (peaks, widths), at the zeros of phi and at the steps of
    exp(-t Y) away from them (floats: the cuts need not be exact)."""
    cross, efold = _crossings(*base, np.append(t[::_BAND], t[-1]))
    # Crossings next to a zero of phi are resolved by the zero's own cuts.
    # (y = 0 on one side, efold = 0: the end of a flat zero of phi, a breakpoint.)  A
    # step wider than 1/8 of the partition's piece there is resolved without cuts.
    far = np.all(np.abs(cross[:, None] - np.array(zeros + (np.inf,))) > 8 * efold[:, None],
                 axis=1) & (efold > 0) & (8 * efold < np.maximum(c, np.abs(cross)))
    # One cut set per step width along the path of the step as t grows.
    order = np.argsort(cross[far])
    cross, efold = cross[far][order], efold[far][order]
    far = np.diff(cross, prepend=-np.inf) > efold
    level = _level(t[-1], c, root_mean)
    peaks = (zeros if level > 0 else ()) + tuple(cross[far])
    widths = [c * 4.0 ** -level] * (len(peaks) - int(far.sum())) + list(efold[far])
    return peaks, widths


def _rule_cuts(phi, c):
    """The rules' cuts: phi's breakpoints, and for c > 1 the x = +-1, 2, 4, 8 where phi
    itself bends (tanh(c g) at c = 30 has poles 0.05 from the g-axis: Gauss-Legendre
    pieces must not span them)."""
    return phi.breakpoints + (_SCALE_CUTS if c > _SCALE_MIN else ())


def _group_rule(t, rule, y, cut):
    """The rule (weights, normalised y) for a group of Laplace variables t without the
    nodes where exp(-t Y) is negligible, the weight of those (they still count in
    1 - M(t)), and the atom of Y at 0 (the nodes where phi = 0, merged into one)."""
    # Beyond t y = cut, y^j e^(-t y) <= (cut / t)^j e^-cut is below the tolerance
    # relative to M(t) E_t[Y^j] ~ M(t) / t^j for every t of the group.
    far = t[0] * y >= cut
    keep = ~far & (y != 0)
    atom = rule[1][y == 0].sum()
    return (np.append(rule[1][keep], atom), np.append(y[keep], 0 * atom), rule[1][far].sum(),
            atom)


def _tilted_integrand(x, d, m, alpha, phi, c, root_mean, base, zeros):
    """t^alpha E[Z^m e^(-tZ)] of the normalised Z at the nodes x = log t of one group,
    and log(M(t)^d - P(Z = 0)) there."""
    t = np.exp(x)
    with np.errstate(under="ignore", divide="ignore", invalid="ignore", over="ignore"):
        peaks, widths = _cuts(t, c, root_mean, base, zeros)
        rule = gaussian_rule(_rule_cuts(phi, c), c, peaks=peaks,
                             width=widths if peaks else None, legendre=_LEGENDRE, ratio=_RATIO)
        w, y, dropped, atom = _group_rule(t, rule, (phi.numpy(rule[0]) / root_mean) ** 2,
                                          _CUT)
        powers = w[:, None] * y[:, None] ** np.arange(m + 1)
        # Nodes above the mean of Y with every term w y^j below 1e-20 of E[Y^j] (the far
        # Gaussian tails) stay negligible for every t: exp(-t y) falls faster there than
        # E[Y^j e^(-tY)].
        keep = (y <= 1 / d) | np.any(powers >= _NEGLIGIBLE * powers.sum(axis=0), axis=1)
        dropped += w[~keep].sum()
        w, y, powers = w[keep], y[keep], powers[keep]
        ty = t[:, None] * y
        # log M from 1 - M = E[-expm1(-tY)] where M > 1/2 (d log M needs it to ~1e-16
        # absolute), from M itself elsewhere.  Where t max(Y) < 1/2 every exp(-t y) is
        # above 0.6, so 1 + expm1(-t y) is exact enough for it too: one function a node.
        small = t * y.max() < 0.5
        expm1 = np.expm1(-ty[small])
        tilt = np.empty_like(ty)
        tilt[small] = 1 + expm1
        tilt[~small] = np.exp(-ty[~small])
        tilted = tilt @ powers                          # E[Y^j e^(-tY)], j = 0..m
        m_t = tilted[:, 0]
        log_m = np.log(m_t)
        log_m[small] = np.log1p(expm1 @ w - dropped)
        near = (m_t > 0.5) & ~small
        log_m[near] = np.log1p(np.expm1(-ty[near]) @ w - dropped)
        a = [1.0] + list((tilted[:, 1:] / m_t[:, None]
                          / _FACTORIALS[1:m + 1]).T)
        moment = math.factorial(m) * _power_series_power(a, d)[m]
        # log (M^d - P(Z = 0)), for the stopping rule
        log_alive = np.where(m_t > 0, d * log_m + np.log(-np.expm1(d * (np.log(atom) - log_m))),
                             -np.inf)
        return np.where(m_t > 0, np.exp(d * log_m + alpha * x) * moment, 0), log_alive


class _Precision(NamedTuple):
    """The constants of the Laplace route at one precision."""

    xp: object          # the backend (FLOAT or MP)
    step: object        # trapezoidal step in log t: error ~ exp(-pi^2 / (2 step))
    tail: float         # e-folds of the integrand kept at both ends of the plan
    tol: float          # the stopping rule's relative tolerance
    k: float            # Gamma(alpha, k) / Gamma(alpha) below tol
    cut: float          # the nodes with t y > cut (at a group's smallest t) left out


_FLOAT = _Precision(FLOAT, _STEP, _TAIL, _TOL, _K, _CUT)


def _mp_precision():
    """The constants at mpmath's working precision (the float64 ones scaled by its
    digits: a step of 1/8 and 44 e-folds at 17 digits)."""
    e_folds = mpmath.mp.dps * math.log(10)
    return _Precision(MP, mpmath.pi ** 2 / (2 * mpmath.mpf(e_folds)), e_folds + 5,
                      10.0 ** -mpmath.mp.dps, e_folds + 3, e_folds + 80)


def _last_bend(y, w, d, h):
    """log of the largest t where the integrand still carries _BEND of the total: the
    small values of Z ~ d y (every coordinate below y, P >= F(y)^d, weight (d y)^h).
    Near-atoms (leaky ReLU at slope 1e-16) and phi tending to 0 at infinity (GELU at
    large c) put a second bump or a slow tail there; the lattice keeps its step up to
    this t rather than compressing it double-exponentially."""
    order = np.argsort(y)
    small, mass = d * y[order], np.cumsum(w[order])
    with np.errstate(divide="ignore", under="ignore"):
        weight = mass ** d * small ** h
    carrying = small[(weight > _BEND) & (small > 0)]
    return -math.log(carrying[0]) if carrying.size else 0.0


def _moment_fractional(h, d, spread, level, integrand, precision, last_bend=0.0):
    """E Z^h of the normalised Z (mean 1) by the derivative form of its Laplace transform.

    spread = E[Y^2] / (E Y)^2 / d, the scale of the largest values of the normalised Z:
    the integrand bends there (t ~ 1 / spread) and again at t ~ d, below which the small
    values of the coordinates take over.  The lattice goes on beyond the plan while the
    integrand is not negligible (phi tending to 0 at infinity, small d and h: slow
    power-law decay).  level(t): the rule's refinement for t (one group of nodes per
    level); integrand(x): t^alpha E[Z^m e^(-tZ)] and log(M(t)^d - P(Z = 0)) at x = log t.
    """
    xp, step = precision.xp, precision.step
    m = math.floor(float(h) + 0.5) + 1
    alpha = m - h
    with np.errstate(divide="ignore", invalid="ignore"):    # no Chernoff cut (k = 0)
        j0, _, x_left, x_right = quadrature.plan(
            np.float64(-math.log(spread)), np.float64(min(max(math.log(d), last_bend),
                                                          _X_MAX)), np.float64(0),
            float(alpha), float(h) + _RATE_RIGHT, precision.tail, float(step), FLOAT)
    x_left, x_right = xp.num(float(x_left)), xp.num(float(x_right))
    total, start = 0, int(j0)
    done, alive = np.empty(0), np.empty(0)     # the nodes so far, log(M^d - P(Z = 0))
    log_scale = math.log(float(step) / math.gamma(float(alpha)))
    while True:
        u = quadrature.points(start, _GROUP_MAX, step, xp)
        x, jac = quadrature.nodes(u, x_left, x_right, xp)
        x_float = x.astype(float)
        # One group: the nodes of one level of the rule's refinement, or at least _BAND
        # nodes where the levels change fast (the right tail of the lattice, where one
        # rule built for the largest t costs less than a rule a node).
        with np.errstate(over="ignore"):
            levels = level(np.exp(x_float))
        count = max(int(np.searchsorted(levels, levels[0], side="right")), _BAND)
        inside = x_float[:count] <= _X_MAX
        if not inside.any():
            break
        values, log_alive = integrand(x[:count][inside], m, alpha)
        total += values @ jac[:count][inside]
        start += count
        # Beyond the last node T the integral is E[Z^h Gamma(alpha, T Z)] / Gamma(alpha),
        # at most (K/T)^h P(0 < Z < K/T) + E[Z^h] Gamma(alpha, K) / Gamma(alpha), and
        # Chernoff's P(0 < Z < K/T) <= e^(t K/T) (M(t)^d - P(Z = 0)) at every node t <= T
        # so far: stop once that is below the tolerance.
        done = np.append(done, x_float[:count][inside])
        alive = np.append(alive, log_alive)
        bound = float(h) * (math.log(precision.k) - done[-1]) + np.min(
            precision.k * np.exp(done - done[-1]) + alive)
        converged = total > 0 and bound < math.log(precision.tol * float(total)) + log_scale
        if converged or not inside.all():
            break
    return total * step / xp.gamma(alpha)


def _moment_float(h, d, c, phi, peaks):
    """E Z^h in float64 for one (h, d, c)."""
    integer = h == math.floor(h)
    # The moments' recurrence on the tanh-sinh rule; the Laplace route's rules are
    # Gauss-Legendre (its group rules' plain form).
    rule = gaussian_rule(phi.breakpoints, c) if integer else \
        gaussian_rule(_rule_cuts(phi, c), c, legendre=_LEGENDRE)
    y, root_mean = _normalised_coordinate(phi, c, d, rule)
    if root_mean == 0:                              # phi(c g) = 0 almost surely
        return 0.0
    if integer:
        normalised = _moment_integer(int(h), d, y, rule[1])
    else:
        spread = float(rule[1] @ y ** 2) * d
        normalised = float(_moment_fractional(
            h, d, spread, lambda t: _level(t, c, root_mean),
            lambda x, m, alpha: _tilted_integrand(x, d, m, alpha, phi, c, root_mean,
                                                  (rule[0], y), peaks), _FLOAT,
            _last_bend(y, rule[1], d, h)))
    with np.errstate(over="ignore", under="ignore"):
        return float(np.float64(root_mean) ** (2 * h) * normalised)


def _tilted_integrand_mp(x, d, m, alpha, phi, c, mean, base, zeros, precision):
    """:func:`_tilted_integrand` at mpmath's working precision (x: mpmath numbers)."""
    t = MP.exp(x)
    root_mean = float(mpmath.sqrt(mean))
    peaks, widths = _cuts(t.astype(float), float(c), root_mean, base, zeros)
    # The nodes where exp(-t y) is not negligible for the first t (or y = 0, the atom),
    # chosen in float64 with a margin before any mpmath work.
    t_first = float(t[0])
    nodes, weights = gaussian_rule_mp(
        _rule_cuts(phi, c), c, peaks=peaks, width=widths if peaks else None,
        degree=_degree(), ratio=_RATIO,
        select=lambda x: t_first * (phi.numpy(x) / root_mean) ** 2 < precision.cut + 5)
    y = np.array([_phi_mp(phi, v) ** 2 / mean for v in nodes], dtype=object)
    w, y, _, atom = _group_rule(t, (nodes, weights), y, precision.cut)
    # One exp a (t, node) pair; log M from M itself: its rounding error (~10^-dps) costs
    # d 10^-dps relative in M^d, which the guard digits (log10 d of them) cover.
    tilt = MP.exp(-(t[:, None] * y))
    powers = (w * y ** np.arange(m + 1, dtype=object)[:, None]).tolist()
    tilted = np.array([[mpmath.fdot(row, p) for p in powers] for row in tilt.tolist()],
                      dtype=object)
    m_t = tilted[:, 0]
    log_m = MP.log(m_t)
    factorials = np.array([mpmath.factorial(j) for j in range(1, m + 1)], dtype=object)
    a = [1] + list((tilted[:, 1:] / m_t[:, None] / factorials).T)
    moment = mpmath.factorial(m) * _power_series_power(a, d)[m]
    log_alive = d * log_m + MP.log(-MP.expm1(d * (mpmath.log(atom) - log_m)))
    return MP.exp(d * log_m + alpha * x) * moment, log_alive.astype(float)


def _phi_mp(phi, x):
    """phi(x) as an mpmath number (a clamp such as hardtanh's may return its float bound,
    whose powers would overflow float64)."""
    return mpmath.mpf(phi.mpmath(x))


def _degree():
    """Gauss-Legendre degree for the working digits: 3 * 2^(degree - 1) >= digits nodes
    a piece (24 at 40 digits leave ~1e-22)."""
    return max(4, math.ceil(math.log2(mpmath.mp.dps / 3)) + 1)


def _moment_mp(h, d, c, phi):
    """E Z^h at the working precision: exact mpmath integrals for integer h or d = 1,
    the Laplace-transform route otherwise."""
    if not (d == 1 or h == mpmath.floor(h)):
        return _moment_laplace_mp(h, d, c, phi)
    # mpmath.quad's tolerance is absolute: phi is scaled by its largest value on a
    # float64 rule (hardtanh with bounds +-1e-300 would otherwise stop at 3 digits).
    scale = _amplitude(phi, c)

    def moment(power):
        return expectation_mp(lambda x: abs(_phi_mp(phi, x) / scale) ** power,
                              phi.breakpoints, c) * scale ** power
    if d == 1:
        return moment(2 * h)
    m = int(h)
    a = [1] + [moment(2 * j) / mpmath.factorial(j) for j in range(1, m + 1)]
    return mpmath.factorial(m) * _power_series_power(a, d)[m]


def _amplitude(phi, c):
    """The largest |phi(c g)| on the float64 rule (an exact mpmath number; 1 where c or
    phi leaves float64, or phi vanishes there)."""
    c_float = float(c)
    if not C_MIN <= c_float <= C_MAX:
        return mpmath.mpf(1)
    with np.errstate(over="ignore", invalid="ignore"):
        largest = float(np.max(np.abs(phi.numpy(gaussian_rule(phi.breakpoints, c_float)[0]))))
    return mpmath.mpf(largest) if 0 < largest < math.inf else mpmath.mpf(1)


def _moment_laplace_mp(h, d, c, phi):
    """E Z^h for a non-integer h at d >= 2 at the working precision (the float64 route's
    lattice and rules with mpmath numbers, Gauss-Legendre pieces, digits-scaled step)."""
    nodes, weights = gaussian_rule_mp(_rule_cuts(phi, c), c, degree=_degree())
    y = np.array([_phi_mp(phi, v) ** 2 for v in nodes], dtype=object)
    mean = d * (weights @ y)
    if mean == 0:
        return mpmath.mpf(0)
    y = y / mean
    spread = float(weights @ y ** 2) * d
    c_float = _pre_activation_std(float(c), 1.0, 0.0)     # the cuts' scale, in range
    x, w = gaussian_rule(_rule_cuts(phi, c_float), c_float, legendre=_LEGENDRE)
    root_mean = float(mpmath.sqrt(mean))
    base = (x, (phi.numpy(x) / root_mean) ** 2)
    precision = _mp_precision()
    zeros = _zeros(phi)
    return mean ** h * _moment_fractional(
        h, d, spread, lambda t: _level(t, c_float, root_mean),
        lambda x, m, alpha: _tilted_integrand_mp(x, d, m, alpha, phi, c, mean, base, zeros,
                                                 precision), precision,
        _last_bend(base[1], w, d, float(h)))


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
    "sigma": """\
sigma : float or array_like
    Standard deviation of each weight, sigma > 0.""",
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
    %(sigma)s
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
        dps is not a positive integer, dps for a non-integer s/2 at d >= 2 would take
        longer than the work budget (``initmath._validate.WORK_BUDGET_S``, estimated up
        front: ~1-4 s at dps=30, growing like the cube of the digits), or the float64
        result overflows.

    Notes
    -----
    Integer h = s/2: :math:`E Z^h = h!\,[u^h] (E e^{uY})^d` from the moments
    :math:`E Y^j = E\phi(cg)^{2j}`, j <= h (s = 2: :math:`d\,E Y`; s = 4:
    :math:`d\,E Y^2 + d(d-1)(E Y)^2`).  Otherwise the Laplace-transform integral of the
    module docstring: ~1e-13 relative in float64 (up to ~1e-10 at s < 1 for phi with
    a cubic zero or tending to 0 at infinity, d <= 2); a call takes ~1.5-5 ms.
    For phi(x) = max(x, a x) and sigma_b = 0 this is
    :math:`(\sigma r)^s I_a(s, d)` (:func:`initmath.moment_factor`).  With ``dps``:
    the moments' recurrence at integer s/2, :math:`E|\phi(cg)|^s` at d = 1, and
    otherwise the same Laplace-transform integral at the working precision (Gauss-Legendre
    pieces, the trapezoidal step and tails scaled to the digits; 1-4 s at dps=30).

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
    >>> y = moment_map(3.0, 16, "relu", 0.5, dps=15)         # the Laplace route
    >>> bool(mpmath.almosteq(y, moment_factor(3.0, 16, dps=20) * mpmath.mpf(0.5) ** 3,
    ...                      rel_eps=1e-14))
    True
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
    _check_work(arrays[0], arrays[1], dps)

    def value(s, d, sigma, r, sigma_b):
        c = _pre_activation_std(sigma, r, sigma_b, mpmath.sqrt)
        return _moment_mp(s / 2, d, c, phi)

    def kernel_mp(s_float, d, s, sigma, r, sigma_b):
        d = int(d)
        _check_laplace(float(s_float), d, dps, phi,
                       math.hypot(float(sigma) * float(r), float(sigma_b)))
        args = map(_validate.mp_number, (s, sigma, r, sigma_b))
        return at_precision(lambda *a: value(a[0], d, *a[1:]), dps,
                            _mp_guard(float(s_float), d), *args)

    return unwrap(elementwise(kernel_mp, arrays[0], arrays[1],
                              *_as_given((s, sigma, r, sigma_b), arrays[0])))


def _laplace_route(s, d):
    """Where the mpmath moment takes the Laplace-transform route: s/2 not an integer at
    d >= 2."""
    return (s % 2 != 0) & (d != 1)


def _laplace_seconds(s, d, dps, calls=1):
    """Estimated seconds of ``calls`` mpmath moments by the Laplace route: 1-4 s at
    30 digits and s < 3 on the shared 2-core machine; the work grows like the working
    digits cubed (nodes in t and in x, and the cost of one exp) and with the m + 1 tilted
    moments (one exp and m + 1 products a node pair)."""
    digits = dps + _mp_guard(s, d)
    m = math.floor(s / 2 + 0.5) + 1
    return calls * _LAPLACE_S * (digits / 40) ** 3 * (7 + m + 1) / 10


def _check_work(s, d, dps, calls=1):
    """The ValueError for dps= where the Laplace route would take longer than the
    library's work budget, up front from s and d (the typical lattice)."""
    route = _laplace_route(s, d)
    for x, y in zip(s[route].flat, d[route].flat):
        _refuse_beyond_budget(_laplace_seconds(float(x), int(y), dps, calls), dps, x, y)


def _check_laplace(s, d, dps, phi, c, calls=1):
    """The same for one (s, d, c) once c is known: the lattice runs on to the last bend
    of the integrand (the small values of Z, see :func:`_last_bend`), ~4 times longer for
    GELU at d = 2, c = 3."""
    if not (s % 2 and d > 1) or not C_MIN <= c <= C_MAX:
        return
    rule = gaussian_rule(_rule_cuts(phi, c), c, legendre=_LEGENDRE)
    y, root_mean = _normalised_coordinate(phi, c, d, rule)
    bend = _last_bend(y, rule[1], d, s / 2) if root_mean else 0.0
    longer = (max(math.log(d), bend) + 16) / (math.log(d) + 16)
    _refuse_beyond_budget(_laplace_seconds(s, d, dps, calls) * longer, dps, s, d)


def _refuse_beyond_budget(seconds, dps, s, d):
    if seconds > _validate.WORK_BUDGET_S:
        raise ValueError(
            f"dps={dps} for s={s!r}, d={d!r} (s/2 not an integer, d >= 2: the "
            f"Laplace-transform integral at mpmath precision) would take about "
            f"{seconds:.0f} s (budget {_validate.WORK_BUDGET_S} s): ask for fewer digits, "
            f"or use dps=None for float64 (~1e-13 relative)")


def _mp_guard(s, d, *amplifications):
    """Guard digits of the mpmath moment: for integer s/2 the power recurrence's terms
    reach d^(s/2); on the Laplace route d log M(t) carries d times the rounding of
    M(t); 1/s in the root; further amplifications (a root's condition number)."""
    growth = d if (s % 2 and d > 1) else d ** (s / 2)
    return guard_digits(growth, s, *amplifications)


def _as_given(values, like):
    """The arguments as the user gave them (object arrays: a Fraction or an int stays
    exact), broadcast to the shape of ``like``."""
    return np.broadcast_arrays(*(np.asarray(x, dtype=object) for x in values), like)[:-1]


def _refine(excess_mp, x0):
    """The root of excess_mp at mpmath's working precision, by the secant method from the
    float64 root x0 > 0 (each point evaluated once: the secant method asks for the last
    point again once it has converged, and a moment by the Laplace route costs seconds)."""
    x0 = mpmath.mpf(x0)
    # findroot stops once a step is below tol x; the secant method's order is 1.6, so a
    # step below 2^(-0.65 p) leaves ~2^(-1.05 p).  (Its check |f(x)|^2 <= tol passes.)
    tol = mpmath.mpf(2) ** (-0.65 * mpmath.mp.prec)
    return mpmath.findroot(functools.cache(excess_mp), (x0, x0 * (1 + mpmath.mpf(2) ** -40)),
                           solver="secant", tol=tol, maxsteps=60)


def _derivative(f, x):
    """f'(x) at the working precision p (bits) by mpmath.diff's central difference with
    the step 2^(-p/2) x at 1.5 p + 40 bits: truncation ~ 2^-p, rounding ~ 2^(-p-40), at
    about half the cost of its default (step 2^-p at 2 p + 40 bits) for a costly f."""
    prec = mpmath.mp.prec
    with mpmath.workprec(3 * prec // 4):
        return mpmath.diff(f, x, h=mpmath.ldexp(x, -prec // 2))


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
    _check_laplace(s, d, dps, phi, c_of(math.exp(root)), _ROOT_CALLS)

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
        moment map, ~5 of its evaluations).

    Raises
    ------
    ValueError
        For arguments outside the ranges of :func:`moment_map`, dps for a non-integer s/2
        at d >= 2 whose ~6 moments would take longer than the work budget, or when no
        sigma in
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
        _check_work(s_a, d_a, dps, _ROOT_CALLS)
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
    %(sigma)s
    %(r)s
    %(dps)s

    Returns
    -------
    float, ndarray, mpmath.mpf or object ndarray
        The smallest such sigma_b (a geometric grid from 1e-8 to 1e8 times sigma r, then
        Brent's method to ~1e-14 relative; with ``dps``, the secant method on the mpmath
        moment map); 0 when sigma alone preserves the moment.

    Raises
    ------
    ValueError
        For arguments outside the ranges of :func:`moment_map`, dps for a non-integer s/2
        at d >= 2 whose ~6 moments would take longer than the work budget, when sigma
        alone already
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
        _check_work(s_a, d_a, dps, _ROOT_CALLS)
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
    %(sigma)s
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
        With ``dps``: mpmath numbers, r* by the secant method on the mpmath moment map
        and the slope by :func:`mpmath.diff` (a central difference of step
        :math:`2^{-p/2}` at 1.5 p + 40 bits for p working bits).

    Raises
    ------
    ValueError
        For arguments outside the ranges of :func:`moment_map`, dps for a non-integer s/2
        at d >= 2 whose moments would take longer than the work budget, or when G(r) = r
        has no
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
        _check_work(s_a, d_a, dps, _ROOT_CALLS)
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
        _check_laplace(s, d, dps, phi, _pre_activation_std(sigma, math.exp(root), sigma_b),
                       _ROOT_CALLS)
        with mpmath.workdps(dps + _mp_guard(s, d, 1 / max(abs(1 - slope), 1e-300))):
            s, sigma, sigma_b = map(_validate.mp_number, given)

            def norm_map(r):
                c = _pre_activation_std(sigma, r, sigma_b, mpmath.sqrt)
                return _moment_mp(s / 2, d, c, phi) ** (1 / s)
            norm = _refine(lambda r: norm_map(r) / r - 1, math.exp(root))
            slope = _derivative(norm_map, norm)
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
    %(sigma)s
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
            y, root_mean = _normalised_coordinate(phi, c, 1, rule)
            k2, k3 = (float(rule[1] @ (y - 1) ** j) for j in (2, 3))
            mean = root_mean ** 2 * d
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

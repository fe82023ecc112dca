r"""The law of the output norm of a deep network at finite width, for any activation.

For :math:`x_{k+1} = \phi(W_k x_k + b_k)` with iid :math:`N(0, \sigma^2)` weights and
:math:`N(0, \sigma_b^2)` biases, :math:`r_k = \lVert x_k\rVert` is a one-dimensional
Markov chain (:mod:`initmath.finite_width`): given :math:`r_k = r`,
:math:`r_{k+1}^2 = Z = \sum_{i \le d} \phi(c g_i)^2` with :math:`c^2 = \sigma^2 r^2 +
\sigma_b^2`.  :func:`depth_law` discretizes its transfer operator on a grid of
:math:`u = \log r^2` and pushes the law of :math:`r_1` through it.

One step.  The characteristic function of Z is :math:`E e^{i\omega Z} =
\psi(\omega)^d` with :math:`\psi(\omega) = E e^{i\omega\phi(cg)^2}`, one Gaussian integral
(:func:`initmath._engine.gaussian.gaussian_rule`, exact at the kinks).  An atom of
:math:`Y = \phi(cg)^2` at 0 (phi vanishing on an interval: ReLU, ...) of mass
:math:`p_0` gives :math:`P(Z = 0) = p_0^d`, the state r = 0 ("collapse"); the
rest, :math:`\psi^d - p_0^d`, is the transform of the continuous part of Z.  On
:math:`[0, \Lambda)`, :math:`\Lambda = E Z + 25\,\mathrm{sd}(Z)`, its CDF is the Fourier
series

.. math:: P(0 < Z \le z) = \frac{\Psi_0 z}{\Lambda} + \frac{2}{\Lambda}\sum_{k=1}^{K}
          \operatorname{Re}\frac{\Psi(\omega_k)(1 - e^{-i\omega_k z})}{i\omega_k},
          \qquad \omega_k = \frac{2\pi k}{\Lambda},

exact up to the mass of Z beyond :math:`\Lambda` (aliasing) and the truncation at K.

Which law at which c.  For :math:`\phi(x) = \max(x, ax)`, :math:`Z / c^2` does not
depend on c: one law serves every cell (for ReLU at d <= 64 the exact one,
:math:`Z/c^2 = \chi^2_K`, :math:`K \sim \mathrm{Bin}(d, 1/2)`, whose K = 1 term would make
the series above converge like :math:`K^{-1/2}`).  Otherwise the law of
:math:`(\log Z - \log EZ)/\mathrm{scale}`, kept as its quantiles at fixed normal scores,
varies smoothly with log c: it is computed at anchors in log c (halved until a cubic
spline predicts each midpoint) and interpolated, while P(Z = 0), EZ and the scale are
exact at every c (one Gaussian rule over a (c, node) grid).

Transfer.  The grid has cells of width h centred at :math:`u_j`; the kernel
:math:`K_{ij} = P(\log Z \in \text{cell } i \mid u = u_j)` starts each cell's mass at its
centre.  That centring adds, in law, an independent uniform error of width h per layer
(Sheppard), which :func:`_sharpen` removes from the masses before each step to
:math:`O(h^6)`.  Mass below the grid is counted as collapse and above it as explosion
(absorbing without a bias; with one, the collapsed mass restarts from the one-step law at
:math:`c = \sigma_b`).  For :math:`\max(x, ax)` without bias :math:`\log Z - \log c^2` does not
depend on u and one row gives the whole (Toeplitz) kernel, applied as a convolution to
every cell; otherwise the columns are computed as their cells first carry mass.
"""
import dataclasses
import math
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from . import _docs, _validate
from ._engine.gaussian import gaussian_rule
from .activations import activation as resolve_activation

__all__ = ["DepthLaw", "depth_law"]

# Largest number of frequencies of the Fourier series of Z's CDF (added in blocks until a
# block's terms are negligible), and its period in standard deviations of Z beyond the
# mean: P(Z > EZ + 25 sd) < 1e-9 even for d = 1 (chi-square, one degree of freedom),
# e^-26 for d = 2.
_FREQUENCIES = 512
_BLOCK = 32
_TERM_MIN = 1e-15
_PERIOD_SD = 25.0
# The series' window starts no lower than E Z - _LOWER_CUT sqrt(d E Y^2): for Y >= 0,
# P(Z <= E Z - t) <= exp(-t^2 / (2 d E Y^2)) (Maurer 2003), e^-69 here.
_LOWER_CUT = 11.75
# Points of the uniform z-grid on which the series is summed (by FFT).
_SAMPLES = 1 << 15
# Nodes of the Gaussian rule whose weight is below this are dropped (below rounding).
_WEIGHT_MIN = 1e-20
# Rows of Gaussian-rule nodes evaluated at once (bounds the memory of the (c, node) grid).
_CHUNK = 256
# A one-step law is kept as the quantiles of its continuous part at these normal scores
# (levels 3e-14 to 1 - 3e-14: below and above, the Fourier series' rounding); the CDF
# between them is interpolated linearly in the normal score, exact for a Gaussian law and
# O(spacing^2) x (non-Gaussianity) otherwise.
_SCORES = np.arange(-7.5, 7.5 + 1 / 128, 1 / 64)
# ReLU: up to this width the one-step law is the exact chi-square mixture (above it the
# one-active-unit term, of weight d 2^(1-d) < 1e-17, no longer slows the Fourier series).
_MIXTURE_D_MAX = 64
_BINOMIAL_MIN = 1e-20
# Anchors in log c of the interpolated one-step law (cubic spline of the standardized
# quantiles): start every _ANCHOR_STEP, halve an interval until the spline through the
# other anchors predicts its midpoint's quantiles to _ANCHOR_TOL in probability (the
# quantile error times the density phi(x) at the normal score x), or to 3x the law's own
# error where that is larger; at most _ANCHORS_MAX anchors, no closer than
# _ANCHOR_WIDTH_MIN.
_ANCHOR_STEP = 2.0
_ANCHOR_TOL = 1e-5
_ANCHORS_MAX = 400
_ANCHOR_WIDTH_MIN = 1 / 64
# The automatic grid: cells per standard deviation of one step of log r^2, and at most
# this cell width (the grid's error is O((s h)^6) in E r^s, h in units of log r^2);
# margins (in standard deviations of log r_L^2, and in units of log r^2) around the
# mean-field path.
_CELLS_PER_SD = 4.0
_STEP_MAX = 0.125
_MARGIN_SD = 12.0
_POINTS_MAX = 8192
# Columns of the kernel multiplied at once (on the rows they reach).
_BLOCK_COLUMNS = 128
# A one-step law whose quantiles miss E Z by more than this is refused (ValueError): the
# unresolved ones (identity at d = 1: 0.3; tanh at d = 2: up to 0.07, GELU at d <= 8).
# The accepted ones miss it by <= 3e-4 at d >= 16.
_MEAN_TOL = 1e-3
# Cells whose mass and share of E r^2 are below this are not propagated (no kernel column
# is computed for them).
_MASS_MIN = 1e-16


class _Steps(NamedTuple):
    """One-step laws of log Z, one row per c: P(Z = 0), log E Z, the standardizing scale
    sqrt(log(1 + Var Z / (E Z)^2)), the quantiles at _SCORES of (log Z - log E Z) /
    scale given Z > 0, and an estimate of their CDF's error (the smaller of the Fourier
    series' last term |Psi_K| / pi, ~1e-15 when it converged and ~p^d for a near-atom of
    mass p, and the relative error of the mean E Z the quantiles give)."""

    zero: np.ndarray
    centre: np.ndarray
    scale: np.ndarray
    quantiles: np.ndarray
    error: np.ndarray


def _coordinates(phi, cs):
    """Nodes y = phi(c g)^2 of the Gaussian rule (one row per c) and their weights."""
    if all(b == 0 for b in phi.breakpoints):
        # the rule's pieces (the g-partition, cut at 0) do not depend on c: one rule
        g, w = gaussian_rule(phi.breakpoints, 1.0)
        keep = w > _WEIGHT_MIN
        y = phi.numpy(np.multiply.outer(cs, g[keep])) ** 2
        return y, np.broadcast_to(w[keep], y.shape)
    rules = [gaussian_rule(phi.breakpoints, c) for c in cs]
    x, w = np.zeros((2, len(cs), max(len(r[1]) for r in rules)))
    for row, (nodes, weights) in enumerate(rules):
        x[row, :len(nodes)], w[row, :len(nodes)] = nodes, weights
    return phi.numpy(x) ** 2, w


def _summary(y, w, d):
    """P(Z = 0), E Y and Var Y / (E Y)^2 per row (0, 0, 0 where phi(c g) = 0 a.s.)."""
    mean = (w * y).sum(axis=1)
    live = mean > 0
    safe = np.where(live, mean, 1.0)[:, None]
    relative = np.maximum((w * (y / safe) ** 2).sum(axis=1) - 1, 0.0)
    zero = np.where(y == 0, w, 0.0).sum(axis=1) ** d
    return np.where(live, zero, 1.0), mean, np.where(live, relative, 0.0)


def _standardization(phi, cs, d):
    """(P(Z = 0), log E Z, scale) for each c (log E Z = 0, scale = 1 where Z = 0 a.s.)."""
    parts = []
    for start in range(0, len(cs), _CHUNK):
        zero, mean, relative = _summary(*_coordinates(phi, cs[start:start + _CHUNK]), d)
        live = mean > 0
        centre = np.log(d * np.where(live, mean, 1.0))
        parts.append((zero, centre, np.where(live, np.sqrt(np.log1p(relative / d)), 1.0)))
    return tuple(np.concatenate(p) for p in zip(*parts))


def _fourier_cdf(y, w, d):
    """P(Z = 0), P(0 < Z <= z_m) / P(Z > 0) on z_m = z_low + m Lambda / _SAMPLES, m = 1
    .. _SAMPLES, the z_m, and the error estimate of :class:`_Steps`, one row per row of y
    (module docstring).  The series is that of Z - z_low with z_low the larger of d y_min
    (y_min the least node y: the support's lower end) and E Z - _LOWER_CUT sqrt(d E Y^2)
    (below which P(Z <= z) < e^-69 for any Y >= 0, Maurer's one-sided bound): a law
    concentrated away from 0 (sigmoid at small c, any phi at huge d) keeps its resolution.
    The transform is built by powers of e^(i omega_1 y), in blocks of _BLOCK frequencies
    until a block's terms Psi / k fall below _TERM_MIN in every row (at most
    _FREQUENCIES)."""
    zero, mean, relative = _summary(y, w, d)
    support = d * np.where(w > 0, y, np.inf).min(axis=1)
    low = np.maximum(support, d * mean - _LOWER_CUT * mean * np.sqrt(d * (1 + relative)))
    period = d * mean - low + _PERIOD_SD * mean * np.sqrt(relative * d)
    period = np.where(period > 0, period, 1.0)          # Z constant: any period
    rotation = np.exp(2j * math.pi * (y - low[:, None] / d) / period[:, None])
    # the atom at Z = 0 sits at -z_low in the window (below it, and < e^-69, if z_low > 0)
    atom = np.exp(-2j * math.pi * low / period)[:, None]
    power, blocks = w.astype(complex), []
    for start in range(1, _FREQUENCIES + 1, _BLOCK):
        block = np.empty((len(y), _BLOCK), complex)
        for i in range(_BLOCK):
            power = power * rotation
            block[:, i] = power.sum(axis=1)
        blocks.append(block ** d - zero[:, None] * atom ** np.arange(start, start + _BLOCK))
        if (np.abs(blocks[-1]) / np.arange(start, start + _BLOCK)).max() < _TERM_MIN:
            break
    transform = np.concatenate(blocks, axis=1)
    k = np.arange(1, transform.shape[1] + 1)
    # P(0 < Z - z_low <= z) = (1 - zero) z / Lambda + Re sum_k a_k (1 - e^{-i omega_k z}),
    # a_k = Psi_k / (i pi k); the sum on the z-grid is one inverse FFT per row
    a = np.zeros((len(y), _SAMPLES // 2 + 1), complex)
    a[:, 1:len(k) + 1] = transform / (1j * math.pi * k)
    series = a.real.sum(axis=1)[:, None] - np.fft.irfft(a.conj(), _SAMPLES) * _SAMPLES / 2
    fraction = np.arange(1, _SAMPLES + 1) / _SAMPLES
    total = (1 - zero)[:, None]
    cdf = (total * fraction + np.append(series[:, 1:], np.zeros((len(y), 1)), axis=1))
    z = low[:, None] + period[:, None] * fraction
    error = np.abs(transform[:, -1]) / math.pi
    return zero, cdf / np.where(total > 0, total, 1.0), z, error


def _quantiles(cdf, log_z):
    """log z at the levels ndtr(_SCORES) of a CDF sampled at log_z (inverse interpolation,
    linear in the normal score); below its first sample, the first log z."""
    monotone = np.clip(np.maximum.accumulate(cdf), 1e-300, 1 - 2.0 ** -53)
    # the normal scores are needed only from just below the lowest level to just above
    # the highest
    lo, hi = np.searchsorted(monotone, special.ndtr(_SCORES[[0, -1]]))
    lo, hi = max(lo - 1, 0), hi + 1
    return np.interp(_SCORES, special.ndtri(monotone[lo:hi]), log_z[lo:hi])


def _exact_steps(phi, cs, d):
    """The one-step laws at the c in cs (a Fourier series each)."""
    zero, centre, scale = _standardization(phi, cs, d)
    rows, errors = [], []
    for start in range(0, len(cs), _CHUNK):
        _, cdf, z, error = _fourier_cdf(*_coordinates(phi, cs[start:start + _CHUNK]), d)
        rows += [_quantiles(*row) for row in zip(cdf, np.log(z))]
        errors.append(error)
    quantiles = np.where(zero[:, None] < 1, (np.array(rows) - centre[:, None]) / scale[:, None],
                         0.0)
    laws = _Steps(zero, centre, scale, quantiles, np.concatenate(errors))
    # the Fourier series' last term overstates the error of a law with a near point mass
    # away from 0 (tanh at large c: Gibbs wiggles within a cell); its mean's error does not
    laws = laws._replace(error=np.minimum(laws.error, _mean_error(laws)))
    return laws._replace(quantiles=_clamped_tails(laws.quantiles, laws.error))


def _clamped_tails(quantiles, error):
    """The quantiles at levels within 10 x ``error`` (at most 1e-3) of 0 or 1, where the
    series' error makes them noise (GELU, SiLU at small d and large c; tanh at large c
    near z = 0), set to the last reliable one: that tail's mass is put there, not at
    random places."""
    reach = -special.ndtri(np.clip(10 * error, special.ndtr(_SCORES[0]), 1e-3))
    for q, x in zip(quantiles, reach):
        np.clip(q, *np.interp([-x, x], _SCORES, q), out=q)
    return quantiles


def _mean_error(laws):
    """|E Z from the quantiles / E Z - 1| per row (0 where Z = 0 a.s.)."""
    weight = np.gradient(special.ndtr(_SCORES))
    mean = (1 - laws.zero) * (np.exp(laws.scale[:, None] * laws.quantiles) @ weight)
    return np.where(laws.zero < 1, np.abs(mean - 1), 0.0)


def _relu_steps(d):
    """The exact one-step law of ReLU at c = 1: Z = chi-square(K), K ~ Binomial(d, 1/2)
    active units, so P(0 < Z <= z) = sum_K P(K) P(chi^2_K <= z) (gammainc)."""
    # log z from far in the left tail (P(chi^2_1 <= z) ~ z^(1/2)) to beyond chi^2_d's bulk
    log_z = np.linspace(-90.0, math.log(d + 40 * math.sqrt(d) + 100), 8192)
    zero, centre = 0.5 ** d, math.log(d / 2)
    cdf = _unit_cdf(resolve_activation("relu"), d, log_z) - zero
    scale = math.sqrt(math.log1p(5 / d))     # Var Y / (E Y)^2 = (3/2) / (1/4) - 1
    quantiles = (_quantiles(cdf / (1 - zero), log_z) - centre) / scale
    return _Steps(*(np.array([v]) for v in (zero, centre, scale)), quantiles[None, :],
                  np.zeros(1))


def _unit_cdf(phi, d, log_z):
    """P(log Z <= x) at c = 1 for x in log_z, exact: the chi-square mixture for ReLU at
    d <= _MIXTURE_D_MAX, else the Fourier series on its z-grid (linear in z)."""
    if phi.slopes == (1.0, 0.0) and d <= _MIXTURE_D_MAX:
        k = np.arange(1, d + 1)
        weight = special.binom(d, k) * 0.5 ** d
        keep = weight > _BINOMIAL_MIN
        with np.errstate(over="ignore"):     # z = inf far above the bulk: the CDF is 1
            z = np.exp(log_z)
        return 0.5 ** d + special.gammainc(k[keep] / 2, z[:, None] / 2) @ weight[keep]
    zero, cdf, z, _ = _fourier_cdf(*_coordinates(phi, np.array([1.0])), d)
    start = 2 * z[0, 0] - z[0, 1]                     # the grid's m = 0, where the CDF is 0
    continuous = np.interp(np.exp(log_z), np.append(start, z[0]), np.append(0.0, cdf[0]))
    return zero[0] + (1 - zero[0]) * continuous


def _anchored_steps(phi, d, log_low, log_high):
    """A function cs -> one-step laws, exact in P(Z = 0), log E Z and the scale, the
    standardized quantiles interpolated (cubic spline in log c) between anchors in
    [log_low, log_high] refined as described at _ANCHOR_STEP."""
    from scipy.interpolate import CubicSpline
    if log_high - log_low < _ANCHOR_STEP:
        log_low, log_high = log_low - _ANCHOR_STEP, log_high + _ANCHOR_STEP
    anchors = np.linspace(log_low, log_high, max(4, math.ceil(
        (log_high - log_low) / _ANCHOR_STEP) + 1))
    laws = _exact_steps(phi, np.exp(anchors), d)
    table, errors = laws.quantiles, laws.error
    density = np.exp(-_SCORES ** 2 / 2) / math.sqrt(2 * math.pi)
    left, right = anchors[:-1], anchors[1:]
    while len(left) and len(anchors) < _ANCHORS_MAX:
        middle = (left + right) / 2
        exact = _exact_steps(phi, np.exp(middle), d)
        predicted = CubicSpline(anchors, table, axis=0)(middle)
        # no finer than the law itself is known (a near-atom: GELU at small d, large c)
        floor = _ANCHOR_TOL + 3 * exact.error
        bad = ((np.abs(exact.quantiles - predicted) * density).max(axis=1) > floor) & (
            right - left > 2 * _ANCHOR_WIDTH_MIN)
        order = np.argsort(np.concatenate([anchors, middle]))
        anchors = np.concatenate([anchors, middle])[order]
        table = np.concatenate([table, exact.quantiles])[order]
        errors = np.concatenate([errors, exact.error])[order]
        left = np.concatenate([left[bad], middle[bad]])
        right = np.concatenate([middle[bad], right[bad]])
    spline = CubicSpline(anchors, table, axis=0)

    def steps(cs):
        zero, centre, scale = _standardization(phi, cs, d)
        quantiles = np.maximum.accumulate(spline(np.log(cs)), axis=1)
        return _Steps(zero, centre, scale, quantiles, np.interp(np.log(cs), anchors, errors))
    return steps


def _window_cdfs(laws, edges):
    """The CDFs of several one-step laws at the cell ends, each on its window: per row the
    first edge and the CDF from the last edge below its lowest quantile (where it is
    P(Z = 0)) to the first above its highest (where it is 1), clipped to the grid.

    One interpolation serves every row: row j's standardized quantiles are shifted by
    j times their span, which keeps the concatenation increasing."""
    u_low = laws.centre + laws.scale * laws.quantiles[:, 0]
    u_high = laws.centre + laws.scale * laws.quantiles[:, -1]
    inner_low, inner_high = np.searchsorted(edges, u_low), np.searchsorted(edges, u_high)
    first = np.maximum(inner_low - 1, 0)
    counts = np.minimum(inner_high, len(edges) - 1) - first + 1
    row = np.repeat(np.arange(len(first)), counts)
    k = first[row] + np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    span = float(np.ptp(laws.quantiles)) + 1.0
    shift = span * np.arange(len(first))
    x = (edges[k] - laws.centre[row]) / laws.scale[row] + shift[row]
    table = (laws.quantiles + shift[:, None]).ravel()
    score = np.interp(x, table, np.tile(_SCORES, len(first)))
    score[k < inner_low[row]] = -np.inf
    score[k >= inner_high[row]] = np.inf
    cdf = laws.zero[row] + (1 - laws.zero[row]) * special.ndtr(score)
    return first, np.split(cdf, np.cumsum(counts)[:-1])


def _support(p, floor=_MASS_MIN):
    """(first, last + 1) of the entries of p above ``floor`` in size ((0, 0) if none)."""
    where = np.flatnonzero(np.abs(p) > floor)
    return (int(where[0]), int(where[-1]) + 1) if len(where) else (0, 0)


def _sharpen(mass):
    """Cell masses -> masses at the cell centres with the same moments to O(h^6).

    Taking each cell's mass to its centre adds (in law) an independent uniform error of
    width h per layer (Sheppard), a factor sinh(x) / x, x = t h / 2, on E e^(t u); the
    differences m - Delta^2 m / 24 + 3 Delta^4 m / 640 multiply it by x / sinh(x) up to
    O(h^6) (Delta^2 <-> 2 cosh(t h) - 2).  The ends are reflected, so the total is kept."""
    def second_difference(m):
        padded = np.pad(m, 1, mode="edge")
        return padded[2:] - 2 * m + padded[:-2]
    delta2 = second_difference(mass)
    return mass - delta2 / 24 + 3 * second_difference(delta2) / 640


def _log_c(sigma, sigma_b, u):
    """log c, c^2 = sigma^2 e^u + sigma_b^2, without overflow."""
    with np.errstate(divide="ignore"):                 # sigma_b = 0: log 0 = -inf
        return 0.5 * np.logaddexp(2 * math.log(sigma) + u, 2 * np.log(sigma_b))


def _standardized_variance(steps):
    """Var((log Z - log E Z) / scale | Z > 0) of the first row's law, from its quantiles."""
    weight = np.gradient(special.ndtr(_SCORES))
    q = steps.quantiles[0]
    return float(weight @ q ** 2 - (weight @ q) ** 2)


def _mean_field_path(phi, d, sigmas, sigma_b, r0):
    """log r_L^2 along the mean-field map, the largest one-step variance of log Z, and the
    largest variance of log r_L^2 (delta method: V_L = slope^2 V_(L-1) + one-step variance,
    slope = d log E Z / d log r^2)."""
    path, step, spread, current, u = [], 0.0, 0.0, 0.0, 2 * math.log(r0)
    for sigma in sigmas:
        # log E Z at u and u +- 1e-4 (central difference for the slope)
        cs = np.exp(_log_c(sigma, sigma_b, u + np.array([0.0, -1e-4, 1e-4])))
        if not np.all((cs > 1e-150) & (cs < 1e150)):
            # (c g)^2 would leave float64's range: the caller refuses a non-finite path
            path.append(math.copysign(math.inf, u))
            break
        zero, centre, scale = _standardization(phi, cs, d)
        if zero[0] == 1:
            break
        slope = (centre[2] - centre[1]) / 2e-4
        step = max(step, scale[0] ** 2)
        # an unstable stretch (slope > 1) is left within a few layers: the spread is not
        # taken wider than a neutral chain's (slope 1 throughout)
        current = min(slope * slope * current, len(path) * step) + scale[0] ** 2
        spread = max(spread, current)
        u = float(centre[0])
        path.append(u)
    return np.array(path or [2 * math.log(r0)]), step, spread


def _cell_moment(mass, centres, step, s):
    """sum_j mass_j e^(s u_j / 2) / (sinh(x) / x), x = s h / 4: the moment E e^(s u / 2) of
    the law whose cell masses are given (Sheppard's correction: grouping at the centres
    multiplies it by sinh(x) / x for a law smooth on the scale of a cell)."""
    x = s * step / 4
    return mass @ np.exp(s * centres / 2) * (x / math.sinh(x))


@dataclasses.dataclass(frozen=True)
class DepthLaw:
    r"""The law of :math:`r_L = \lVert x_L\rVert`, L = 1, ..., depth, on a grid of log r^2.

    Attributes: ``depth``, ``d``; ``centres`` (the cell centres :math:`u_j` of
    :math:`u = \log r^2`) and ``step`` (the cell width h); ``mass`` (depth x cells: the
    probability of each cell at each depth); ``collapse`` and ``explosion`` (per depth:
    :math:`P(r_L = 0 \text{ or } r_L < \text{low})` and :math:`P(r_L > \text{high})`, with
    low, high the grid's ends ``low``, ``high`` in r); ``mean`` and ``spread`` (per depth:
    the mean and standard deviation of :math:`r_L^2 / d`).  Moments take Sheppard's
    correction for the grouping into cells; ``cdf`` and ``quantile`` interpolate the normal
    score of the CDF linearly in u between the cell ends.
    """

    depth: int
    d: int
    centres: np.ndarray
    step: float
    mass: np.ndarray
    collapse: np.ndarray
    explosion: np.ndarray
    low: float
    high: float
    mean: np.ndarray
    spread: np.ndarray

    def moment(self, s: float) -> np.ndarray:
        r"""E r_L^s for L = 1, ..., depth (s > 0; collapsed and exploded mass excluded)."""
        s = float(_validate.real_scalar(s, "s", 0, low_open=True))
        return _cell_moment(self.mass, self.centres, self.step, s)

    def _edges(self):
        """The cell ends in u, and per depth the normal scores of P(r_L^2 <= e^u) there."""
        inner = np.cumsum(self.mass, axis=1) + self.collapse[:, None]
        cdf = np.maximum.accumulate(np.concatenate([self.collapse[:, None], inner], axis=1),
                                    axis=1)
        edges = self.centres[0] - self.step / 2 + self.step * np.arange(len(self.centres) + 1)
        return edges, special.ndtri(np.clip(cdf, 1e-300, 1 - 2.0 ** -53)), cdf

    def cdf(self, r: ArrayLike) -> np.ndarray:
        """P(r_L <= r), shape (depth, *shape of r); r >= 0.  Between the cell ends the
        normal score of the CDF is interpolated linearly in u (exact for a log-normal r)."""
        r = _validate.real(r, "r", 0)
        edges, scores, cdf = self._edges()
        with np.errstate(divide="ignore"):
            u = np.log(r * r).ravel()
        out = special.ndtr(np.array([np.interp(u, edges, row) for row in scores]))
        out[:, u < edges[0]] = self.collapse[:, None]
        out[:, u > edges[-1]] = cdf[:, -1:]
        return out.reshape((self.depth, *np.shape(r)))

    def quantile(self, p: ArrayLike) -> np.ndarray:
        """The r with P(r_L <= r) = p, shape (depth, *shape of p); 0 < p < 1 (the inverse
        of :meth:`cdf`).  0 where p is below the collapse probability, inf above
        1 - explosion."""
        p = _validate.real(p, "p", 0, 1, low_open=True, high_open=True)
        shape, p = p.shape, p.ravel()
        edges, scores, cdf = self._edges()
        out = np.exp(np.array([np.interp(special.ndtri(p), row, edges) for row in scores]) / 2)
        out[p <= cdf[:, :1]] = 0.0
        out[p > cdf[:, -1:]] = np.inf
        return out.reshape((self.depth, *shape))


@_docs.fill(d="""\
d : int
    Width of every layer, an integer >= 1.""")
def depth_law(depth: int, d: int, activation, sigma: ArrayLike, sigma_b: float = 0.0,
              r0: float = 1.0, *, points: int | None = None,
              bounds: tuple[float, float] | None = None, exact: bool = False) -> DepthLaw:
    r"""The law of :math:`\lVert x_L\rVert`, L = 1, ..., depth, of a width-d network.

    For :math:`x_{L} = \phi(W_L x_{L-1} + b_L)` with :math:`d \times d` weights (the first
    :math:`d \times d_0`) of iid :math:`N(0, \sigma^2)` entries, biases of iid
    :math:`N(0, \sigma_b^2)` entries and :math:`\lVert x_0\rVert = r_0` (any dimension
    :math:`d_0`), the norms form the Markov chain

    .. math:: r_L^2 = \sum_{i=1}^{d} \phi(c_L g_i)^2, \qquad
              c_L^2 = \sigma^2 r_{L-1}^2 + \sigma_b^2, \ g_i \sim N(0, 1) \text{ iid},

    whose transfer operator, discretized on a grid of :math:`\log r^2`, gives the law at
    every depth (module docstring), finite width included.

    Parameters
    ----------
    depth : int
        Number of layers, 1 <= depth <= 100000.
    %(d)s
    activation : str, torch.nn.Module, Activation or callable
        The elementwise phi (see :func:`initmath.activations.activation`).
    sigma : float or sequence of float
        Standard deviation of each weight, > 0: one for all layers, or one per layer
        (``depth`` values).
    sigma_b : float, default 0
        Standard deviation of each bias entry, >= 0.
    r0 : float, default 1
        Norm of the input, > 0.
    points : int, optional
        Cells of the grid of log r^2, 16 <= points <= 8192.  Default: 4 cells per standard
        deviation of one step (sqrt(log(1 + Var Y / (d (EY)^2))), the largest on the
        mean-field path), cells no wider than 0.125, at least 256.
    bounds : (float, float), optional
        The grid's ends (low, high) in r, 0 < low < high; below low counts as collapse,
        above high as explosion.  Default: the mean-field path of log r^2 widened by 12
        standard deviations of log r_L^2 (the delta-method variance propagated along the
        path) and, below, by half that variance and the one-step law's lower tail.
    exact : bool, default False
        Compute the one-step law at every cell's c instead of interpolating it between
        anchors in log c (slower; the reference for the interpolation).  Positively
        homogeneous phi (max(x, a x)) need neither: one law serves every c.

    Returns
    -------
    DepthLaw

    Raises
    ------
    ValueError
        If an argument is outside its range or the activation is unknown, or (naming d)
        if the Fourier series cannot resolve a one-step law the chain needs (its quantiles
        miss E Z by more than 5e-2: small d with an atom or near-atom of phi(cg)^2 at 0,
        or d <= 2).

    Notes
    -----
    Each layer moves every cell's mass to the cell centre, which adds, in law, an
    independent uniform error of variance h^2/12 (Sheppard); the masses are corrected for
    it before each step (:math:`m - \Delta^2 m/24 + 3\Delta^4 m/640`) and moments take
    Sheppard's correction, so the grid's error in :math:`E r_L^s` is :math:`O((sh)^6)`.
    ReLU up to d = 64 uses the exact one-step law (a chi-square mixture); against the
    exact laws of the homogeneous chain (:func:`initmath.moment_factor`,
    :func:`initmath.log_norm_distribution`), ReLU at d = 2, 4, 16 gives E r_L^s (s = 1/2,
    1, 2) to ~1.5e-5 and the CDF to ~1e-5 relative at depth 10 and 100, and P(r_L = 0) to
    1e-15.  Other activations use a Fourier series of up to 512 terms, exact to ~1e-8 in
    the CDF except with an atom P(phi(cg) = 0) = p_0 > 0 at small d (Hardswish, ReLU6,
    the shrinks), a near-atom (leaky slope a <~ 0.05; GELU, SiLU at large c, where half
    the coordinates are nearly 0) or at d <= 2, where the law is known only to ~d
    p_0^(d-1) (or ~1/K) and its far tails are clamped to the last reliable quantile.  For
    other than max(x, a x) the one-step law is interpolated in log c (cubic spline of its
    standardized quantiles between adaptively placed anchors); against ``exact=True`` the
    CDFs and the moments agree to < 1e-6 (1e-4 for GELU, SiLU at d = 16;
    ``docs/any-activation.md``).  Cost: 100 layers take < 1 s for ReLU, tanh, GELU, SiLU,
    SELU, ELU, Softplus and sigmoid at d = 16 to 1024, with or without
    bias (``benchmarks/bench_finite_depth.py``).

    References
    ----------
    .. [1] M. Gurbuzbalaban and Y. Hu, "Fractional moment-preserving initialization
       schemes for training deep neural networks", AISTATS 2021 (the norm chain).
    .. [2] B. Hanin and M. Nica, "Products of many large random matrices and gradients
       in deep neural networks", Comm. Math. Phys. 2020 (log-normal norms at depth/width).
    .. [3] W. F. Sheppard, "On the calculation of the most probable values of
       frequency-constants, for data arranged according to equidistant division of a
       scale", Proc. London Math. Soc. 1898 (the grouping correction).

    Examples
    --------
    For phi(x) = x without bias, :math:`E r_L^2 = (d \sigma^2)^L r_0^2` exactly; ReLU
    collapses with probability :math:`2^{-d}` per layer:

    >>> from initmath.finite_depth import depth_law
    >>> law = depth_law(10, 16, "identity", 0.25)
    >>> bool(abs(law.moment(2.0)[-1] - 1.0) < 1e-4)
    True
    >>> law = depth_law(3, 8, "relu", 0.5)
    >>> bool(abs(law.collapse[0] / 0.5 ** 8 - 1) < 1e-6)
    True
    """
    depth = int(_validate.integer_scalar(depth, "depth", 100000))
    d = int(_validate.integer_scalar(d, "d"))
    sigmas = _validate.real(sigma, "sigma", 0, low_open=True)
    if sigmas.ndim > 1 or sigmas.size not in (1, depth):
        raise ValueError(f"sigma must be a float or a sequence of depth = {depth} floats, "
                         f"got shape {sigmas.shape}")
    sigmas = [float(x) for x in np.broadcast_to(sigmas, (depth,))]
    sigma_b = float(_validate.real_scalar(sigma_b, "sigma_b", 0))
    r0 = float(_validate.real_scalar(r0, "r0", 0, low_open=True))
    if points is not None:
        points = int(_validate.integer_scalar(points, "points", _POINTS_MAX))
        if points < 16:
            raise ValueError(f"points must be an integer in [16, {_POINTS_MAX}], got {points}")
    phi = resolve_activation(activation)

    steps_at = _OneStepLaws(phi, d, exact)
    first = steps_at(np.exp(_log_c(sigmas[0], sigma_b, np.array([2 * math.log(r0)]))),
                     exact=True)
    # the delta method's variances of log Z, corrected by the exact one at the first layer
    # (3x larger for ReLU at d = 2); the bulk of log r_L^2 sits about spread / 2 below the
    # mean-field path (log-normal), whose moments of order s <= 2 the grid covers
    path, step_variance, spread = _mean_field_path(phi, d, sigmas, sigma_b, r0)
    factor = _standardized_variance(first)
    step_variance, spread = factor * step_variance, factor * spread
    if bounds is None:
        # below: also the one-step law's left tail down to its lowest quantile (3e-14),
        # long for small d (log chi^2_1, when one unit is active, has a tail ~ e^(x/2))
        margin = _MARGIN_SD * math.sqrt(spread)
        tail = -first.scale[0] * first.quantiles[0, 0]
        low = path.min() - spread / 2 - margin - tail - 1
        high = path.max() + margin + 1
        if not (math.isfinite(low) and math.isfinite(high)):
            raise ValueError(f"sigma, depth: the norms leave float64's range within {depth} "
                             f"layers (the mean-field path of log r^2 is not finite); use "
                             f"fewer layers or a sigma nearer the critical one")
    else:
        low, high = (float(_validate.real_scalar(b, "bounds", 0, low_open=True)) for b in bounds)
        if not low < high:
            raise ValueError(f"bounds must be (low, high) with 0 < low < high, got {bounds!r}")
        low, high = 2 * math.log(low), 2 * math.log(high)
    if points is None:
        h = (min(math.sqrt(step_variance) / _CELLS_PER_SD, _STEP_MAX) if step_variance > 0
             else (high - low) / 256)
        points = int(min(max(256, math.ceil((high - low) / h)), _POINTS_MAX))
    edges = np.linspace(low, high, points + 1)
    step = edges[1] - edges[0]
    centres = edges[:-1] + step / 2

    log_c = [_log_c(sg, sigma_b, centres[[0, -1]]) for sg in set(sigmas)]
    steps_at.span = np.min(log_c), np.max(log_c)
    cdf = _grid_cdf(first, edges)
    collapse, p, explosion = cdf[0], np.diff(cdf), 1 - cdf[-1]
    masses, collapses, explosions = [p], [collapse], [explosion]
    # with a bias, r = 0 is not absorbing: the next pre-activations are N(0, sigma_b^2),
    # so the collapsed mass restarts from the one-step law at c = sigma_b (below the grid
    # counts as r = 0: there sigma^2 r^2 << sigma_b^2)
    restart = _grid_cdf(steps_at(np.array([sigma_b]), exact=True), edges) if sigma_b else None
    transfers = {}
    # Sheppard's correction needs a law smooth on the scale of a cell: on a grid coarser
    # than one step (a few cells in all, or a huge d) the masses go as they are
    sharpen = _sharpen if step * step <= step_variance else (lambda mass: mass)
    for sg in sigmas[1:]:
        if sg not in transfers:
            transfers[sg] = _transfer(steps_at, sg, sigma_b, edges)
        p, down, up = transfers[sg](sharpen(p))
        if restart is None:
            collapse += down
        else:
            p = p + collapse * np.diff(restart)
            explosion += collapse * (1 - restart[-1])
            collapse = down + collapse * restart[0]
        explosion += up
        masses.append(p)
        collapses.append(collapse)
        explosions.append(explosion)
    mass = np.array(masses)
    mean = _cell_moment(mass, centres, step, 2.0) / d
    second = _cell_moment(mass, centres, step, 4.0) / d ** 2
    return DepthLaw(depth=depth, d=d, centres=centres, step=float(step), mass=mass,
                    collapse=np.array(collapses), explosion=np.array(explosions),
                    low=math.exp(low / 2), high=math.exp(high / 2), mean=mean,
                    spread=np.sqrt(np.maximum(second - mean ** 2, 0.0)))


def _replaced(full, part, where):
    """``full`` with its rows at ``where`` replaced by the rows of ``part``, in order."""
    out = np.array(full, copy=True)
    out[where] = part
    return out


def _grid_cdf(law, edges):
    """P(log r'^2 <= edge) at every edge of the grid for the one one-step law ``law``
    (P(r' = 0) at and below its lowest quantile)."""
    (start,), (window,) = _window_cdfs(law, edges)
    return np.concatenate([np.full(start, law.zero[0]), window,
                           np.ones(len(edges) - start - len(window))])


class _OneStepLaws:
    """The one-step laws at any c (called with an array of c): for max(x, a x) one law
    shifted by log c^2 (the exact chi-square mixture for ReLU at d <= 64); otherwise a
    Fourier series at every c when ``exact``, else the law interpolated between anchors
    over log c in ``span`` (set once the grid is known; the anchors are built on first
    use)."""

    def __init__(self, phi, d, exact):
        self.phi, self.d, self.exact, self.span, self._interpolated = phi, d, exact, None, None
        self.homogeneous = phi.slopes is not None
        if self.homogeneous:
            relu = phi.slopes == (1.0, 0.0) and d <= _MIXTURE_D_MAX
            self._unit = _relu_steps(d) if relu else self._checked(
                _exact_steps(phi, np.array([1.0]), d), np.array([1.0]))

    def __call__(self, cs, exact=False):
        if self.homogeneous:
            unit, n = self._unit, len(cs)
            return _Steps(np.repeat(unit.zero, n), unit.centre + 2 * np.log(cs),
                          np.repeat(unit.scale, n),
                          np.broadcast_to(unit.quantiles, (n, len(_SCORES))),
                          np.repeat(unit.error, n))
        if exact or self.exact:
            return self._checked(_exact_steps(self.phi, cs, self.d), cs)
        if self._interpolated is None:
            self._interpolated = _anchored_steps(self.phi, self.d, *self.span)
        laws = self._interpolated(cs)
        # an interpolated law whose mean is off (between anchors where the law changes
        # fast: GELU at d = 16 near c = 1, 4e-3) is computed exactly instead
        off = _mean_error(laws) > _MEAN_TOL
        if off.any():
            exact = _exact_steps(self.phi, cs[off], self.d)
            laws = _Steps(*(_replaced(a, b, off) for a, b in zip(laws, exact)))
        return self._checked(laws, cs)

    def _checked(self, laws, cs):
        """The laws, once their quantiles are seen to give E Z (= e^centre) to _MEAN_TOL;
        else a ValueError: the Fourier series did not resolve them."""
        off = _mean_error(laws)
        if off.max() > _MEAN_TOL:
            worst = int(off.argmax())
            raise ValueError(
                f"d: at d = {self.d} the one-step law of {self.phi.name} at c = "
                f"{cs[worst]:.3g} is not resolved (its mean is off by {off[worst]:.1g}): an "
                f"atom or near-atom of phi(c g)^2 at 0, or a chi-square(1)-like law, that the "
                f"Fourier series of up to {_FREQUENCIES} terms cannot resolve at this width; "
                f"use a larger d")
        return laws


def _transfer(steps_at, sigma, sigma_b, edges):
    """The transition of a layer with weight std sigma: lattice masses q (after
    :func:`_sharpen`) -> (next cell masses, mass leaving below, mass leaving above)."""
    points = len(edges) - 1
    step = edges[1] - edges[0]
    if steps_at.homogeneous and sigma_b == 0:
        # log Z - log c^2 does not depend on c and u' - u_j - log sigma^2 = log Z at c = 1:
        # one CDF at the offsets (i - j) h gives the Toeplitz kernel, a convolution
        offsets = -step / 2 - math.log(sigma * sigma) + step * np.arange(1 - points, points + 1)
        cdf = _unit_cdf(steps_at.phi, steps_at.d, offsets)
        cells = np.diff(cdf)
        fall, rise = cdf[points - 1::-1], 1 - cdf[:points - 1:-1]
        c0, c1 = _support(cells, 0.0)

        def convolve(q):
            # every cell is propagated: the moments of a homogeneous chain can come from
            # cells of tiny mass (E r^2 at small d is carried by rare large r)
            a, b = _support(q, 0.0)
            if a >= b:          # no mass left on the grid: it all collapsed or exploded
                return np.zeros(points), 0.0, 0.0
            # p_next[i] = sum_j cells[points - 1 + i - j] q[j], on the supports only
            full = np.convolve(cells[c0:c1], q[a:b])
            first = c0 + a - points + 1
            p_next = np.zeros(points)
            lo, hi = max(first, 0), min(first + len(full), points)
            p_next[lo:hi] = full[lo - first:hi - first]
            return p_next, fall @ q, rise @ q
        return convolve

    centres = edges[:-1] + step / 2
    # columns filled as cells first carry mass; Fortran order so a column's unused rows
    # are never touched (nor allocated); rows[:, j] is column j's nonzero range
    kernel = np.zeros((points, points), order="F")
    fall, rise = np.zeros(points), np.zeros(points)
    rows, done = np.zeros((2, points), int), np.zeros(points, bool)

    def multiply(q):
        # a cell is propagated when its probability or its share of E r^2 is above
        # _MASS_MIN (E r^2 can come from the far upper tail)
        share = np.abs(q) * np.exp(centres - centres.max())
        a, b = _support(np.maximum(np.abs(q), share / max(share.sum(), 1e-300)))
        new = a + np.flatnonzero(~done[a:b])
        for start in range(0, len(new), _CHUNK * 4):
            batch = new[start:start + _CHUNK * 4]
            laws = steps_at(np.exp(_log_c(sigma, sigma_b, centres[batch])))
            for i, (lo, cdf) in enumerate(zip(*_window_cdfs(laws, edges))):
                j, hi = batch[i], lo + len(cdf) - 1
                kernel[lo:hi, j], rows[:, j] = np.diff(cdf), (lo, hi)
                fall[j] = cdf[0] if lo == 0 else laws.zero[i]
                rise[j] = 1 - cdf[-1] if hi == points else 0.0
            done[batch] = True
        p_next = np.zeros(points)
        # consecutive columns reach nearby rows: multiply by blocks of columns, each on
        # the rows its columns reach
        for start in range(a, b, _BLOCK_COLUMNS):
            stop = min(start + _BLOCK_COLUMNS, b)
            lo, hi = rows[0, start:stop].min(), rows[1, start:stop].max()
            p_next[lo:hi] += kernel[lo:hi, start:stop] @ q[start:stop]
        return p_next, fall[a:b] @ q[a:b], rise[a:b] @ q[a:b]
    return multiply

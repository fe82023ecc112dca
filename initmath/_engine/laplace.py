"""E[Z^h] for a sum of iid scaled chi-square mixtures, from its Laplace transform.

A layer's squared output norm (per unit input norm and unit weight variance) is
Z = Y_1 + ... + Y_d with iid coordinates Y = C g^2, g ~ N(0, 1), where the scale C
takes the value c_i with probability w_i (c_i = 0 is an atom: a dead ReLU unit or a
dropped unit).  Leaky ReLU, dropout and per-neuron random slopes are all such
mixtures, so one engine serves them all.  With L(t) = M(t)^d and
M(t) = sum_i w_i (1 + 2 c_i t)^(-1/2):

* h >= 1/2 ("derivative form"), with m = round(h) + 1 and alpha = m - h in (1/2, 3/2]:
      E Z^h = 1/Gamma(alpha) * int_0^inf t^(alpha-1) E[Z^m e^(-tZ)] dt,
  where E[Z^m e^(-tZ)] = m! [u^m] L(t - u) comes from the Taylor coefficients of M
  by J.C.P. Miller's power recurrence.  The integrand is positive: no cancellation.
* h < 1/2 ("Frullani form"), for Z' = Z | Z > 0 and P0 = P(Z = 0):
      (E Z'^h - 1)/h = 1/Gamma(1-h) * int_0^inf (e^-t - L'(t)) t^(-h-1) dt,
  which keeps log E Z^h accurate to full relative precision as h -> 0.

Z is normalised by its mean d*m1 first, so the integrands peak at t ~ 1 for every d.
Both paths integrate in x = log t on the plan of :mod:`.quadrature` (trapezoidal rule,
double-exponential tails, the right end cut by a Chernoff bound: the integrand beyond
t = T weighs E[Z^h Gamma(alpha, T Z)]).  The float64 path uses a fixed step; the
high-precision path picks the step and tail cut from the working precision and
evaluates all nodes in one pass over numpy object arrays of mpmath numbers.  The
integrand is written once, for both backends (:mod:`.backend`).
"""
import functools
import math
from collections.abc import Sequence
from typing import Any

import mpmath
import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from . import quadrature
from .backend import FLOAT, MP, SCALAR
from .evaluate import guard_bits
from .mixture import atom as mixture_atom

__all__ = ["H_MAX", "log_moment", "log_moment_mp", "log_moment_roots", "work_estimate_mp"]

# Largest supported h (s = 2h = 1000).  The derivative form needs m = round(h) + 1
# Taylor coefficients per node, at O(m^2) work per node.
H_MAX = 500.0


def _ksum(a):
    """Sum over the (leading) mixture axis; unrolled for the usual K <= 4."""
    if len(a) > 4:
        return a.sum(axis=0)
    out = a[0]
    for i in range(1, len(a)):
        out = out + a[i]
    return out


# float64 trapezoidal step in x = log t: discretisation error ~ exp(-pi^2 / STEP).
_STEP = 0.25
# Tails are cut where the integrand is exp(-_TAIL) of its peak (~1e-19).
_TAIL = 44.0
# Orders m above this use the scaled recurrence (no overflow for m up to H_MAX + 1).
_M_SMALL = 4


def _split_form(h):
    """m (the order of the derivative form), or 0 for the Frullani form."""
    return 0 if h < 0.5 else int(math.floor(h + 0.5)) + 1


def _check_h(h):
    h = np.asarray(h, float)
    bad = ~((h > 0) & (h <= H_MAX))
    if np.any(bad):
        raise ValueError(f"h must satisfy 0 < h <= {H_MAX:g} (s = 2h <= {2 * H_MAX:g}), "
                         f"got h={float(h[bad].ravel()[0])!r}")


def _log_scaled_factorial(m):
    """log(m!) - m log(m) + m (small: ~ log(2 pi m) / 2), to working precision."""
    return mpmath.loggamma(m + 1) - m * mpmath.log(m) + m


@functools.cache
def _log_scaled_factorial_f64(m):
    with mpmath.workdps(30):
        return float(_log_scaled_factorial(m))


def _integrand(x, h, d, c2, w, atom, m, xp, lgm=None, log_p0=None):
    """The x = log t integrand; x: (..., J); h, d, atom: (..., 1); c2, w: (K, ..., 1).

    The mixture axis comes first, so that sums over it are adds of contiguous slabs.

    c2 = 2 c / E[Z] (Z normalised to mean 1, so the integrand peaks near x = 0);
    atom = per-coordinate P(C = 0) and log_p0 = log P(Z = 0) = d log(1 - P(C > 0)), from
    the alive weight so that it stays accurate when P(C > 0) is tiny (only used by the
    Frullani form); lgm =
    _log_scaled_factorial(m) (only used for m > _M_SMALL, where the *log* of the
    integrand is returned: for small d, E[Z^m] of the normalised Z overflows).
    """
    t = xp.exp(x)
    u = c2 * t[None]
    one_u = 1 + u
    s = xp.sqrt(one_u)
    base = w / s                                        # w_i (1 + 2 c_i t)^(-1/2)
    total = _ksum(base)                                 # M
    m_minus_1 = _ksum((-w) * u / (s + one_u))           # M - 1 = -sum w u / (s (1 + s))
    d_log_m = d * xp.log_near_one(total, m_minus_1)     # log M accurate for M ~ 1 and M ~ 0
    if m > _M_SMALL:
        return _integrand_scaled(x, t, h, d, c2, one_u, base, total, d_log_m, m, xp, lgm)
    if m:
        # Taylor coefficients of M(t - u) in u, divided by M(t): all positive.
        ratio = c2 / one_u
        term, q, mu = base / total, [1], [None]
        for j in range(1, m + 1):
            term = term * (ratio * xp.num(2 * j - 1) / (2 * j))
            mu.append(_ksum(term))
        for k in range(1, m + 1):                       # J.C.P. Miller's power recurrence
            acc = (d * k) * mu[k]
            for j in range(1, k):
                acc = acc + ((d + 1) * j - k) * mu[j] * q[k - j]
            q.append(acc / k)
        return xp.exp(d_log_m + (m - h) * x) * (q[m] * math.factorial(m))
    # Frullani form: e^-t - L'(t), computed without cancellation at both ends.
    l_minus_1 = xp.expm1(d_log_m)
    if np.any(atom != 0):
        one_minus_p0 = -xp.expm1(log_p0)
        alive = _ksum(base * (c2 != 0))                 # M - atom, accurate as t -> inf
        l_alive = quadrature.without_atom(1 + l_minus_1, alive, atom, d, xp) / one_minus_p0
        one_minus_l_alive = -l_minus_1 / one_minus_p0
    else:
        l_alive = 1 + l_minus_1
        one_minus_l_alive = -l_minus_1
    e_minus_1 = xp.expm1(-t)
    diff = np.where(x < 0, e_minus_1 + one_minus_l_alive, (1 + e_minus_1) - l_alive)
    return diff * xp.exp(-h * x)


def _integrand_scaled(x, t, h, d, c2, one_u, base, total, d_log_m, m, xp, lgm):
    """Derivative form for large m, with the Taylor variable scaled per node.

    With mu_j = [u^j] M(t - u) / M(t) and Q_k = sigma^k [u^k] (M(t - u) / M(t))^d, the
    integrand is L(t) t^(m-h) m! Q_m sigma^-m (its log is returned).  sigma = m / (e nu),
    nu = m r_max / e +
    E_t[Z] (r_max = max_i 2 c_i / (1 + 2 c_i t)) keeps every Q_k in range: about
    E_t[(sigma Z)^k] / k!, i.e. O(k^(d/2)) for small d and O(e^(m/e)) at most for large
    d.  All factors are combined in logs: log f = d log M - h x + m log(nu t) + lgm
    + log Q_m.
    """
    ratio = c2 / one_u
    beta = base / total[None]
    mean_t = d * _ksum(beta * ratio) / 2                      # E_t[Z] = d E_t[Y]
    nu = m * ratio.max(axis=0) / xp.e + mean_t
    rs = ratio * (m / (xp.e * nu))[None]
    mu = np.empty(x.shape + (m + 1,), dtype=x.dtype)
    mu[..., 0] = 1
    term = beta
    for j in range(1, m + 1):
        term = term * rs * (2 * j - 1) / (2 * j)
        mu[..., j] = _ksum(term)
    q = np.empty_like(mu)
    q[..., 0] = 1
    jr = np.arange(1, m + 1)
    coef_d = (np.asarray(d) + 1)[..., None] if np.ndim(d) else d + 1
    for k in range(1, m + 1):
        coef = coef_d * jr[:k] - k                          # J.C.P. Miller's recurrence
        q[..., k] = (coef * mu[..., 1:k + 1] * q[..., k - 1::-1]).sum(axis=-1) / k
    return d_log_m - h * x + m * xp.log(nu * t) + lgm + xp.log(q[..., m])


def _plan(h, d, cmin, cmax, has_atom, m, tail, step, xp):
    """The quadrature plan of one row (SCALAR, MP) or of rows (FLOAT): (j0, n, x_left,
    x_right) for the scales ct = c / E[Z] of the normalised Z, cmin, cmax its smallest
    non-zero and largest."""
    rate_left = xp.where(m > 0, m - h, 1 - h)
    rate_right = quadrature.right_rate(h, d, has_atom, xp)
    # the peak moves left to t ~ 1 / E[Z^(h+1)] / E[Z^h] ~ 1 / (2 h c_max)
    shift = xp.where(m > _M_SMALL, xp.log((1 + 2 * h * cmax) / (1 + 6 * cmax)), 0)
    return quadrature.plan(-xp.log(cmax), -xp.log(cmin), 1 / cmax, rate_left, rate_right,
                           tail, step, xp, left_shift=shift)


def _plan_row(h, d, ct, m, tail, step, xp):
    """_plan for one row given as a sequence ct (SCALAR or MP)."""
    pos = [ci for ci in ct if ci > 0]
    return _plan(h, d, min(pos), max(pos), len(pos) < len(ct) or d == 1, m, tail, step, xp)


def log_moment(h: ArrayLike, d: ArrayLike, c: ArrayLike, w: ArrayLike) -> np.ndarray:
    """log E[Z^h] in float64, vectorised over rows (the atom at zero included).

    h, d: arrays of shape (N,); c, w: (N, K) mixture scales and weights (w sums to 1).
    Supported: 0 < h <= H_MAX = 500 (ValueError otherwise), any d >= 1.  The absolute
    error is about 2e-15 or 2 ulp of the result for h <= 3; for large h the terms
    h log E[Z] and log E[(Z/E Z)^h] are each ~ h log h and the error is a few ulp of
    the larger.  Each row is computed on its own lattice of nodes, so its value does
    not depend on the other rows of the batch.
    """
    h = np.asarray(h, float)
    d = np.asarray(d, float)
    c = np.asarray(c, float)
    w = np.asarray(w, float)
    _check_h(h)
    with np.errstate(divide="ignore", over="ignore", under="ignore", invalid="ignore"):
        if h.shape[0] == 1:
            return np.array([_log_moment_row(float(h[0]), float(d[0]), c[0].tolist(),
                                             w[0].tolist())])
        mean = d * (c * w).sum(axis=-1)
        ct = c / mean[:, None]
        forms = np.where(h < 0.5, 0, np.floor(h + 0.5) + 1).astype(np.int64)
        pos = ct > 0
        j0, n, x_left, x_right = _plan(h, d, np.where(pos, ct, np.inf).min(axis=-1),
                                       ct.max(axis=-1), (~pos).any(axis=-1) | (d == 1),
                                       forms, _TAIL, _STEP, FLOAT)
        out = np.empty(h.shape)
        key = forms * 100000 + n          # rows sharing the form and the node count
        order = np.argsort(key, kind="stable")
        skey = key[order]
        cuts = np.flatnonzero(np.diff(skey)) + 1
        for rows in np.split(order, cuts):
            m = int(forms[rows[0]])
            out[rows] = _group(h[rows], d[rows], c[rows], w[rows], mean[rows], ct[rows], m,
                               j0[rows], n[rows], x_left[rows], x_right[rows])
        return out


# Root scales (standard deviations) below this fraction of the largest are split off
# exactly by _split_row: for X the sum over the larger scales and eps Y the rest,
# E (X + eps Y)^h = E X^h + P(X = 0) E (eps Y)^h up to a relative O(sqrt(eps d)) <= 1e-42
# (d <= 2**53), while the core's nodes would have to reach t ~ 1/eps and (eps = ratio^2)
# underflows below ratio ~ 1e-154.
_TINY_ROOT = 1e-50
# Rows whose expected number of non-zero coordinates d P(Y > 0) is below this are summed
# over that number (_sparse_row): the core's atom handling loses ~eps / P(Y > 0)
# relative there, and the scale of the normalised Z leaves float64 for P ~ 1e-300.
_SPARSE = 1e-2
# _sparse_row stops once a term is below this fraction of the sum (and decreasing).
_SPARSE_TOL = 1e-20


def log_moment_roots(h: ArrayLike, d: ArrayLike, r: ArrayLike, w: ArrayLike,
                     p_alive: ArrayLike | None = None) -> np.ndarray:
    """log E[Z^h] in float64 for Z = Y_1 + ... + Y_d, Y = b (R g)^2, iid coordinates.

    R takes the value r_i >= 0 (a standard deviation: a slope, not its square, so that
    slopes down to 5e-324 stay representable) with probability w_i, b ~ Bernoulli(p_alive)
    (inverted dropout's kept units; default 1) and g ~ N(0, 1).  h, d, p_alive: (N,);
    r, w: (N, K) with rows of w summing to 1.  Unlike log_moment this holds for every
    scale ratio and alive probability: scales far below the largest are split off exactly
    (_split_row), rows with few expected non-zero coordinates are summed over their number
    (_sparse_row), everything else goes to log_moment with r normalised to max 1.
    """
    h = np.asarray(h, float)
    d = np.asarray(d, float)
    r = np.asarray(r, float)
    w = np.asarray(w, float)
    p = np.ones(h.shape) if p_alive is None else np.broadcast_to(
        np.asarray(p_alive, float), h.shape)
    _check_h(h)
    out = np.empty(h.shape)
    rmax = r.max(axis=-1)
    with np.errstate(divide="ignore", over="ignore", under="ignore", invalid="ignore"):
        tiny = (r > 0) & (r < _TINY_ROOT * rmax[:, None])
        split = tiny.any(axis=-1)
        p_nonzero = p * np.where(r > 0, w, 0).sum(axis=-1)
        sparse = ~split & (d * p_nonzero < _SPARSE)
        for dense in (p == 1, p < 1):
            rows = np.flatnonzero(~split & ~sparse & dense)
            if not rows.size:
                continue
            c = (r[rows] / rmax[rows, None]) ** 2
            wr = w[rows]
            if not np.all(p[rows] == 1):
                c = np.concatenate([np.zeros((rows.size, 1)), c], axis=-1)
                wr = np.concatenate([(1 - p[rows])[:, None], p[rows, None] * wr], axis=-1)
            out[rows] = (log_moment(h[rows], d[rows], c, wr)
                         + 2 * h[rows] * np.log(rmax[rows]))
        for i in np.flatnonzero(split):
            out[i] = _split_row(h[i], d[i], r[i], w[i], p[i], tiny[i])
        for i in np.flatnonzero(sparse):
            out[i] = _sparse_row(h[i], d[i], r[i], w[i], p[i])
    return out


def _split_row(h, d, r, w, p, tiny):
    """One row with scales below _TINY_ROOT of the largest: E X^h + P(X = 0) E[(eps Y)^h]."""
    big = r >= _TINY_ROOT * r.max()
    zero = ~big & ~tiny
    w_big, w_tiny, w_zero = w[big].sum(), w[tiny].sum(), w[zero].sum()
    dead = (1 - p) + p * (w_tiny + w_zero)          # P(X_i = 0) = 1 - p w_big, accurately
    log_x = log_moment_roots([h], [d], r[big][None], (w[big] / w_big)[None], [p * w_big])[0]
    log_p0 = d * (math.log1p(-p * w_big) if p * w_big < 0.5 else math.log(dead))
    # Given X = 0 a coordinate is a tiny-scale one with probability p w_tiny / dead.
    log_y = log_moment_roots([h], [d], r[tiny][None], (w[tiny] / w_tiny)[None],
                             [min(1.0, p * w_tiny / dead)])[0]
    return float(np.logaddexp(log_x, log_p0 + log_y))


def _sparse_row(h, d, r, w, p):
    """One row with d P(Y > 0) < _SPARSE: sum over the number k of non-zero coordinates,
    sum_k C(d, k) P^k (1 - P)^(d-k) E[Z_k^h] (Z_k: k coordinates, none zero)."""
    nonzero = r > 0
    pn = p * w[nonzero].sum()
    rn, wn = r[nonzero], w[nonzero] / w[nonzero].sum()
    # log P from log p: p P underflows for keep probabilities near 5e-324
    log_pn, log_qn = math.log(p) + math.log(w[nonzero].sum()), math.log1p(-pn)
    log_binomial, terms = 0.0, []
    for k in range(1, int(min(d, 400)) + 1):
        log_binomial += math.log((d - k + 1) / k)       # log C(d, k), no cancellation
        log_i = log_moment_roots([h], [float(k)], rn[None], wn[None])[0]
        terms.append(log_binomial + k * log_pn + (d - k) * log_qn + log_i)
        if k >= 2 and terms[-1] < max(terms) + math.log(_SPARSE_TOL) and terms[-1] < terms[-2]:
            break
    return float(special.logsumexp(terms))


@functools.lru_cache(maxsize=4096)
def _left_template(j0, n, x_left):
    """Lattice u = STEP * (j0 + j), j < n, and exp(x_left - u) (read-only, cached)."""
    u = quadrature.points(j0, n, _STEP, FLOAT)
    e_left = np.exp(x_left - u)
    u.flags.writeable = e_left.flags.writeable = False
    return u, e_left


def _log_moment_row(h, d, c, w):
    """One row with Python scalars: the lean N = 1 path (same nodes and integrand)."""
    mean = d * sum(ci * wi for ci, wi in zip(c, w))
    ct = [ci / mean for ci in c]
    m = _split_form(h)
    j0, n, x_left, x_right = _plan_row(h, d, ct, m, _TAIL, _STEP, SCALAR)
    u, e_left = _left_template(j0, n, x_left)
    x, jac = quadrature.mapped(u, e_left, np.exp(u - x_right))
    atom = sum(wi for ci, wi in zip(c, w) if ci == 0)
    log_p0 = float(d * np.log1p(-min(1.0, sum(wi for ci, wi in zip(c, w) if ci > 0))))
    lgm = _log_scaled_factorial_f64(m) if m > _M_SMALL else None
    f = _integrand(x, h, d, 2 * np.array(ct)[:, None], np.array(w)[:, None], atom, m, FLOAT,
                   lgm, log_p0)
    return float(_combine(f, jac, _STEP, h, d, mean, log_p0, m, FLOAT))


def _combine(f, jac, step, h, d, mean, log_p0, m, xp):
    """log E Z^h from the integrand f at the nodes (last axis) and their weights jac."""
    if m > _M_SMALL:      # f is the log of the integrand: scale by the row's largest node
        top = np.max(f, axis=-1, keepdims=True)
        integral = (xp.exp(f - top) * jac).sum(axis=-1) * step
        log_integral = top[..., 0] + xp.log(integral)
    else:
        integral = (f * jac).sum(axis=-1) * step
        log_integral = xp.log(integral) if m else None
    if m:
        return h * xp.log(mean) + log_integral - xp.loggamma(m - h)
    return (h * xp.log(mean) + xp.log(-xp.expm1(log_p0))
            + xp.log1p(h * integral / xp.gamma(1 - h)))


def _group(h, d, c, w, mean, ct, m, j0, n, x_left, x_right):
    """Rows sharing the form m and the node count n, each on its own lattice."""
    u = quadrature.points(j0, int(n[0]), _STEP, FLOAT)
    x, jac = quadrature.nodes(u, x_left[:, None], x_right[:, None], FLOAT)
    atom = mixture_atom(c, w)
    log_p0 = d * np.log1p(-np.minimum(1.0, np.where(c > 0, w, 0).sum(axis=-1)))
    lgm = _log_scaled_factorial_f64(m) if m > _M_SMALL else None
    f = _integrand(x, h[:, None], d[:, None], 2 * ct.T[:, :, None], w.T[:, :, None],
                   atom[:, None], m, FLOAT, lgm, log_p0[:, None])
    return _combine(f, jac, _STEP, h, d, mean, log_p0, m, FLOAT)


def log_moment_mp(h: Any, d: int, c: Sequence[Any], w: Sequence[Any]) -> mpmath.mpf:
    """log E[Z^h] as an mpmath number, correct to the current working precision.

    h: mpf in (0, H_MAX]; d: int; c, w: sequences of mpf (the mixture).  The trapezoid
    step and the tail cut follow from the working precision; the sum is done with a
    few guard bits and rounded to the caller's precision on return.  Cost grows like
    m^2 per node for the derivative order m = round(h) + 1 (h = 100: seconds).
    """
    _check_h(float(h))
    prec = mpmath.mp.prec
    with mpmath.workprec(prec + _guard_bits(d, h)):
        tail, step = _tail_step(prec)
        result = _log_moment_mp(mpmath.mpf(h), int(d), c, w, tail, step)
    return +result


def _guard_bits(d, h):
    """Guard bits of log_moment_mp: the sum over the nodes amplifies rounding errors by
    up to d (the d log M term) and (h + 2)^2 (the derivative form's recurrence)."""
    return guard_bits(max(int(d), 1), (float(h) + 2) ** 2)


def _tail_step(prec):
    """Tail cut (e-folds) and trapezoid step for ``prec`` correct bits."""
    tail = mpmath.mpf(prec + 8) * mpmath.ln2
    return tail, mpmath.pi ** 2 / (tail + 8)


def _log_moment_mp(h, d, c, w, tail, step):
    c = np.array([mpmath.mpf(ci) for ci in c], dtype=object)
    w = np.array([mpmath.mpf(wi) for wi in w], dtype=object)
    mean = d * (c * w).sum()
    ct = c / mean
    m = _split_form(float(h))
    j0, n, x_left, x_right = _plan_row(h, d, ct, m, tail, step, MP)
    u = quadrature.points(j0, n, step, MP)
    x, jac = quadrature.nodes(u, x_left, x_right, MP)
    atom = sum((wi for wi, ci in zip(w, c) if ci == 0), mpmath.mpf(0))
    alive = sum((wi for wi, ci in zip(w, c) if ci > 0), mpmath.mpf(0))
    log_p0 = d * mpmath.log1p(-alive) if alive < 1 else mpmath.ninf
    lgm = _log_scaled_factorial(m) if m > _M_SMALL else None
    f = _integrand(x, h, d, 2 * ct[:, None], w[:, None], atom, m, MP, lgm, log_p0)
    return _combine(f, jac, step, h, d, mean, log_p0, m, MP)


# Seconds per node of log_moment_mp at ~200 working bits for the Frullani / small
# derivative forms on one core of the reference machine (measured at 20 to 200 digits);
# the derivative form adds O(m^2) operations per node, the mixture O(K m).
_SECONDS_PER_NODE = 1e-4


def work_estimate_mp(h: Any, d: int, c: Sequence[Any], w: Sequence[Any], prec: int) -> float:
    """Rough seconds log_moment_mp(h, d, c, w) takes at ``prec`` bits (its node count
    from the same plan, times a per-node cost); cheap, so a caller can compare routes
    and refuse work beyond the budget before starting it."""
    d = int(d)
    bits = prec + _guard_bits(d, h)
    with mpmath.workprec(64):
        c = [mpmath.mpf(ci) for ci in c]
        w = [mpmath.mpf(wi) for wi in w]
        mean = d * mpmath.fsum(ci * wi for ci, wi in zip(c, w))
        ct = [ci / mean for ci in c]
        tail, step = _tail_step(prec)
        m = _split_form(float(h))
        n = _plan_row(mpmath.mpf(h), d, ct, m, tail, step, MP)[1]
    return (n * _SECONDS_PER_NODE * max(1.0, bits / 200) ** 0.75
            * (1 + m * m / 50 + len(c) * m / 50 + len(c) / 8))

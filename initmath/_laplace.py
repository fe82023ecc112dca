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
The float64 path integrates in x = log t with the trapezoidal rule (the integrands are
analytic for |Im x| < pi/2 and decay exponentially at both ends, so it converges
geometrically); the high-precision path hands the same integrand to mpmath's
tanh-sinh quadrature.  The integrand is written once, for numpy arrays of float64 or
of mpmath numbers (object dtype).
"""
import math
from types import SimpleNamespace

import mpmath
import numpy as np
from scipy import special

__all__ = ["log_moment", "log_moment_mp"]

_NP = SimpleNamespace(exp=np.exp, expm1=np.expm1, log=np.log, log1p=np.log1p, sqrt=np.sqrt)
_MP = SimpleNamespace(**{name: np.frompyfunc(getattr(mpmath, name), 1, 1)
                         for name in ("exp", "expm1", "log", "log1p", "sqrt")})

# Trapezoidal step in x = log t.  Analyticity in |Im x| < pi/2 bounds the
# discretisation error by about exp(-pi^2 / STEP); 0.2 leaves a wide margin at 1e-16.
_STEP = 0.25
_RIGHT_MARGIN = 6.0
# A tail decaying like exp(-rate |x|) is cut where rate * exp(...) reaches this many
# e-folds: exp(-_TAIL) ~ 1e-19 of the peak.
_TAIL = 44.0


def _split_form(h):
    """m (the order of the derivative form), or 0 for the Frullani form."""
    return 0 if h < 0.5 else int(math.floor(h + 0.5)) + 1


def _integrand(x, h, d, c, w, m, xp):
    """The x = log t integrand; x: (..., J); h, d: (..., 1); c, w: (..., 1, K).

    c is already divided by the mean of Z, so the integrand peaks near x = 0.
    """
    t = xp.exp(x)
    u = 2 * c * t[..., None]
    base = w * xp.exp(-0.5 * xp.log1p(u))          # w_i (1 + 2 c_i t)^(-1/2)
    if m:
        # Taylor coefficients of M(t - u) in u, divided by M(t): all positive.
        total = base.sum(axis=-1)
        term, ratio, q = base, 2 * c / (1 + u), [1]
        mu = [None]
        for j in range(1, m + 1):
            term = term * ratio * ((j - 0.5) / j)
            mu.append(term.sum(axis=-1) / total)
        for k in range(1, m + 1):
            q.append(sum(((d + 1) * j - k) * mu[j] * q[k - j] for j in range(1, k + 1)) / k)
        alpha = m - h
        return xp.exp(d * xp.log(total) + alpha * x) * q[m] * math.factorial(m)
    # Frullani form: e^-t - L'(t), computed without cancellation at both ends.
    m_minus_1 = (w * xp.expm1(-0.5 * xp.log1p(u))).sum(axis=-1)
    d_log_m = d * xp.log1p(m_minus_1)
    atom = (w * (c == 0)).sum(axis=-1)              # per-coordinate P(Y = 0)
    has_atom = np.any(atom != 0)
    if has_atom:
        p0 = atom ** d
        alive = (base * (c != 0)).sum(axis=-1)      # M - atom, accurate as t -> inf
        safe_atom = np.where(atom == 0, 1, atom)
        l_minus_p0 = xp.exp(d_log_m) * -xp.expm1(-d * xp.log1p(alive / safe_atom))
        l_minus_p0 = np.where(atom == 0, xp.exp(d_log_m), l_minus_p0)
        one_minus_l = -xp.expm1(d_log_m)
        l_alive = l_minus_p0 / (1 - p0)
        one_minus_l_alive = one_minus_l / (1 - p0)
    else:
        l_alive = xp.exp(d_log_m)
        one_minus_l_alive = -xp.expm1(d_log_m)
    diff = np.where(x < 0, xp.expm1(-t) + one_minus_l_alive, xp.exp(-t) - l_alive)
    return diff * xp.exp(-h * x)


def _normalise(d, c, w):
    mean = d * (c * w).sum(axis=-1, keepdims=True)
    return c / mean, mean[..., 0]


def log_moment(h, d, c, w):
    """log E[Z^h] in float64, vectorised over rows.

    h, d: arrays of shape (N,); c, w: (N, K) mixture scales and weights (w sums to 1).
    Returns (log E Z^h, log P(Z > 0)); the first includes the atom at zero.
    """
    h = np.asarray(h, float)
    d = np.asarray(d, float)
    out = np.empty(h.shape)
    forms = np.array([_split_form(hi) for hi in h])
    for m in np.unique(forms):
        rows = np.flatnonzero(forms == m)
        out[rows] = _log_moment_group(h[rows], d[rows], c[rows], w[rows], int(m))
    return out


def _nodes(x_left, x_right, rate_left, rate_right):
    """Trapezoid nodes in x with double-exponential compression of both tails.

    x(u) = u - exp(x_left - u) + exp(u - x_right): between x_left and x_right the
    map is nearly the identity (the integrand's features live there); outside, an
    integrand decaying like exp(-rate |x|) decays double-exponentially in u, so
    the tails cost a handful of nodes.  Returns x (N, J) and the weights dx/du * du.
    """
    u_lo = x_left - np.log(_TAIL / rate_left)
    u_hi = x_right + np.log(_TAIL / rate_right)
    n = int(np.ceil(np.max(u_hi - u_lo) / _STEP)) + 1
    du = (u_hi - u_lo) / (n - 1)
    u = u_lo[:, None] + du[:, None] * np.arange(n)
    e_left, e_right = np.exp(x_left[:, None] - u), np.exp(u - x_right[:, None])
    return u - e_left + e_right, du[:, None] * (1 + e_left + e_right)


def _log_moment_group(h, d, c, w, m):
    ct, mean = _normalise(d[:, None], c, w)
    rate_left = (m - h) if m else (1 - h)
    # The integrand's features lie between its peak (t ~ 1) and the slowest
    # component scale 1/c; beyond that it decays at least like t^-(h + 1/2).
    cmin = np.where(ct > 0, ct, np.inf).min(axis=-1)
    x_right = np.maximum(np.log(1 / cmin), 0.0) + _RIGHT_MARGIN
    x, weight = _nodes(np.full(h.shape, -2.0), x_right, rate_left, h + 0.5)
    f = _integrand(x, h[:, None], d[:, None], ct[:, None, :], w[:, None, :], m, _NP)
    integral = (f * weight).sum(axis=-1)
    if m:
        return h * np.log(mean) + np.log(integral) - special.gammaln(m - h)
    atom = (w * (c == 0)).sum(axis=-1)
    log_alive = np.log1p(-atom ** d)
    frac = h * integral / special.gamma(1 - h)
    return h * np.log(mean) + log_alive + np.log1p(frac)


def log_moment_mp(h, d, c, w):
    """log E[Z^h] as an mpmath number at the current working precision.

    h: mpf; d: int; c, w: sequences of mpf (the mixture).  The integral is split at
    t = 1 (the peak) and at each component's scale, where the integrand bends.
    """
    h = mpmath.mpf(h)
    c = np.array([mpmath.mpf(ci) for ci in c], dtype=object)
    w = np.array([mpmath.mpf(wi) for wi in w], dtype=object)
    mean = d * (c * w).sum()
    ct = c / mean
    m = _split_form(float(h))
    points = sorted({mpmath.mpf(1)} | {1 / ci for ci in ct if ci != 0})

    def f(t):
        x = np.array([mpmath.log(t)], dtype=object)
        return _integrand(x, h, d, ct[None, :], w[None, :], m, _MP)[0] / t

    integral = mpmath.quad(f, [0] + points + [mpmath.inf])
    if m:
        return h * mpmath.log(mean) + mpmath.log(integral) - mpmath.loggamma(m - h)
    atom = sum(wi for wi, ci in zip(w, c) if ci == 0)
    log_alive = mpmath.log1p(-atom ** d)
    return h * mpmath.log(mean) + log_alive + mpmath.log1p(h * integral / mpmath.gamma(1 - h))

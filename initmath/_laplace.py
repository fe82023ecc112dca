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
Both paths integrate in x = log t with the trapezoidal rule (the integrands are
analytic for |Im x| < pi/2 and decay exponentially at both ends, so it converges
geometrically, error ~ exp(-pi^2/step)), with double-exponential compression of the
tails.  The float64 path uses a fixed step; the high-precision path picks the step
and tail cut from the working precision and evaluates all nodes in one pass over
numpy object arrays of mpmath numbers.  The integrand is written once, for both.

For large d the right end is cut by a Chernoff bound: with k = E[C]/max(C) * d and
the chord bound M(t) <= 1 - (1 - (1 + 2 c_max t)^(-1/2)) / (d c_max) (convexity in c),
P(Z < s E Z) <= exp(-k (1 - s^(1/3))^2 (2 + s^(1/3)) / 2), so once that is below the
tail tolerance only t <~ tail / s matters (the integrand beyond t = T weighs
E[Z^h Gamma(alpha, T Z)]).  Without it the nodes would run out to t ~ 1/c_min ~ d.
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

# float64 trapezoidal step in x = log t: discretisation error ~ exp(-pi^2 / STEP).
_STEP = 0.25
# Tails are cut where the integrand is exp(-_TAIL) of its peak (~1e-19).
_TAIL = 44.0
_X_LEFT = -2.0
_RIGHT_MARGIN = 6.0
# Rows are grouped by node count rounded up to a multiple of this.
_BUCKET = 8


def _split_form(h):
    """m (the order of the derivative form), or 0 for the Frullani form."""
    return 0 if h < 0.5 else int(math.floor(h + 0.5)) + 1


def _integrand(x, h, d, c2, w, atom, m, xp):
    """The x = log t integrand; x: (..., J); h, d, atom: (..., 1); c2, w: (..., 1, K).

    c2 = 2 c / E[Z] (Z normalised to mean 1, so the integrand peaks near x = 0);
    atom = per-coordinate P(C = 0) (only used by the Frullani form).
    """
    t = xp.exp(x)
    u = c2 * t[..., None]
    s = xp.sqrt(1 + u)
    base = w / s                                        # w_i (1 + 2 c_i t)^(-1/2)
    m_minus_1 = (-(w * u) / (s * (1 + s))).sum(axis=-1)  # M - 1 without cancellation
    d_log_m = d * xp.log1p(m_minus_1)
    if m:
        # Taylor coefficients of M(t - u) in u, divided by M(t): all positive.
        total = base.sum(axis=-1)
        ratio = c2 / (1 + u)
        term, q, mu = base, [1], [None]
        for j in range(1, m + 1):
            term = term * ratio * (2 * j - 1) / (2 * j)   # exact in both paths
            mu.append(term.sum(axis=-1) / total)
        for k in range(1, m + 1):
            q.append(sum(((d + 1) * j - k) * mu[j] * q[k - j] for j in range(1, k + 1)) / k)
        return xp.exp(d_log_m + (m - h) * x) * (q[m] * math.factorial(m))
    # Frullani form: e^-t - L'(t), computed without cancellation at both ends.
    l_minus_1 = xp.expm1(d_log_m)
    if np.any(atom != 0):
        p0 = atom ** d
        safe_atom = np.where(atom == 0, 1, atom)
        alive = (base * (c2 != 0)).sum(axis=-1)         # M - atom, accurate as t -> inf
        l_minus_p0 = (1 + l_minus_1) * -xp.expm1(-d * xp.log1p(alive / safe_atom))
        l_minus_p0 = np.where(atom == 0, 1 + l_minus_1, l_minus_p0)
        l_alive = l_minus_p0 / (1 - p0)
        one_minus_l_alive = -l_minus_1 / (1 - p0)
    else:
        l_alive = 1 + l_minus_1
        one_minus_l_alive = -l_minus_1
    e_minus_1 = xp.expm1(-t)
    diff = np.where(x < 0, e_minus_1 + one_minus_l_alive, (1 + e_minus_1) - l_alive)
    return diff * xp.exp(-h * x)


def _plan(h, d, ct, w, m, tail, lib):
    """Per-row integration range in u (before the double-exponential map).

    Returns u_lo, u_hi, x_right (the map's right corner); lib is math or mpmath
    (scalar rows) or None (numpy arrays, vectorised).
    """
    rate_left = (m - h) if m else (1 - h)
    if lib is None:
        pos = ct > 0
        cmin = np.where(pos, ct, np.inf).min(axis=-1)
        cmax = ct.max(axis=-1)
        has_atom = (np.where(pos, 0, w).sum(axis=-1) > 0) | (d == 1)
        rate_right = h + np.where(has_atom, 0.5, 0.5 * d)
        x_right = np.maximum(-np.log(cmin), 0.0) + _RIGHT_MARGIN
        u_hi = x_right + np.log(tail / rate_right)
        k = 1 / cmax                  # d E[C] / max C
        with np.errstate(invalid="ignore", divide="ignore"):
            s = (1 - np.sqrt(tail / k)) ** 3
            x_cut = np.log((tail + 5) / s)
        cut = (k > tail) & (x_cut < u_hi)
        u_hi = np.where(cut, x_cut, u_hi)
        x_right = np.where(cut, x_cut + 50, x_right)
        u_lo = _X_LEFT - np.log(tail / rate_left)
        return u_lo, u_hi, x_right
    pos = [ci for ci in ct if ci > 0]
    has_atom = len(pos) < len(ct) or d == 1
    rate_right = h + (lib.mpf(1) / 2 if lib is mpmath else 0.5) * (1 if has_atom else d)
    x_right = max(-lib.log(min(pos)), 0) + _RIGHT_MARGIN
    u_hi = x_right + lib.log(tail / rate_right)
    k = 1 / max(pos)
    if k > tail:
        s = (1 - lib.sqrt(tail / k)) ** 3
        x_cut = lib.log((tail + 5) / s)
        if x_cut < u_hi:
            u_hi, x_right = x_cut, x_cut + 50
    u_lo = _X_LEFT - lib.log(tail / rate_left)
    return u_lo, u_hi, x_right


def _map(u, x_right):
    """x(u) = u - exp(x_left - u) + exp(u - x_right) and dx/du."""
    e_left, e_right = np.exp(_X_LEFT - u), np.exp(u - x_right)
    return u - e_left + e_right, 1 + e_left + e_right


def log_moment(h, d, c, w):
    """log E[Z^h] in float64, vectorised over rows (the atom at zero included).

    h, d: arrays of shape (N,); c, w: (N, K) mixture scales and weights (w sums to 1).
    """
    h = np.asarray(h, float)
    d = np.asarray(d, float)
    c = np.asarray(c, float)
    w = np.asarray(w, float)
    with np.errstate(divide="ignore", over="ignore", under="ignore", invalid="ignore"):
        if h.shape[0] == 1:
            return _log_moment_group(h, d, c, w, _split_form(h[0]))
        out = np.empty(h.shape)
        forms = np.where(h < 0.5, 0, np.floor(h + 0.5) + 1).astype(int)
        mean = d * (c * w).sum(axis=-1)
        ct = c / (d * (c * w).sum(axis=-1))[:, None]
        u_lo = np.empty(h.shape)
        u_hi = np.empty(h.shape)
        for m in np.unique(forms):
            rows = forms == m
            lo, hi, _ = _plan(h[rows], d[rows], ct[rows], w[rows], int(m), _TAIL, None)
            u_lo[rows], u_hi[rows] = lo, hi
        n = np.ceil((u_hi - u_lo) / (_STEP * _BUCKET)).astype(int)
        key = forms * 100000 + n
        for kval in np.unique(key):
            rows = np.flatnonzero(key == kval)
            out[rows] = _log_moment_group(h[rows], d[rows], c[rows], w[rows], int(kval // 100000))
        del mean
        return out


def _log_moment_group(h, d, c, w, m):
    """Rows sharing the form m (and, for speed, about the same node count)."""
    mean = d * (c * w).sum(axis=-1)
    ct = c / mean[:, None]
    u_lo, u_hi, x_right = _plan(h, d, ct, w, m, _TAIL, None)
    n = int(math.ceil((u_hi - u_lo).max() / _STEP)) + 1
    du = (u_hi - u_lo) / (n - 1)
    u = u_lo[:, None] + du[:, None] * np.arange(n)
    x, jac = _map(u, x_right[:, None])
    atom = np.where(c == 0, w, 0).sum(axis=-1)
    f = _integrand(x, h[:, None], d[:, None], 2 * ct[:, None, :], w[:, None, :],
                   atom[:, None], m, _NP)
    integral = (f * jac).sum(axis=-1) * du
    if m:
        return h * np.log(mean) + np.log(integral / special.gamma(m - h))
    log_alive = np.log1p(-atom ** d)
    return h * np.log(mean) + log_alive + np.log1p(h * integral / special.gamma(1 - h))


def log_moment_mp(h, d, c, w):
    """log E[Z^h] as an mpmath number, correct to the current working precision.

    h: mpf in (0, ~3]; d: int; c, w: sequences of mpf (the mixture).  The trapezoid
    step and the tail cut follow from the working precision; the sum is done with a
    few guard bits and rounded to the caller's precision on return.
    """
    prec = mpmath.mp.prec
    with mpmath.workprec(prec + 24 + int(math.log2(max(int(d), 1)))):
        tail = mpmath.mpf(prec + 8) * mpmath.ln2
        step = mpmath.pi ** 2 / (tail + 8)
        result = _log_moment_mp(mpmath.mpf(h), int(d), c, w, tail, step)
    return +result


def _log_moment_mp(h, d, c, w, tail, step):
    c = np.array([mpmath.mpf(ci) for ci in c], dtype=object)
    w = np.array([mpmath.mpf(wi) for wi in w], dtype=object)
    mean = d * (c * w).sum()
    ct = c / mean
    m = _split_form(float(h))
    u_lo, u_hi, x_right = _plan(h, d, list(ct), list(w), m, tail, mpmath)
    n = int(mpmath.ceil((u_hi - u_lo) / step)) + 1
    du = (u_hi - u_lo) / (n - 1)
    u = np.array([u_lo + du * j for j in range(n)], dtype=object)
    e_left = _MP.exp(_X_LEFT - u)
    e_right = _MP.exp(u - x_right)
    x = u - e_left + e_right
    atom = sum((wi for wi, ci in zip(w, c) if ci == 0), mpmath.mpf(0))
    f = _integrand(x, h, d, 2 * ct[None, :], w[None, :], atom, m, _MP)
    integral = mpmath.fsum(f * (1 + e_left + e_right)) * du
    if m:
        return h * mpmath.log(mean) + mpmath.log(integral) - mpmath.loggamma(m - h)
    log_alive = mpmath.log1p(-atom ** d)
    return h * mpmath.log(mean) + log_alive + mpmath.log1p(h * integral / mpmath.gamma(1 - h))

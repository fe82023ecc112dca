"""Hypergeometric route for the moment factor ``I_a(s, d) = E[Z^{s/2}]``.

Setting
-------
``Z = ||phi_a(g)||^2`` with ``g ~ N(0, I_d)`` and the leaky-ReLU
``phi_a(z) = z`` (``z > 0``), ``a z`` (``z <= 0``), ``0 <= a <= 1``.
Optionally with inverted dropout of keep probability ``q``:
``Z_q = sum_i (b_i / q^2) phi_a(g_i)^2``, ``b_i ~ Bernoulli(q)`` iid.

Derivation (``h = s/2 > 0``)
----------------------------
Let ``n ~ Binomial(d, 1/2)`` be the number of positive coordinates.  Given
``n`` (the signs are independent of the magnitudes ``g_i^2``),

    Z = X + a^2 Y,   X ~ chi2_n,  Y ~ chi2_{d-n}  independent.

Write ``T = X + Y ~ chi2_d`` and ``B = Y / T ~ Beta((d-n)/2, n/2)``; ``T`` and
``B`` are independent (Lukacs), and ``Z = T (1 - c B)`` with ``c = 1 - a^2``.
Hence

    E[T^h] = 2^h Gamma(d/2 + h) / Gamma(d/2),
    E[(1 - c B)^h] = 2F1(-h, (d-n)/2; d/2; c)      (Euler's integral),

    E[Z^h | n] = 2^h Gamma(d/2+h)/Gamma(d/2) * 2F1(-h, (d-n)/2; d/2; 1-a^2).

Special cases: ``n = d`` gives ``2F1 = 1``; ``n = 0`` gives ``a^{2h}`` (so
``0`` when ``a = 0``); for ``a = 0`` Gauss' theorem turns the conditional
moment into ``2^h Gamma(n/2 + h)/Gamma(n/2)`` which is what is used then.

With dropout, given ``k ~ Binomial(d, q)`` kept units, ``Z_q = q^{-2} Z^{(k)}``
where ``Z^{(k)}`` is the no-dropout variable in dimension ``k`` (``Z^{(0)} = 0``):

    E[Z_q^h] = q^{-2h} sum_k C(d,k) q^k (1-q)^{d-k} I_a(2h, k).

Truncation (rigour)
-------------------
The conditional moments are *nondecreasing* in the number of positive
(resp. kept) units -- replacing a factor ``a^2 <= 1`` by ``1`` (resp. adding a
nonnegative summand and using ``q^{-2}`` fixed) can only increase ``Z``
pointwise.  Every summand is bounded above by the ``n = d`` (resp. ``k = d``)
value ``E[T^h]`` and the total is bounded below by ``P(K >= m) * G_m`` for a
median-type index ``m`` with ``P(K >= m) >= 1/2``.  The binomial tails are
bounded with the Chernoff / relative-entropy bound

    P(K >= k) <= exp(-d KL(k/d || p))   (k >= d p),

which is never weaker than Hoeffding's ``exp(-2 (k - d p)^2 / d)`` because
``KL(x || p) >= 2 (x - p)^2`` (Pinsker).  The band ``[lo, hi]`` is chosen so
that the neglected mass times the summand bound is below ``eps/4`` of the lower
bound on the total, ``eps = 2^-(prec+8)``.  For ``keep_prob = 1`` this is a
band of ``O(sqrt(d * dps))`` terms.
"""

import math
from typing import Any

import mpmath

from .evaluate import guard_bits

__all__ = ["log_moment_factor_mp", "work_estimate"]


# ---------------------------------------------------------------------------
# binomial band via the Chernoff (KL) bound
# ---------------------------------------------------------------------------

def _kl(x: float, p: float) -> float:
    """Relative entropy KL(Bern(x) || Bern(p)) in nats, float, accurate near x=p."""
    if x <= 0.0:
        return -math.log1p(-p)
    if x >= 1.0:
        return -math.log(p)
    dlt = x - p
    return x * math.log1p(dlt / p) + (1.0 - x) * math.log1p(-dlt / (1.0 - p))


def _binomial_band(d: int, p: float, log_tol_hi: float, log_tol_lo: float):
    """Return ``(lo, hi)`` with ``P(K > hi) <= exp(-log_tol_hi)`` and
    ``P(K < lo) <= exp(-log_tol_lo)`` for ``K ~ Binomial(d, p)``.

    Uses ``P(K >= k) <= exp(-d KL(k/d||p))`` for ``k >= dp`` (and the mirror
    image for the lower tail).  A 1% safety margin plus one extra index on each
    side absorbs floating-point error in the bisection.
    """
    if p >= 1.0:
        return d, d
    mean = d * p
    # upper: smallest hi >= floor(mean) with d*KL((hi+1)/d || p) >= L
    L = 1.01 * log_tol_hi + 1.0
    base = min(d, max(0, math.floor(mean)))
    if d * _kl(1.0, p) < L:
        hi = d
    else:
        lo_i, hi_i = base, d  # find smallest j in [base, d] with d*KL((j+1)/d) >= L
        while lo_i < hi_i:
            mid = (lo_i + hi_i) // 2
            x = (mid + 1) / d
            if x > p and d * _kl(min(x, 1.0), p) >= L:
                hi_i = mid
            else:
                lo_i = mid + 1
        hi = min(d, lo_i + 1)
    # lower: largest lo <= ceil(mean) with d*KL((lo-1)/d || p) >= L
    L = 1.01 * log_tol_lo + 1.0
    top = min(d, max(0, math.ceil(mean)))
    if d * _kl(0.0, p) < L:
        lo = 0
    else:
        lo_i, hi_i = 0, top  # find largest j in [0, top] with d*KL((j-1)/d) >= L
        while lo_i < hi_i:
            mid = (lo_i + hi_i + 1) // 2
            x = (mid - 1) / d
            if x < p and d * _kl(max(x, 0.0), p) >= L:
                lo_i = mid
            else:
                hi_i = mid - 1
        lo = max(0, lo_i - 1)
    return lo, hi


# ---------------------------------------------------------------------------
# hypergeometric factor
# ---------------------------------------------------------------------------

def _hyp2f1_neg_h(h, b, c, z):
    """``2F1(-h, b; c; z)`` for ``0 <= b <= c``, ``0 < z < 1``, at current precision.

    mpmath's ``hyp2f1`` switches to the (slow, two-series) ``1 - z``
    transformation for ``z > 0.8``.  When ``c`` is large and ``b/c`` is
    bounded away from 1 the plain Gauss series still converges geometrically
    (term ratio ``~ z (b+j)/(c+j)``), so it is summed directly with
    ``mpmath``'s ``hypsum`` (which tracks cancellation and raises precision as
    needed); anything else falls back to ``mpmath.hyp2f1``.
    """
    ctx = mpmath.mp
    if z > 0.8:
        J = 3 * ctx.prec + int(h) + 10
        if z * (b + J) / (c + J) <= 0.8:
            try:
                coeffs, types = [], []
                for v in (-h, b, c):
                    val, typ = ctx._convert_param(v)
                    coeffs.append(val)
                    types.append(typ)
                return ctx.hypsum(2, 1, tuple(types), coeffs, ctx.convert(z),
                                  maxterms=20 * J)
            except Exception:  # pragma: no cover - defensive fallback
                pass
    return ctx.hyp2f1(-h, b, c, z)


class _NoDropout:
    """Evaluator of ``log E[Z^h]`` (no dropout) at the current precision.

    ``rel_eps`` is the target relative error of ``E[Z^h]`` (so the absolute
    error of the log).
    """

    def __init__(self, h, a):
        self.h = h
        self.a = a
        self.c = 1 - a * a
        self.log2 = mpmath.log(2)

    def log_F(self, d, n):
        """log of E[(1 - cB)^h] for B ~ Beta((d-n)/2, n/2); ``-inf`` if zero."""
        h, a = self.h, self.a
        if n == d or self.c == 0:
            return mpmath.mpf(0)
        if a == 0:
            if n == 0:
                return mpmath.ninf
            return (mpmath.loggamma(mpmath.mpf(d) / 2) + mpmath.loggamma(mpmath.mpf(n) / 2 + h)
                    - mpmath.loggamma(mpmath.mpf(d) / 2 + h) - mpmath.loggamma(mpmath.mpf(n) / 2))
        if n == 0:
            return 2 * h * mpmath.log(a)
        f = _hyp2f1_neg_h(h, mpmath.mpf(d - n) / 2, mpmath.mpf(d) / 2, self.c)
        return mpmath.log(f)

    def log_ET(self, d):
        """log E[T^h], T ~ chi2_d."""
        h = self.h
        half = mpmath.mpf(d) / 2
        return h * self.log2 + mpmath.loggamma(half + h) - mpmath.loggamma(half)

    def log_moment(self, d, log_rel_eps):
        """log E[Z^h] for dimension d >= 1; ``log_rel_eps`` = -log(eps) (float)."""
        log_ET = self.log_ET(d)
        if self.c == 0:
            return log_ET
        m = (d + 1) // 2  # P(Bin(d,1/2) >= ceil(d/2)) >= 1/2
        log_Fm = self.log_F(d, m)
        # need  P(K>hi) * E T^h <= eps/4 * G_m/2  and  P(K<lo) G_m <= eps/4 * G_m/2
        tol_hi = log_rel_eps + math.log(8.0) - float(log_Fm)
        tol_lo = log_rel_eps + math.log(8.0)
        lo, hi = _binomial_band(d, 0.5, tol_hi, tol_lo)
        lo, hi = min(lo, m), max(hi, m)
        # binomial weights relative to w_m by the exact ratio recurrence
        # w_{n+1}/w_n = (d-n)/(n+1): no loggamma per term, summed linearly
        # (all summands are >= 0, no cancellation).
        total = mpmath.exp(log_Fm)
        w = mpmath.mpf(1)
        for n in range(m + 1, hi + 1):
            w = w * (d - n + 1) / n
            total += w * self.F(d, n)
        w = mpmath.mpf(1)
        for n in range(m - 1, lo - 1, -1):
            w = w * (n + 1) / (d - n)
            f = self.F(d, n)
            if f:
                total += w * f
        log_wm = (mpmath.loggamma(d + 1) - mpmath.loggamma(m + 1)
                  - mpmath.loggamma(d - m + 1) - d * self.log2)
        return log_ET + log_wm + mpmath.log(total)

    def F(self, d, n):
        """E[(1 - cB)^h] itself (0 for the ReLU atom)."""
        return mpmath.exp(self.log_F(d, n))


def _logsumexp(terms):
    mx = max(terms)
    return mx + mpmath.log(mpmath.fsum(mpmath.exp(t - mx) for t in terms))


def _guard_bits(d, h):
    x = float(d) + abs(float(h)) + 2.0
    # loggamma(d+1), loggamma(d/2+h) are ~ x log x in size: that many leading bits
    # are spent before the differences that matter.
    return guard_bits(x * (math.log(x) + 1.0))


def log_moment_factor_mp(h: Any, d: int, a: Any, keep_prob: Any = 1) -> mpmath.mpf:
    """``log E[Z^h]`` as an ``mpmath.mpf``, correct to the current working precision.

    Parameters
    ----------
    h : real > 0 (float, int or mpf); ``h = s/2``.
    d : int >= 1, the width.
    a : real in [0, 1], the leaky-ReLU negative slope (``a = 0``: ReLU).
    keep_prob : real in (0, 1], inverted-dropout keep probability ``q``.

    The sum over the number ``n`` of positive units (and, with dropout, over
    the number ``k`` of kept units) is restricted to a binomial band chosen
    with a Chernoff (hence Hoeffding-dominated) tail bound so that the
    neglected mass is below ``2^-(prec+8)`` relative to the total; internally
    the computation runs with extra guard bits to absorb the cancellation in
    ``loggamma`` differences of size ``~ d log d``.  The result is rounded to
    the caller's precision.  Argument validation is the caller's job.
    """
    d = int(d)
    prec0 = mpmath.mp.prec
    eps_bits = prec0 + 8
    log_rel_eps = eps_bits * math.log(2.0)
    with mpmath.workprec(prec0 + _guard_bits(d, h)):
        h = mpmath.mpf(h)
        a = mpmath.mpf(a)
        q = mpmath.mpf(keep_prob)
        ev = _NoDropout(h, a)
        if q == 1:
            res = ev.log_moment(d, log_rel_eps)
        else:
            res = _log_moment_dropout(ev, d, q, log_rel_eps)
    return +res  # round to the caller's precision


def _log_moment_dropout(ev, d, q, log_rel_eps):
    """log E[Z_q^h] = -2h log q + log sum_k Bin(k; d, q) E[Z^{(k)h}]."""
    h = ev.h
    qf = float(q)
    inner_eps = log_rel_eps + math.log(8.0)  # relative error eps/8 for I(m)
    cache = {}

    def log_I(k):
        if k not in cache:
            cache[k] = ev.log_moment(k, inner_eps)
        return cache[k]

    # lower bound of the total: P(K >= m) * I(m) with m >= 1
    m = math.floor(d * qf)
    log_q, log_1mq = mpmath.log(q), mpmath.log1p(-q)
    if m >= 1:
        log_pm = -math.log(2.0)  # median of Bin(d,q) >= floor(dq)
    else:
        m = 1
        log_pm = float(mpmath.log(-mpmath.expm1(d * log_1mq)))
    log_Im = float(log_I(m))
    log_ETd = float(ev.log_ET(d))  # I(k) <= E T_d^h for all k <= d
    tol_hi = log_rel_eps + math.log(8.0) - log_pm - log_Im + log_ETd
    tol_lo = log_rel_eps + math.log(8.0) - log_pm
    lo, hi = _binomial_band(d, qf, tol_hi, tol_lo)
    lo, hi = max(1, min(lo, m)), max(hi, m)
    lgd1 = mpmath.loggamma(d + 1)
    ks = list(range(lo, hi + 1))
    lws = [lgd1 - mpmath.loggamma(k + 1) - mpmath.loggamma(d - k + 1)
           + k * log_q + (d - k) * log_1mq for k in ks]
    # Per-k inner accuracy: the error of term k is <= v_k * U_k * delta_k with
    # U_k = E[T_k^h] >= I(k); requiring this <= eps/(4N) * P(K>=m) I(m) (a lower
    # bound of the total) lets far-from-centre k use a narrower inner band, and
    # lets k with v_k U_k below that budget be dropped outright.
    log_budget = -log_rel_eps - math.log(8.0 * len(ks)) + log_pm + log_Im
    terms = []
    for k, lw in zip(ks, lws):
        if k in cache:
            terms.append(lw + cache[k])
            continue
        slack = log_budget - float(lw) - float(ev.log_ET(k))  # = log(delta_k)
        if slack >= 0:
            continue
        terms.append(lw + ev.log_moment(k, max(-slack, 5.0)))
    return -2 * h * log_q + _logsumexp(terms)


# Seconds per summand (one 2F1 or loggamma difference) at 150 working bits on one core
# of the reference machine; it grows like prec^1.3 (measured at 20 to 200 digits).
_SECONDS_PER_TERM = 8.5e-5


def work_estimate(h: Any, d: int, a: Any, keep_prob: Any, prec: int) -> float:
    """Rough seconds log_moment_factor_mp(h, d, a, keep_prob) takes at ``prec`` bits.

    The summands are counted from the same Chernoff bands the sum uses: O(sqrt(d prec))
    of them without dropout, that many per kept count k (and as many k) with it.  Used
    to pick the faster route and to refuse work beyond the budget up front.
    """
    d = int(d)
    bits = prec + _guard_bits(d, h)
    per_term = _SECONDS_PER_TERM * max(1.0, bits / 150) ** 1.3 * (1 + float(h) / 40)
    z = 1 - float(a) ** 2
    if z > 0.8:        # _hyp2f1_neg_h: a long Gauss series, or mpmath's 1 - z transformation
        j = 3 * bits + float(h) + 10
        per_term *= 4 if z * (d / 4 + j) / (d / 2 + j) <= 0.8 else 25
    tol = (prec + 8) * math.log(2.0) + math.log(8.0)

    def band(n):
        if a == 1:                         # Z ~ chi2_n: one closed form
            return 1
        lo, hi = _binomial_band(n, 0.5, tol, tol)
        return hi - lo + 1

    if keep_prob == 1:
        return per_term * band(d)
    lo, hi = _binomial_band(d, float(keep_prob), tol, tol)
    # Kept counts k away from d q need narrower inner bands (or none): about half.
    return 0.5 * per_term * (hi - lo + 1) * band(max(1, min(d, hi)))

r"""The paper's printed series for the moment factor, summed as printed.

Gurbuzbalaban & Hu (2021) give the moment factor

.. math:: I_a(s, d) = E[Z^{s/2}], \qquad Z = \lVert\phi_a(g)\rVert^2,\quad g \sim N(0, I_d),

(:math:`\phi_a(z) = z` for :math:`z > 0`, :math:`a z` otherwise), which sets the s-th
moment of a layer's output: :math:`E\lVert x^{(k)}\rVert^s = \lVert x^{(0)}\rVert^s
(\sigma^s I_a(s, d))^k`.  They print two series for it.

Theorem 1, eq. (3.2), ReLU (a = 0), any s > 0 (the n = 0 term is 0):

.. math:: I_0(s, d) = 2^{s/2} \sum_{n=0}^{d} \binom{d}{n} 2^{-d}
          \frac{\Gamma(n/2 + s/2)}{\Gamma(n/2)} .

Theorem 7, eqs. (4.2)-(4.3), :math:`a \in (0, 1]`, :math:`0 < s < 2`:

.. math:: I_a(s, d) = \frac{2^{s/2}}{\Gamma(1 - s/2)} \sum_{n=0}^{d} \binom{d}{n} 2^{-d}
          \sum_{k=0}^{\infty} w_{k,n}\, B(k + 1 - s/2,\ d/2 + s/2),

.. math:: w_{k,n} = \tfrac12 (1-a^2)^k \Bigl[\tbinom{(d-n)/2 + k - 1}{k}\, n
          + a^2 (d-n) \tbinom{(d-n)/2 + k}{k}\Bigr],

with the convention :math:`I_a(2, d) = (1 + a^2) d/2` (the Gamma(1 - s/2) pole).  Both
are correct (checked against an mpmath hypergeometric reference in
``tests/test_series.py``); only the critical-sigma formulas the paper derives from them
are not, see :func:`initmath.papers.gurbuzbalaban_hu.paper_critical_sigma_relu` and
:func:`initmath.papers.gurbuzbalaban_hu.paper_critical_sigma_leaky`.

This module sums exactly these series, as an independent check on the library's fast
method; it is not meant to be fast.

How the terms are evaluated
---------------------------
With h = s/2, q = (d - n)/2 and r = 1 - a^2, the exact identities

.. math:: \frac{B(k+1-h, d/2+h)}{\Gamma(1-h)} = \frac{\Gamma(d/2+h)}{\Gamma(d/2+1)}
          \frac{(1-h)_k}{(d/2+1)_k}, \qquad
          \binom{q+k-1}{k} = \frac{(q)_k}{k!}, \qquad
          a^2 (d-n) \binom{q+k}{k} = 2a^2 (q+k) \frac{(q)_k}{k!}

rewrite eq. (4.2) term by term (same terms, same order) as

.. math:: I_a = \frac{2^h}{d} \frac{\Gamma(d/2+h)}{\Gamma(d/2)}
          \sum_n \binom{d}{n} 2^{-d} S_n, \qquad
          S_n = \sum_{k \ge 0} t_k, \quad t_k = u_k\,(n + 2a^2(q+k)), \quad
          u_k = \frac{r^k (q)_k (1-h)_k}{k!\,(d/2+1)_k} .

``u_k`` is generated from its ratio :math:`\rho_k = r (q+k)(1-h+k) / ((k+1)(d/2+1+k))`
by cumulative products, not from log-gamma values: ``gammaln(x)`` carries an absolute
error of about eps * x log x, which for d ~ 10^3 is already a 1e-12 relative error in
every term, while a product of k ratios drifts by only about sqrt(k) eps.  For the same
reason the Gamma ratios use :func:`_gamma_ratio` (Stirling differences) and not
``scipy.special.poch``, which loses 1e-13 at z ~ 500.

Truncation
----------
All terms are positive (no cancellation) and strictly decreasing, since
:math:`t_{k+1}/t_k \le r\,(q+1+k)/(q+1+n/2+k) < 1`.  Summing this ratio bound
geometrically, or with Gauss's theorem for :math:`{}_2F_1(1, K+q+1; K+q+1+n/2; 1)`,
gives the rigorous tail bound

.. math:: \sum_{j \ge K} t_j \le t_K\, \Phi_n(K), \qquad
          \Phi_n(K) = \min\Bigl(\frac{1}{a^2},\ \frac{K + d/2}{n/2 - 1}\Bigr)
          \quad (\text{second entry only for } n \ge 3),

and the k-sum stops once :math:`t_K \Phi_n(K) \le \mathrm{rtol}\cdot S_n^{\rm partial}`.
The terms behave like :math:`r^k k^{-n/2-h}`: for the n that carry the binomial weight
(n ~ d/2) the polynomial factor ends the sum after O(d) terms whatever a is, and only
the small n of small d need the O(log(1/rtol)/a^2) terms of the geometric factor.  The
count is estimated before any summing and a ValueError is raised beyond a budget, so a
call never hangs.  Binomial weights below 1e-20 of the largest are dropped (float64).
"""
import math
import numbers

import mpmath
import numpy as np
from scipy import special

from .evaluate import at_precision, guard_digits

__all__ = ["series_moment_factor"]

# Term budgets: estimated k-terms summed over n.  float64 terms cost ~10 ns each in
# numpy; mpmath terms cost ~10 us, hence the smaller budget there.
_MAX_TERMS = 5e7
_MAX_TERMS_MP = 7e5
# a = 0 at high precision: one mpmath binomial and rising factorial per n (~0.2 ms).
_MAX_TERMS_MP_RELU = 7e4
# float64 path: binomial weights below this fraction of the largest are dropped; the
# neglected mass is far below the 1e-16 relative accuracy of the sum.
_BAND_FLOAT = 1e-20
# Largest (n x k) block processed at once: bounds memory at ~8 MiB per work array.
_BLOCK_ELEMENTS = 1 << 20
# Above this many n values the term count is estimated on an even subsample.
_ESTIMATE_SAMPLE = 4096
# Stirling coefficients B_2k / (2k (2k-1)), k = 1..7: for z >= 12 the first omitted
# one contributes < 3e-18 to log Gamma(z+h) - log Gamma(z).
_STIRLING = (1 / 12, -1 / 360, 1 / 1260, -1 / 1680, 1 / 1188, -691 / 360360, 1 / 156)
_STIRLING_MIN_Z = 12.0


def series_moment_factor(s: float, d: int, a: float, *, dps: int | None = None,
                         rtol: float = 1e-15) -> float | mpmath.mpf:
    r"""Moment factor :math:`I_a(s, d) = E\lVert\phi_a(g)\rVert^s` from the paper's series.

    Sums eq. (3.2) of Theorem 1 for a = 0 and the double series (4.2)-(4.3) of
    Theorem 7 for 0 < a <= 1 (see the module docstring for the formulas and how the
    terms are evaluated).

    Parameters
    ----------
    s : float
        Moment order, s > 0.  For a > 0 the series needs s < 2; s = 2 returns the
        paper's convention :math:`(1 + a^2) d / 2` (exact: it is E[Z]).
    d : int
        Layer width, d >= 1.
    a : float
        Negative-side slope of the activation, 0 <= a <= 1 (0: ReLU, 1: linear).
    dps : int, optional
        None (default) gives a float64 result.  An int gives an :class:`mpmath.mpf`
        correct to ``dps`` significant digits (computed with guard digits; slow).
    rtol : float, optional
        float64 path only: relative bound on the truncated tail of each k-sum.  The
        rounding error of the sums, about 1e-15 relative, comes on top.

    Returns
    -------
    float or mpmath.mpf

    Raises
    ------
    ValueError
        For inputs outside the domain above, for s > 2 with a > 0 (the series has the
        Gamma(1 - s/2) pole there), when a**2 underflows, when the float64 result
        overflows, and when the series would need more terms than the budget (5e7
        float64, 7e5 mpmath): the k-sum needs O(log(1/rtol)/a^2) terms for small a
        and small n, so use the hypergeometric method there.  At high precision
        with a = 0 the n-sum is limited to 7e4 terms (d up to ~10^8 at 20 digits).

    Examples
    --------
    >>> round(series_moment_factor(2.0, 16, 0.0), 12)
    8.0
    >>> round(series_moment_factor(1.0, 16, 1.0), 12)   # sqrt(2) Gamma(8.5)/Gamma(8)
    3.938025621887
    """
    s, d, a = _check_inputs(s, d, a, dps, rtol)
    if dps is None:
        return _series_float(float(s), d, float(a), float(rtol))
    return _series_mp(s, d, a, int(dps))


def _check_inputs(s, d, a, dps, rtol):
    """Validate the domain; return (s, d, a) with d a Python int."""
    for name, value in (("s", s), ("a", a), ("rtol", rtol)):
        if isinstance(value, bool) or not isinstance(value, (numbers.Real, mpmath.mpf)):
            raise ValueError(f"{name} must be a real number, got {value!r}")
        if not mpmath.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value!r}")
    if isinstance(d, bool) or not isinstance(d, numbers.Integral) or d < 1:
        raise ValueError(f"d must be an integer >= 1, got {d!r}")
    if dps is not None and (isinstance(dps, bool) or not isinstance(dps, numbers.Integral)
                            or dps < 1):
        raise ValueError(f"dps must be None or an integer >= 1, got {dps!r}")
    if not s > 0:
        raise ValueError(f"s must be > 0, got {s!r}")
    if not 0 <= a <= 1:
        raise ValueError(f"a must lie in [0, 1], got {a!r}")
    if not 0 < rtol < 1:
        raise ValueError(f"rtol must lie in (0, 1), got {rtol!r}")
    if a > 0 and s > 2:
        raise ValueError(
            f"Theorem 7's series needs s < 2 (Gamma(1 - s/2) has a pole at s = 2, where "
            f"the paper's convention I = (1 + a^2) d/2 is used); got s = {s!r} with "
            f"a = {a!r} > 0")
    if a > 0 and float(a) ** 2 == 0.0:
        raise ValueError(f"a = {a!r} is so small that a**2 underflows; use a = 0")
    return s, int(d), a


def _gamma_ratio(z, h):
    """Gamma(z + h) / Gamma(z) elementwise for z > 0, h >= 0, to ~1e-15 relative.

    Shifts z up to >= 12 with Gamma(z+h)/Gamma(z) = z/(z+h) * Gamma(z+1+h)/Gamma(z+1),
    then takes the difference of two Stirling series in a form without cancellation.
    """
    z = np.array(z, dtype=float)
    factor = np.ones_like(z)
    small = z < _STIRLING_MIN_Z
    while small.any():
        factor[small] *= z[small] / (z[small] + h)
        z[small] += 1.0
        small = z < _STIRLING_MIN_Z
    zh = z + h
    # (z+h-1/2) log(z+h) - (z-1/2) log z - h, rearranged so the O(z) parts cancel exactly.
    log_ratio = (z - 0.5) * np.log1p(h / z) + h * np.log(zh) - h
    for k, coefficient in enumerate(_STIRLING, start=1):
        log_ratio += coefficient * (zh ** (1 - 2 * k) - z ** (1 - 2 * k))
    with np.errstate(over="ignore"):       # inf is reported by the caller
        return factor * np.exp(log_ratio)


def _binomial_band(d, log_threshold):
    """n with C(d, n) >= exp(log_threshold) * max_n C(d, n), and log(C(d, n) / max).

    Hoeffding's bound C(d, n) 2^-d <= exp(-2 (n - d/2)^2 / d), with the largest weight
    >= 1/(d + 1), limits the window that needs looking at.
    """
    half_width = math.sqrt(d / 2 * (math.log(d + 1) - log_threshold))
    low = max(0, math.floor(d / 2 - half_width))
    high = min(d, math.ceil(d / 2 + half_width))
    if high - low + 1 > _MAX_TERMS:
        raise ValueError(
            f"series method needs ~{high - low + 1:.2g} binomial terms at d={d}; "
            f"use method='hypergeometric'")
    n = np.arange(low, high + 1)
    log_weight = -special.gammaln(n + 1.0) - special.gammaln(d - n + 1.0)
    log_weight -= log_weight.max()
    keep = log_weight >= log_threshold
    return n[keep], log_weight[keep]


def _tail_factor(n, d, a2, k):
    """Phi_n(K) of the module docstring: sum_{j >= K} t_j <= t_K * Phi_n(K)."""
    gauss = np.where(n >= 3, (k + d / 2) / np.maximum(n / 2 - 1, 0.5), np.inf)
    return np.minimum(1.0 / a2, gauss)


def _terms_needed(n, d, h, a2, log_tol):
    """Estimated k-terms for each n: smallest K >= 1 with t_K Phi_n(K) <= tol * t_0.

    t_0 <= S_n, so this slightly overestimates the count the summation loop needs.
    log(t_K Phi_n(K)) is non-increasing in K (t_K Phi_n(K) shrinks by a factor
    <= (K+q+1)/(K+d/2) <= 1 per step), so an exponential search followed by a
    bisection to ~1 % finds K.  Returns float (inf where even 2^62 terms do not do).
    """
    n = np.asarray(n, dtype=float)
    q = (d - n) / 2
    log_r = math.log1p(-a2) if a2 < 1 else -math.inf
    const = special.gammaln(d / 2 + 1) - special.gammaln(1 - h)
    start = n + 2 * a2 * q

    def excess(k):
        # log(t_k Phi_n(k) / t_0) - log_tol from log-gamma values: an estimate only.
        with np.errstate(divide="ignore", invalid="ignore"):
            log_u = (k * log_r + special.gammaln(q + k) - special.gammaln(q)
                     + special.gammaln(1 - h + k) - special.gammaln(k + 1)
                     - special.gammaln(d / 2 + 1 + k) + const)
            log_u = np.where(q == 0, -np.inf, log_u)   # (0)_k = 0 for k >= 1
            return (log_u + np.log((n + 2 * a2 * (q + k)) / start)
                    + np.log(_tail_factor(n, d, a2, k)) - log_tol)

    high = np.full(n.shape, np.inf)
    for j in range(63):
        unset = np.isinf(high)
        if not unset.any():
            break
        k = 2.0 ** j
        high[unset & (excess(k) <= 0)] = k
    low = np.where(high > 1, high / 2, high)
    finite = np.isfinite(high)
    for _ in range(8):
        mid = np.floor((low + high) / 2)
        ok = finite & (excess(np.where(finite, mid, 1.0)) <= 0)
        high = np.where(ok, mid, high)
        low = np.where(finite & ~ok, mid, low)
    return high


def _check_budget(n, d, h, a2, log_tol, a, budget):
    """Estimated term count per n (on a subsample for a wide band); raise beyond budget."""
    if n.size > _ESTIMATE_SAMPLE:
        sample = np.unique(np.linspace(0, n.size - 1, _ESTIMATE_SAMPLE).round().astype(int))
        needed = _terms_needed(n[sample], d, h, a2, log_tol)
        total = needed.mean() * n.size
    else:
        needed = _terms_needed(n, d, h, a2, log_tol)
        total = needed.sum()
    if not total <= budget:
        count = f"{total:.2g}" if math.isfinite(total) else "more than 4.6e+18"
        raise ValueError(
            f"series method needs ~{count} terms at a={a}; use method='hypergeometric'")
    return needed, total


def _series_float(s, d, a, rtol):
    if s == 2.0:
        return (1.0 + a * a) * d / 2
    h = s / 2
    n, log_weight = _binomial_band(d, math.log(_BAND_FLOAT))
    # Normalising over the band cancels the common rounding error of the gammaln values.
    weight = np.exp(log_weight)
    weight /= math.fsum(weight)
    if a == 0.0:
        nonzero = n > 0
        total = math.fsum(weight[nonzero] * _gamma_ratio(n[nonzero] / 2, h))
    else:
        sums = _k_sums_float(n, d, h, a * a, rtol, a)
        total = _gamma_ratio(d / 2, h)[()] / d * math.fsum(weight * sums)
    with np.errstate(over="ignore"):
        result = float(np.exp2(h) * total)
    if not math.isfinite(result):
        raise ValueError(f"I_a(s={s}, d={d}) overflows float64; pass dps for an mpf")
    return result


def _k_sums_float(n, d, h, a2, rtol, a):
    """S_n = sum_k t_k for every n, vectorised over (n, k) blocks, k in growing chunks."""
    needed, _ = _check_budget(n, d, h, a2, math.log(rtol), a, _MAX_TERMS)
    n = n.astype(float)
    q = (d - n) / 2
    r = 1.0 - a2
    sums = np.zeros_like(n)
    carry = np.ones_like(n)            # u_K at the start of the current chunk
    active = np.arange(n.size)
    k0 = 0
    chunk = max(16, int(np.median(needed)))
    summed = 0
    while active.size:
        chunk = max(1, min(chunk, _BLOCK_ELEMENTS // active.size))
        k = k0 + np.arange(chunk, dtype=float)
        q_act = q[active, None]
        ratio = r * (q_act + k) * (1 - h + k) / ((k + 1) * (d / 2 + 1 + k))
        running = np.cumprod(ratio, axis=1)          # u_{k+1} / u_{k0}
        u = np.empty_like(running)
        u[:, 0] = 1.0
        u[:, 1:] = running[:, :-1]
        u *= carry[active, None]
        sums[active] += (u * (n[active, None] + 2 * a2 * (q_act + k))).sum(axis=1)
        carry[active] *= running[:, -1]
        k0 += chunk
        summed += active.size * chunk
        next_term = carry[active] * (n[active] + 2 * a2 * (q[active] + k0))
        done = next_term * _tail_factor(n[active], d, a2, k0) <= rtol * sums[active]
        active = active[~done]
        # The estimate above is conservative; this only guards against a wrong one.
        if summed > 4 * _MAX_TERMS:
            raise ValueError(f"series method needs more than {summed:.2g} terms at "
                             f"a={a}; use method='hypergeometric'")
        chunk *= 2
    return sums


def _series_mp(s, d, a, dps):
    s = mpmath.mpf(s)
    a = mpmath.mpf(a)
    if s == 2:
        return at_precision(lambda: (1 + a * a) * d / 2, dps, guard_digits())
    # Neglected binomial mass relative to the total stays below 10^-(dps + 5) even
    # after the worst-case spread of E[Z^h | n] over n (a few sqrt(d)).
    log_threshold = -(dps + 10) * math.log(10) - 1.5 * math.log(d + 1)
    n_band, _ = _binomial_band(d, log_threshold)
    log_tol = -(dps + 5) * math.log(10)
    if a == 0:
        total_terms = n_band.size
        if total_terms > _MAX_TERMS_MP_RELU:
            raise ValueError(f"series method needs ~{total_terms:.2g} terms at d={d} with "
                             f"dps={dps} (limit {_MAX_TERMS_MP_RELU:.2g}); use method='auto'")
    else:
        _, total_terms = _check_budget(n_band, d, float(s) / 2, float(a) ** 2,
                                       log_tol, a, _MAX_TERMS_MP)
    # Guard digits cover the rounding of ~total_terms additions and multiplications.
    return at_precision(_sum_mp, dps, guard_digits(total_terms + 1), s, d, a, dps, n_band)


def _sum_mp(s, d, a, dps, n_band):
    """The n-sum of eq. (3.2) or (4.2) over n_band at the working precision."""
    h = s / 2
    tol = mpmath.mpf(10) ** (-(dps + 5))
    scale = mpmath.mpf(2) ** (-d)
    total = mpmath.mp.zero
    if a == 0:
        for n in map(int, n_band):
            if n > 0:
                total += mpmath.binomial(d, n) * scale * mpmath.rf(mpmath.mpf(n) / 2, h)
        return 2 ** h * total
    for n in map(int, n_band):
        total += mpmath.binomial(d, n) * scale * _k_sum_mp(n, d, h, a, tol)
    return 2 ** h * mpmath.rf(mpmath.mpf(d) / 2, h) / d * total


def _k_sum_mp(n, d, h, a, tol):
    """S_n = sum_k t_k in mpmath, stopped by the same tail bound as the float64 path."""
    a2 = a * a
    r = 1 - a2
    q = mpmath.mpf(d - n) / 2
    half_d1 = mpmath.mpf(d) / 2 + 1
    geometric = 1 / a2
    total = mpmath.mp.zero
    u = mpmath.mp.one
    k = 0
    while True:
        term = u * (n + 2 * a2 * (q + k))
        if k > 0:
            bound = geometric
            if n >= 3:
                bound = min(bound, (k + half_d1 - 1) / (mpmath.mpf(n) / 2 - 1))
            if term * bound <= tol * total:
                return total
        total += term
        # The budget check bounds k already; this only guards against a wrong estimate.
        if k > 4 * _MAX_TERMS_MP:
            raise ValueError(f"series method needs more than {k:.2g} terms at a={a}; "
                             f"use method='hypergeometric'")
        u *= r * (q + k) * (1 - h + k) / ((k + 1) * (half_d1 + k))
        k += 1

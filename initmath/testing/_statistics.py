"""The calibrated statistics behind :mod:`initmath.testing` (numpy and scipy only).

Means: a **batch-means t test**.  The n samples (independent networks) are cut into B
batches of m = n / B; the B batch means are iid, and near normal when the batch size
tames the tails (their skewness is that of one sample over sqrt(m)), so the t statistic
with B - 1 degrees of freedom is referred to Student's law whatever the tails of single
samples.  A single sample's skewness gamma says how large m must be: the two-sided test
keeps its stated level while the batch means' skewness gamma / sqrt(m) stays at or below
``MAX_BATCH_SKEWNESS`` (the calibration tests measure the false-alarm rate at that limit).
The power is exact under normal batch means: the t statistic is then noncentral t with
noncentrality delta = (true mean - expected) sqrt(n) / sd.

Laws: the one-sample **Kolmogorov-Smirnov** test, referred to the exact law of D_n
(scipy.stats.kstwo); distribution-free, so heavy tails do not matter.  An atom of the
predicted law (a ReLU network that collapsed to 0) is allowed: D_n then uses the CDF's
left limits, and the test stays valid (conservative).

Several statistics at once: Holm's step-down procedure, which keeps the family-wise
false-alarm rate at the stated level under any dependence.
"""
import dataclasses
import functools
import math
import warnings

import numpy as np
from scipy import optimize, stats

from .. import _validate

FALSE_ALARM = 1e-6
POWER = 0.99
BATCHES = 64
# The largest skewness of the batch means at which the two-sided batch-means t test is
# trusted at its stated level (tests/test_testing_calibration.py measures the rate).
MAX_BATCH_SKEWNESS = 0.05
# t thresholds beyond this (levels ~1e-40 with 8 batches) are refused: no test needs them,
# and scipy's noncentral t takes minutes (or fails to converge) that far out.
_T_MAX = 1e4


def check_level(false_alarm, name="false_alarm"):
    """false_alarm in [1e-300, 0.5]: a probability of a false alarm, as a float."""
    return _validate.real_scalar(false_alarm, name, 1e-300, 0.5)


def check_power(power):
    """power in [0.5, 1 - 1e-12], as a float."""
    return _validate.real_scalar(power, "power", 0.5, 1 - 1e-12)


def check_batches(batches):
    """batches: an integer in [8, 4096]."""
    if isinstance(batches, bool) or not isinstance(batches, (int, np.integer)) \
            or not 8 <= batches <= 4096:
        raise ValueError(f"batches must be an integer in [8, 4096], got {batches!r}")
    return int(batches)


@functools.lru_cache(maxsize=1024)   # pure; calibration runs repeat it
def t_threshold(false_alarm, batches=BATCHES):
    """|t| above this rejects: the two-sided level-``false_alarm`` quantile of t(B - 1)."""
    return float(stats.t(batches - 1).isf(false_alarm / 2))


def _t_power(noncentrality, threshold, batches):
    # The far tail, the wrong side, adds less than false_alarm / 2: left out (conservative).
    return float(stats.nct(batches - 1, noncentrality).sf(threshold))


@functools.lru_cache(maxsize=1024)   # pure; calibration runs repeat it
def detectable_noncentrality(false_alarm=FALSE_ALARM, power=POWER, batches=BATCHES):
    """The noncentrality delta = shift sqrt(n) / sd that the batch-means t test detects with
    probability ``power`` (exact for normal batch means: noncentral t(B - 1, delta))."""
    threshold = t_threshold(false_alarm, batches)
    normal_guess = threshold + stats.norm.ppf(power)
    try:
        if threshold > _T_MAX:    # scipy's series take minutes out there (4e8: 330 s)
            raise ValueError
        # scipy's noncentral t fails this far out (levels ~1e-50 with 8 batches): a value
        # error, or a warning that its series did not converge -- both refused, not trusted
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RuntimeWarning)
            value = float(optimize.brentq(lambda nc: _t_power(nc, threshold, batches) - power,
                                          0.5 * normal_guess, 4 * normal_guess + 10,
                                          xtol=1e-10))
        if any(issubclass(w.category, RuntimeWarning) for w in caught):
            raise ValueError
        return value
    except ValueError:
        raise ValueError(f"false_alarm={false_alarm:.3g} with batches={batches}: the t "
                         f"threshold {threshold:.3g} is out of reach of the noncentral t law; "
                         f"use more batches or a larger false_alarm") from None


@functools.lru_cache(maxsize=1024)   # pure; calibration runs repeat it
def ks_threshold(samples, false_alarm):
    """sqrt(n) D_n above this rejects (exact law of D_n, level ``false_alarm``)."""
    law = stats.kstwo(samples)
    try:
        distance = float(law.isf(false_alarm))
    except ValueError:      # scipy's root finder meets nan far in the tail
        distance = math.nan
    if not (0 < distance <= 1 and abs(math.log(max(float(law.sf(distance)), 1e-320)
                                               / false_alarm)) < 1e-3):
        # scipy's isf fails below ~1e-20 (it returns 1 - 1/n): exactly, P(D_n >= x) =
        # 2 (1 - x)^n for x >= 1 - 1/n; else the Dvoretzky-Kiefer-Wolfowitz-Massart bound
        # P(D_n > x) <= 2 exp(-2 n x^2), a conservative threshold
        extreme = -math.expm1(math.log(false_alarm / 2) / samples)
        dkw = math.sqrt(math.log(2 / false_alarm) / (2 * samples))
        distance = extreme if extreme >= 1 - 1 / samples else min(dkw, 1.0)
    return distance * math.sqrt(samples)


def ks_detectable_distance(samples, false_alarm=FALSE_ALARM, power=POWER):
    """A true sup-distance sup |G - F| at least this is detected with probability >= power:
    at the point r* of the largest distance D_n >= D - |F_n(r*) - G(r*)|, and F_n(r*) is a
    binomial mean with standard deviation <= 1 / (2 sqrt n)."""
    return (ks_threshold(samples, false_alarm) + stats.norm.ppf(power) / 2) / math.sqrt(samples)


def _positive(value, name):
    return _validate.real_scalar(value, name, 0.0, low_open=True)


def min_samples(discrepancy, cv=None, *, false_alarm=FALSE_ALARM, power=POWER,
                batches=BATCHES, skewness=0.0):
    r"""The number of samples a test needs to detect ``discrepancy`` with probability ``power``.

    Parameters
    ----------
    discrepancy : float
        For a mean test (``cv`` given), the relative error of the mean, |mu - expected| /
        |expected| > 0; for a law test (``cv`` omitted), the sup-distance between the true
        and the predicted CDF, in (0, 1).
    cv : float, optional
        The coefficient of variation of one sample, sd / |mean| > 0 (for
        :func:`assert_moment_preserved` see :func:`moment_spread`).
    false_alarm : float, default 1e-6
        The probability that a correct formula fails, in [1e-300, 0.5].
    power : float, default 0.99
        The probability of detecting ``discrepancy``, in [0.5, 1 - 1e-12].
    batches : int, default 64
        B, the number of batch means of a mean test, in [8, 4096].
    skewness : float, default 0
        The skewness of one sample, when known: the batches must then hold at least
        ``(skewness / MAX_BATCH_SKEWNESS)**2`` samples each for the test to keep its level.

    Returns
    -------
    int
        n, a multiple of ``batches`` for a mean test.

    Notes
    -----
    Mean test: :math:`n = \lceil (\delta\,\mathrm{cv} / \mathrm{discrepancy})^2 \rceil`
    with :math:`\delta` the noncentrality at which noncentral :math:`t_{B-1}` exceeds the
    two-sided threshold with probability ``power`` (:func:`detectable_noncentrality`).
    Law test: the smallest n with ``ks_detectable_distance(n) <= discrepancy``.

    Examples
    --------
    A 1% error of a mean whose samples have cv 0.8, at the default false-alarm rate 1e-6:

    >>> from initmath.testing import min_samples, min_discrepancy
    >>> n = min_samples(0.01, cv=0.8)
    >>> n % 64 == 0 and min_discrepancy(n, cv=0.8) <= 0.01 < min_discrepancy(n - 64, cv=0.8)
    True
    """
    false_alarm, power = check_level(false_alarm), check_power(power)
    discrepancy = _positive(discrepancy, "discrepancy")
    if cv is None:
        if discrepancy >= 1:
            raise ValueError(f"discrepancy (a sup-distance of CDFs) must be in (0, 1), "
                             f"got {discrepancy!r}")
        # sqrt(n) D detectable grows slowly with n: start from the asymptotic count.
        root = float(stats.kstwobign.isf(false_alarm) + stats.norm.ppf(power) / 2) / discrepancy
        guess = root * root
        if not guess < 2 ** 53:
            raise ValueError(f"discrepancy={discrepancy!r}: a law test would need more than "
                             f"2**53 samples")
        low, n = 1, max(2, int(guess * 0.9))       # low fails (or is 1), n to be found
        while ks_detectable_distance(n, false_alarm, power) > discrepancy:
            low, n = n, int(n * 1.02) + 1
        while n - low > 1:                         # the smallest: bisect (low, n]
            middle = (low + n) // 2
            if middle >= 2 and ks_detectable_distance(middle, false_alarm, power) \
                    <= discrepancy:
                n = middle
            else:
                low = middle
        return n
    cv, batches = _positive(cv, "cv"), check_batches(batches)
    if isinstance(skewness, bool) or not isinstance(skewness, (int, float, np.integer,
                                                               np.floating)) \
            or math.isnan(skewness):
        raise ValueError(f"skewness must be a real number, got {skewness!r}")
    skewness = abs(float(skewness))
    ratio = detectable_noncentrality(false_alarm, power, batches) * cv / discrepancy
    need = ratio * ratio                           # inf, not OverflowError, if huge
    excess = skewness / MAX_BATCH_SKEWNESS
    per_batch = max(2.0, need / batches, excess * excess)
    if not per_batch < 2 ** 53 / batches:
        raise ValueError(f"no feasible sample count: discrepancy = {discrepancy:.3g}, cv = "
                         f"{cv:.3g} and skewness = {skewness:.3g} need "
                         f"{per_batch * batches:.3g} samples")
    return int(math.ceil(per_batch)) * batches


def min_discrepancy(samples, cv=None, *, false_alarm=FALSE_ALARM, power=POWER,
                    batches=BATCHES):
    r"""The smallest discrepancy a test with ``samples`` samples detects with probability
    ``power``: a relative error of the mean (``cv`` given) or a sup-distance of CDFs.

    Parameters
    ----------
    samples : int
        n, >= 2.
    cv, false_alarm, power, batches
        As for :func:`min_samples`.

    Returns
    -------
    float
        :math:`\delta\,\mathrm{cv}/\sqrt n` for a mean test, the KS detectable distance
        for a law test.

    Examples
    --------
    The inverse of :func:`min_samples`:

    >>> from initmath.testing import min_discrepancy, min_samples
    >>> n = min_samples(0.02)                             # a law test
    >>> min_discrepancy(n) <= 0.02 < min_discrepancy(n - 100)
    True
    """
    false_alarm, power = check_level(false_alarm), check_power(power)
    if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) \
            or not 2 <= samples <= 2 ** 53:
        raise ValueError(f"samples must be an integer in [2, 2**53], got {samples!r}")
    if cv is None:
        return float(ks_detectable_distance(int(samples), false_alarm, power))
    cv, batches = _positive(cv, "cv"), check_batches(batches)
    return detectable_noncentrality(false_alarm, power, batches) * cv / math.sqrt(samples)


def holm(p_values, false_alarm=FALSE_ALARM):
    """Holm's step-down procedure: which of m hypotheses to reject.

    The smallest p-value is compared with false_alarm / m, the next with
    false_alarm / (m - 1), ..., stopping at the first that passes; the family-wise
    false-alarm rate is at most ``false_alarm`` under any dependence between the tests,
    and every hypothesis Bonferroni (false_alarm / m each) rejects is rejected.

    Parameters
    ----------
    p_values : array_like
        The m p-values.
    false_alarm : float, default 1e-6
        The family-wise rate.

    Returns
    -------
    ndarray of bool
        True where the hypothesis is rejected.

    Examples
    --------
    >>> from initmath.testing import holm
    >>> holm([1e-9, 0.3, 6e-7], 1e-6).tolist()    # 6e-7 > 1e-6 / 2: stop there
    [True, False, False]
    >>> holm([1e-9, 0.3, 6e-7], 1e-5).tolist()
    [True, False, True]
    """
    false_alarm = check_level(false_alarm)
    try:
        p = np.asarray(p_values, dtype=np.float64).ravel()
    except (TypeError, ValueError, OverflowError):
        p = None
    if p is None or isinstance(p_values, (str, bytes)) or not ((p >= 0) & (p <= 1)).all():
        raise ValueError(f"p_values must be probabilities in [0, 1], got {p_values!r}")
    order = np.argsort(p, kind="stable")
    limits = false_alarm / (p.size - np.arange(p.size))
    passed_first = np.flatnonzero(p[order] > limits)
    stop = passed_first[0] if passed_first.size else p.size
    rejected = np.zeros(p.size, dtype=bool)
    rejected[order[:stop]] = True
    return rejected


@dataclasses.dataclass(frozen=True)
class TestResult:
    """One statistical comparison of a simulation with a prediction.

    statistic: "mean" (batch-means t test) or "law" (Kolmogorov-Smirnov); expected: the
    predicted mean (0 for a law: the predicted distance); estimate: the simulated mean (the
    KS distance D_n for a law); standard_error; z: (estimate - expected) / standard_error
    (sqrt(n) D_n for a law); threshold: |z| above it rejects at level ``false_alarm``;
    p_value; passed: the verdict (p_value >= false_alarm, or Holm's for a family); samples;
    detectable: the smallest relative error of the mean (sup-distance of
    CDFs for a law) detected with probability ``power``; batch_skewness: the sample
    skewness of one sample over sqrt(batch size) (a mean test's diagnostic; nan for a law).
    """
    __test__ = False  # not a pytest test class, despite the name

    statistic: str
    expected: float
    estimate: float
    standard_error: float
    z: float
    threshold: float
    p_value: float
    false_alarm: float
    power: float
    samples: int
    detectable: float
    batch_skewness: float
    passed: bool


def _as_float_array(values, name):
    array = np.asarray(values, dtype=np.float64)
    if not np.isfinite(array).all():
        bad = np.flatnonzero(~np.isfinite(array.ravel()))
        raise ValueError(f"{name}: {bad.size} non-finite value(s), first "
                         f"{array.ravel()[bad[0]]!r} at index {bad[0]}")
    return array


def batch_t(means, expected):
    """(estimate, standard error, t) of the batch means along the last axis (any leading
    axes: replicates); t = +-inf when the batch means have no spread but miss ``expected``,
    0 when they hit it."""
    means = np.asarray(means, dtype=np.float64)
    estimate = means.mean(axis=-1)
    standard_error = means.std(axis=-1, ddof=1) / math.sqrt(means.shape[-1])
    shift = estimate - expected
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(standard_error > 0, shift / standard_error,
                     np.where(shift == 0, 0.0, np.copysign(np.inf, shift)))
    return estimate, standard_error, z


def mean_test(values, expected, *, false_alarm=FALSE_ALARM, power=POWER, batches=BATCHES):
    """The batch-means t test of E[values] == expected (values: n samples, n a multiple of
    ``batches``, at least 2 per batch)."""
    values = _as_float_array(values, "values").ravel()
    if values.size % batches or values.size < 2 * batches:
        raise ValueError(f"values: need a multiple of batches = {batches} samples, at least "
                         f"{2 * batches}, got {values.size}")
    estimate, standard_error, z = (float(x) for x in batch_t(
        values.reshape(batches, -1).mean(axis=1), expected))
    p_value = float(2 * stats.t(batches - 1).sf(abs(z)))
    scale = abs(expected) if expected != 0 else 1.0
    detectable = detectable_noncentrality(false_alarm, power, batches) * standard_error / scale
    spread = values.std()
    skewness = float(np.mean(((values - values.mean()) / spread) ** 3)) if spread > 0 else 0.0
    return TestResult("mean", float(expected), estimate, standard_error, z,
                      t_threshold(false_alarm, batches), p_value, false_alarm, power,
                      int(values.size), float(detectable),
                      skewness / math.sqrt(values.size / batches), p_value >= false_alarm)


def ks_distance(upper, lower=None):
    """D_n = sup |F_n - F| from the predicted CDF at the sorted samples (``upper``) and its
    left limits there (``lower``; the same array when the law has no atoms)."""
    n = len(upper)
    lower = upper if lower is None else lower
    ranks = np.arange(1, n + 1, dtype=np.float64)
    return float(max(np.max(ranks / n - upper), np.max(lower - (ranks - 1) / n), 0.0))


def law_test(values, cdf, *, cdf_left=None, false_alarm=FALSE_ALARM, power=POWER):
    """The Kolmogorov-Smirnov test that ``values`` are draws from the law with CDF ``cdf``.

    cdf, cdf_left: vectorized functions of a float64 array; cdf_left(x) = P(X < x), the
    left limit, differs from cdf only at atoms (default: no atoms).
    """
    values = np.sort(_as_float_array(values, "values").ravel())
    n = values.size
    if n < 2:
        raise ValueError(f"values: a law test needs at least 2 samples, got {n}")
    upper = _as_float_array(cdf(values), "cdf(values)")
    lower = upper if cdf_left is None else _as_float_array(cdf_left(values), "cdf_left(values)")
    distance = ks_distance(upper, lower)
    p_value = float(stats.kstwo(n).sf(distance))
    return TestResult("law", 0.0, distance, 1 / math.sqrt(n), math.sqrt(n) * distance,
                      ks_threshold(n, false_alarm), p_value, false_alarm, power, n,
                      float(ks_detectable_distance(n, false_alarm, power)), math.nan,
                      p_value >= false_alarm)

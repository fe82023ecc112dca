"""How often the tests of :mod:`initmath.testing` fail correct code, and catch wrong code.

The assertions see only samples, so their error rates can be measured without torch, from
exact samplers of the same statistics: for layers :math:`\\max(h, a h)` with Gaussian
weights, :math:`\\lVert\\phi_a(\\sigma r g)\\rVert^2 = \\sigma^2 r^2 (\\chi^2_K + a^2
\\chi^2_{d-K})`, :math:`K \\sim \\mathrm{Bin}(d, 1/2)`, independently layer after layer.
At s = 2 a whole batch mean is one such chi-square mixture, so millions of replicates of
:func:`~initmath.testing.assert_moment_preserved`'s test cost seconds.  Each rate comes
with its exact (Clopper-Pearson) confidence interval.

>>> from initmath.testing.calibration import moment_test_rate
>>> rate = moment_test_rate(2.0, 8, false_alarm=1e-2, replicates=20_000)
>>> bool(rate.lower <= 1e-2 <= rate.upper)          # the stated false-alarm rate holds
True
"""
import dataclasses

import numpy as np
from scipy import stats

from .. import _validate
from ..activations import activation
from ..critical_variance import critical_sigma
from ._statistics import BATCHES, POWER, batch_t, check_level, law_test, min_samples, t_threshold
from .assertions import _last_layer_cdfs, moment_test_size

__all__ = ["CONFIDENCE", "Rate", "chain_norms", "family_rate", "law_test_rate",
           "moment_batch_means", "moment_statistic", "moment_test_rate"]

CONFIDENCE = 0.999
_MAX_DRAWS = 2 * 10 ** 8        # per call: about 10-20 s of numpy on one core
_CHUNK = 2 ** 16                # replicates at a time


@dataclasses.dataclass(frozen=True)
class Rate:
    """``rejections`` of ``trials`` tests; ``rate`` their ratio and (``lower``, ``upper``)
    its exact two-sided confidence interval at level CONFIDENCE; ``samples`` the sample
    count of each test; ``level`` the false-alarm rate each test was run at."""
    rejections: int
    trials: int
    rate: float
    lower: float
    upper: float
    samples: int
    level: float


def _rate(rejections, trials, samples, level):
    interval = stats.binomtest(int(rejections), int(trials)).proportion_ci(
        confidence_level=CONFIDENCE, method="exact")
    return Rate(int(rejections), int(trials), float(rejections / trials), float(interval.low),
                float(interval.high), int(samples), level)


def _squared_norms(rng, shape, d, slope):
    """chi^2_K + a^2 chi^2_(d-K), K ~ Bin(d, 1/2): ||phi_a(g)||^2 for g ~ N(0, I_d)."""
    positive = rng.binomial(d, 0.5, size=shape)
    return rng.gamma(positive / 2, 2.0) + slope * slope * rng.gamma((d - positive) / 2, 2.0)


def _layer(s, width, slope, sigma_ratio):
    """(d_0, d_1, weight std) of the simulated layer: width d or (d_0, d_1), the std
    sigma_ratio times the critical one."""
    d0, d1 = (width, width) if np.ndim(width) == 0 else width
    return d0, d1, sigma_ratio * float(critical_sigma(s, d1, slope))


def moment_statistic(rng, size, s, width, slope=0.0, sigma_ratio=1.0):
    """Exact draws of the per-network statistic of :func:`assert_moment_preserved`, depth 1.

    Parameters
    ----------
    rng : numpy.random.Generator
    size : int
        The number of networks.
    s : float
        The moment, > 0.
    width : int or (int, int)
        d, or (d_0, d_1): input and layer widths.
    slope : float, default 0
        a in [0, 1] of max(h, a h).
    sigma_ratio : float, default 1
        The weight std over the critical one (1: correct code).

    Returns
    -------
    ndarray
        (size,): the mean over the d_0 unit inputs of ||x_1||^s.

    Examples
    --------
    >>> import numpy as np
    >>> x = moment_statistic(np.random.default_rng(0), 100_000, 1.0, 8)
    >>> bool(abs(x.mean() - 1) < 5 * x.std() / np.sqrt(x.size))
    True
    """
    d0, d1, sigma = _layer(s, width, slope, sigma_ratio)
    norms = sigma * sigma * _squared_norms(rng, (size, d0), d1, slope)
    return (norms ** (s / 2)).mean(axis=1)


def moment_batch_means(rng, replicates, batches, per_batch, width, slope=0.0,
                       sigma_ratio=1.0):
    """Exact batch means of the s = 2 statistic of :func:`assert_moment_preserved`.

    A batch sum of chi-square mixtures is one chi-square mixture, so a batch of any size
    costs three draws.

    Parameters
    ----------
    rng : numpy.random.Generator
    replicates, batches, per_batch : int
        The tests, the batch means per test, the networks per batch.
    width, slope, sigma_ratio
        As for :func:`moment_statistic`.

    Returns
    -------
    ndarray
        (replicates, batches).

    Examples
    --------
    >>> import numpy as np
    >>> means = moment_batch_means(np.random.default_rng(0), 1000, 64, 100, 8)
    >>> bool(abs(means.mean() - 1) < 1e-3)
    True
    """
    d0, d1, sigma = _layer(2.0, width, slope, sigma_ratio)
    norms = _squared_norms(rng, (replicates, batches), per_batch * d0 * d1, slope)
    return sigma * sigma * norms / (per_batch * d0)


def moment_test_rate(s, width, slope=0.0, *, sigma_ratio=1.0, false_alarm=1e-3,
                     discrepancy=0.01, power=POWER, batches=BATCHES, networks=None,
                     replicates=10_000, seed=0):
    """The rejection rate of :func:`assert_moment_preserved`'s test at depth 1, measured.

    Each replicate is one call's test, on networks whose weight std is ``sigma_ratio``
    times the critical one (1: correct code, so the rate is the false-alarm rate; else the
    power against that error), with the call's sample count for ``discrepancy`` (or
    ``networks``, to measure what happens below the skewness guard).  s = 2 uses exact
    batch means (any number of replicates); other s draw every network.

    Parameters
    ----------
    s, width, slope, sigma_ratio
        As for :func:`moment_statistic`.
    false_alarm, discrepancy, power, batches
        The test's, as for :func:`assert_moment_preserved`.
    networks : int, optional
        The networks per test instead of the call's count.
    replicates : int, default 10,000
        The number of tests.
    seed : int, default 0

    Returns
    -------
    Rate

    Examples
    --------
    Sigma 1% too small, at a per-call level 1e-8: caught with probability 0.99 or more.

    >>> rate = moment_test_rate(2.0, 64, sigma_ratio=0.99, false_alarm=1e-8, replicates=2000)
    >>> rate.rate >= 0.98
    True
    """
    level = check_level(false_alarm)
    s = _validate.real_scalar(s, "s", 0.0, 100.0, low_open=True)
    widths = (width, width) if np.ndim(width) == 0 else tuple(width)
    need = moment_test_size(s, widths, slope, discrepancy, level, power, batches)[0] \
        if networks is None else -(-networks // batches) * batches
    rng = np.random.default_rng(seed)
    if s != 2 and replicates * need * widths[0] > _MAX_DRAWS:
        raise ValueError(f"replicates: {replicates} tests of {need:,} networks need more "
                         f"than {_MAX_DRAWS:.0e} draws; use fewer replicates or s = 2")
    threshold = t_threshold(level, batches)
    rejections = 0
    for start in range(0, replicates, _CHUNK):      # bounded memory at any replicates
        size = min(_CHUNK, replicates - start)
        if s == 2:
            means = moment_batch_means(rng, size, batches, need // batches, widths, slope,
                                       sigma_ratio)
        else:
            means = np.stack([moment_statistic(rng, need, s, widths, slope, sigma_ratio)
                              .reshape(batches, -1).mean(axis=1) for _ in range(size)])
        rejections += int(np.sum(np.abs(batch_t(means, 1.0)[2]) > threshold))
    return _rate(rejections, replicates, need, level)


def chain_norms(rng, size, width, depth, sigma, slope=0.0):
    """Exact draws of the norm ||x_L|| of networks of layers max(h, a h), ||x_0|| = 1.

    Given ||x_(l-1)||, the layer's factor ||x_l|| / ||x_(l-1)|| has the law of
    ||phi_a(sigma g)||, g ~ N(0, I_d), whatever x_(l-1): ||x_L|| is a product of L
    independent factors (0 once a layer kills every unit).

    Parameters
    ----------
    rng : numpy.random.Generator
    size, width, depth : int
        The networks, their width d and depth L.
    sigma : float
        The weight std.
    slope : float, default 0

    Returns
    -------
    ndarray
        (size,).

    Examples
    --------
    >>> import numpy as np
    >>> r = chain_norms(np.random.default_rng(0), 200_000, 4, 3, 0.5 ** 0.5)
    >>> bool(abs(np.mean(r * r) - 1) < 0.02)        # sigma^2 = 2 / d keeps E r^2
    True
    """
    log_norm = np.zeros(size)
    for _ in range(depth):
        with np.errstate(divide="ignore"):
            log_norm += 0.5 * np.log(sigma * sigma * _squared_norms(rng, size, width, slope))
    return np.exp(log_norm)


def law_test_rate(width, depth, sigma, slope=0.0, *, sigma_ratio=1.0, false_alarm=1e-2,
                  discrepancy=0.05, samples=None, replicates=1000, seed=0):
    """The rejection rate of :func:`assert_layer_law`'s test, measured.

    Each replicate is a Kolmogorov-Smirnov test against
    :func:`initmath.finite_depth.depth_law` at ``sigma`` of exact draws
    (:func:`chain_norms`) of networks whose weight std is ``sigma_ratio * sigma``.

    Parameters
    ----------
    width, depth : int
    sigma : float
        The weight std of the predicted law.
    slope : float, default 0
    sigma_ratio : float, default 1
        The simulated std over ``sigma`` (1: correct code).
    false_alarm, discrepancy : float
        The test's level and the sup-distance its sample count is sized for.
    samples : int, optional
        The networks per test instead.
    replicates, seed : int

    Returns
    -------
    Rate

    Examples
    --------
    >>> rate = law_test_rate(4, 3, 0.7, false_alarm=0.05, samples=500, replicates=100)
    >>> rate.lower <= 0.05 <= rate.upper
    True
    """
    from ..finite_depth import depth_law
    level = check_level(false_alarm)
    law = depth_law(depth, width, activation("leakyrelu", negative_slope=slope), sigma)
    n = min_samples(discrepancy, false_alarm=level) if samples is None else samples
    rng = np.random.default_rng(seed)
    cdf, cdf_left = _last_layer_cdfs(law)
    rejected = sum(not law_test(chain_norms(rng, n, width, depth, sigma_ratio * sigma, slope),
                                cdf, cdf_left=cdf_left, false_alarm=level).passed
                   for _ in range(replicates))
    return _rate(rejected, replicates, n, level)


def family_rate(configs, runs, *, total=1e-6, seed=0, discrepancy=0.01):
    """The family-wise false-alarm rate of a property test, measured.

    ``runs`` runs of a test that makes one s = 2 moment assertion per example config, each
    at its share of the budget ``total`` (:class:`~initmath.testing.FalseAlarmBudget`), on
    correct code; a run fails when any of its assertions does.

    Parameters
    ----------
    configs : sequence of (width, slope)
        One per hypothesis example.
    runs : int
    total : float, default 1e-6
        The test's family-wise false-alarm budget.
    seed : int, default 0
    discrepancy : float, default 0.01

    Returns
    -------
    (Rate, int)
        The rate of failed runs, and the false alarms over all assertions.

    Examples
    --------
    >>> rate, alarms = family_rate([(8, 0.0)] * 10, 1000, total=0.1)
    >>> rate.lower <= 0.1 <= rate.upper
    True
    """
    from ._budget import FalseAlarmBudget
    budget = FalseAlarmBudget(total, calls=len(configs))
    rng = np.random.default_rng(seed)
    failed = np.zeros(runs, dtype=bool)
    alarms = 0
    for index, (width, slope) in enumerate(configs):
        level = budget.share(index)
        need = moment_test_size(2.0, (width, width), slope, discrepancy, level)[0]
        for start in range(0, runs, _CHUNK):
            size = min(_CHUNK, runs - start)
            means = moment_batch_means(rng, size, BATCHES, need // BATCHES, width, slope)
            rejected = np.abs(batch_t(means, 1.0)[2]) > t_threshold(level, BATCHES)
            alarms += int(rejected.sum())
            failed[start:start + size] |= rejected
    return _rate(failed.sum(), runs, 0, total), alarms

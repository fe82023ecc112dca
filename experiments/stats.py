r"""Statistics over seeds: the seed (one full training run) is the unit of replication.

* :func:`t_interval`: mean and t-based 95% confidence interval,
  :math:`\bar x \pm t_{n-1, 0.975}\, s/\sqrt n`.
* :func:`paired`: the paired difference of two schemes run on the same seeds (same data
  order, same normal draws), its paired-t interval and two-sided p-value.
* :func:`holm`: Holm's step-down adjustment of several p-values (family-wise error rate).
* :func:`bootstrap_interval`: percentile bootstrap over seeds of any statistic of the seeds.

A non-finite value (a diverged run) makes the mean and interval NaN: a diverged run is not
silently dropped; the tables report the number of diverged runs next to them.
"""
from typing import NamedTuple

import numpy as np
from scipy import stats

__all__ = ["LEVEL", "Interval", "bootstrap_interval", "holm", "paired", "t_interval"]

LEVEL = 0.95


class Interval(NamedTuple):
    """An estimate with its confidence interval (and a p-value where one applies)."""
    estimate: float
    low: float
    high: float
    p_value: float = float("nan")


def t_interval(values, level=LEVEL):
    """Mean over seeds with its t-based confidence interval.

    Examples
    --------
    >>> from scipy import stats
    >>> ci = t_interval([1.0, 2.0, 3.0])
    >>> bool(abs(ci.high - 2 - stats.t.ppf(0.975, 2) / 3 ** 0.5) < 1e-12)
    True
    """
    x = np.asarray(values, dtype=float)
    if len(x) < 2 or not np.isfinite(x).all():
        return Interval(float(np.mean(x)) if np.isfinite(x).all() else float("nan"),
                        float("nan"), float("nan"))
    mean, sem = float(x.mean()), float(stats.sem(x))
    if sem == 0:
        return Interval(mean, mean, mean)
    low, high = stats.t.interval(level, len(x) - 1, loc=mean, scale=sem)
    return Interval(mean, float(low), float(high))


def paired(a, b, level=LEVEL):
    """Mean of ``a - b`` over seeds (pairs), its paired-t interval and two-sided p-value.

    Examples
    --------
    >>> d = paired([1.0, 2.0, 4.0], [0.0, 1.5, 2.0])
    >>> d.estimate == t_interval([1.0, 0.5, 2.0]).estimate
    True
    """
    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    ci = t_interval(diff, level)
    if np.isnan(ci.low) or ci.low == ci.high:
        return ci
    return ci._replace(p_value=float(stats.ttest_1samp(diff, 0.0).pvalue))


def holm(p_values):
    """Holm's step-down adjusted p-values (same order as given; NaN stays NaN).

    The k-th smallest of m p-values is multiplied by m - k + 1, then made monotone; an
    adjusted p below alpha controls the family-wise error rate at alpha.

    Examples
    --------
    >>> [round(p, 3) for p in holm([0.01, 0.04, 0.03])]
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(p_values, dtype=float)
    finite = np.flatnonzero(np.isfinite(p))
    order = finite[np.argsort(p[finite])]
    m = len(order)
    stepped = np.maximum.accumulate(p[order] * (m - np.arange(m)))
    adjusted = np.full_like(p, np.nan)
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted.tolist()


def bootstrap_interval(n_seeds, statistic, *, seed, resamples=2000, level=LEVEL):
    """Percentile bootstrap over seeds: resample the seed indices with replacement.

    Parameters
    ----------
    n_seeds : int
    statistic : callable
        ``statistic(indices)`` -> float, computed from the runs of those seed indices (a
        seed may repeat); NaN where it is undefined for a resample.
    seed : int
        Seed of the resampling.

    Returns
    -------
    Interval
        The statistic on all seeds, and the interval; NaN when more than 1 - level of the
        resamples give NaN (the interval would then hide where the statistic is undefined).

    Examples
    --------
    >>> x = np.arange(10.0)
    >>> ci = bootstrap_interval(10, lambda i: x[i].mean(), seed=0)
    >>> bool(ci.low < 4.5 < ci.high) and ci.estimate == 4.5
    True
    """
    rng = np.random.default_rng(seed)
    draws = np.array([statistic(rng.integers(0, n_seeds, n_seeds)) for _ in range(resamples)])
    estimate = float(statistic(np.arange(n_seeds)))
    if np.isnan(draws).mean() > 1 - level:
        return Interval(estimate, float("nan"), float("nan"))
    tail = (1 - level) / 2 * 100
    low, high = np.nanpercentile(draws, [tail, 100 - tail])
    return Interval(estimate, float(low), float(high))

"""Checks as data, and the statistics that turn a simulation into a verdict.

A :class:`Check` says what is simulated (``simulate``: a function of a torch generator, a
sample count and a device returning one statistic per sample), what initmath predicts
for the statistic's mean (``theory``), the sample budget and the tolerance rule.  A run
splits the budget into ``CHUNKS`` chunks; chunk j draws from its own generator seeded by
(seed, check name, j), so a report is reproducible bit-for-bit on the same device and the
chunks can be spread over processes (:mod:`verification.distributed`) without changing a
single sample.  Each chunk is reduced to (count, sum, sum of squares) of the statistic
minus the theory value, in float64; the chunks are combined in chunk order.

Tolerance rules
---------------
``"iid"``: the samples are iid with light tails (one-layer factors, whose moments of all
orders are finite and modest); the standard error is the sample standard deviation over
sqrt(n) and z is referred to the normal law.

``"batch-means"``: products over many layers have tails whose higher moments grow
exponentially with depth, so the sample variance converges slowly and a z built from it
is not trustworthy.  The mean of each chunk is itself an average of many samples; with
``CHUNKS`` chunk means the t statistic with CHUNKS - 1 degrees of freedom is valid as soon
as the chunk means are near normal, whatever the tails of single samples.

``"ks"`` (:class:`DistributionCheck`): a whole law rather than a mean.  All samples of all
chunks are compared with the predicted continuous CDF by the one-sample
Kolmogorov-Smirnov statistic D_n = sup |F_n - F|, referred to its exact law under the
null (scipy.stats.kstwo), rejected when p < ``ALPHA``; the power is the sup-distance
detected with probability ``POWER``, (critical value + z_POWER / 2) / sqrt(n), and the
``sensitivity`` max |dF/d log sigma| turns it into an error of sigma.

For the mean rules the decision threshold is the two-sided quantile for ``ALPHA`` =
1e-4, so a correct formula fails a check with probability below 1e-4.  The power is reported as
the smallest relative error of the theory value that the check detects with probability
``POWER`` = 0.99 at the realised standard error, and converted to a relative error of
sigma through the check's ``sensitivity`` (d log statistic / d log sigma, e.g. s for one
layer, s k for k layers).
"""
import dataclasses
import hashlib
import math
import time
from collections.abc import Callable

import numpy as np
import torch
from scipy import stats

from initmath.testing import _statistics

ALPHA = 1e-4
POWER = 0.99
CHUNKS = 32
RULES = ("iid", "batch-means")


@dataclasses.dataclass(frozen=True)
class Check:
    """One statistical check of one formula.

    name: unique, also the seed label; area: theory area (module name); params: what a
    reader needs to know (shown in the report); simulate(generator, n) -> float64
    tensor of n per-sample statistics; theory: the predicted mean; samples: default
    budget (quick runs use ``quick_samples``); rule: "iid" or "batch-means";
    sensitivity: d log(mean) / d log(sigma), to express the power as an error of sigma;
    negative_control: True when ``theory`` is a deliberately wrong formula that the check
    must reject.
    """
    name: str
    area: str
    params: dict
    simulate: Callable
    theory: float
    samples: int
    quick_samples: int
    rule: str = "iid"
    sensitivity: float = 1.0
    negative_control: bool = False

    def __post_init__(self):
        if self.rule not in RULES:
            raise ValueError(f"rule must be one of {RULES}, got {self.rule!r}")
        # The power is stated relative to the theory value, which must not be 0.
        if not (math.isfinite(self.theory) and self.theory != 0 and self.samples >= CHUNKS * 2
                and self.quick_samples >= CHUNKS * 2):
            raise ValueError(f"check {self.name}: theory must be finite and nonzero and "
                             f"budgets >= "
                             f"{2 * CHUNKS}, got {self.theory!r}, {self.samples}, "
                             f"{self.quick_samples}")


@dataclasses.dataclass
class Result:
    """The outcome of one check (a row of the report)."""
    name: str
    area: str
    params: dict
    theory: float
    estimate: float
    standard_error: float
    z: float
    p_value: float
    threshold: float
    passed: bool
    negative_control: bool
    verdict: str
    samples: int
    seconds: float
    device: str
    rule: str
    min_detectable_rel_error: float
    min_detectable_sigma_rel_error: float


def sampling_law(rule):
    """The law of the z statistic under a correct formula."""
    return stats.norm if rule == "iid" else stats.t(CHUNKS - 1)


def resolution(rule):
    """(threshold + power quantile): a mean error of this many standard errors is
    detected with probability POWER."""
    law = sampling_law(rule)
    return float(law.ppf(1 - ALPHA / 2) + law.ppf(POWER))


def samples_for(sd, target, rule="iid", minimum=2 * CHUNKS):
    """The budget rule shared by all areas: the sample count (a multiple of CHUNKS, at
    least ``minimum``) at which an error ``target`` of a mean whose per-sample standard
    deviation is ``sd`` is detected with probability POWER."""
    need = (resolution(rule) * sd / target) ** 2
    return max(minimum, 2 * CHUNKS, int(math.ceil(need / CHUNKS)) * CHUNKS)


def quick_samples(samples, entries_per_sample, entries, minimum=2 * CHUNKS):
    """The --quick budget: what ``entries`` random weight entries afford, at least
    ``minimum`` (batch means need enough samples per chunk) and at most ``samples``."""
    affordable = int(entries // entries_per_sample) // CHUNKS * CHUNKS
    return min(samples, max(minimum, affordable))


def chunk_seed(seed, name, chunk):
    """A 63-bit seed for one chunk of one check: independent of everything else."""
    digest = hashlib.sha256(f"{seed}/{name}/{chunk}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def chunk_sizes(samples):
    """Split a budget into CHUNKS nearly equal chunk sizes."""
    base, extra = divmod(samples, CHUNKS)
    return [base + (j < extra) for j in range(CHUNKS)]


def _generator(seed, check, chunk, device):
    """The chunk's own generator: the same draws whichever process computes the chunk."""
    generator = torch.Generator(device=device)
    generator.manual_seed(chunk_seed(seed, check.name, chunk))
    return generator


def _verdict_text(passed, negative_control):
    if negative_control:
        return "rejected (as it must be)" if not passed else "NOT REJECTED (control failed)"
    return "pass" if passed else "FAIL"


def _chunk_table(check, quick, chunks, reduce, width, row):
    """The (CHUNKS, width) table of per-chunk rows (width a function of the chunk
    sizes), this process's chunks filled by row(j, size, width), then combined over
    processes by ``reduce``."""
    sizes = chunk_sizes(check.quick_samples if quick else check.samples)
    columns = width(sizes)
    table = np.zeros((CHUNKS, columns))
    for j in (range(CHUNKS) if chunks is None else chunks):
        table[j] = row(j, sizes[j], columns)
    return table if reduce is None else reduce(table)


def run_chunk(check, chunk, size, seed, device):
    """(count, sum, sum of squares) of the statistic minus theory for one chunk."""
    generator = _generator(seed, check, chunk, device)
    values = check.simulate(generator, size).to(torch.float64) - check.theory
    if not torch.isfinite(values).all():
        raise FloatingPointError(f"check {check.name}: non-finite statistic in chunk {chunk}")
    return [float(values.numel()), float(values.sum()), float((values * values).sum())]


def verdict(check, chunk_stats, seconds, device):
    """The Result of a check from its per-chunk (count, sum, sum of squares), in order."""
    table = np.asarray(chunk_stats, dtype=np.float64)
    counts, sums, squares = table[:, 0], table[:, 1], table[:, 2]
    n = counts.sum()
    shift = sums.sum() / n                                    # estimate - theory
    if check.rule == "iid":
        variance = (squares.sum() - n * shift * shift) / (n - 1)
        standard_error = math.sqrt(max(variance, 0.0) / n)
    else:
        means = sums / counts
        standard_error = float(np.std(means, ddof=1)) / math.sqrt(len(means))
    law = sampling_law(check.rule)
    threshold = float(law.ppf(1 - ALPHA / 2))
    z = shift / standard_error if standard_error > 0 else math.copysign(math.inf, shift)
    p_value = float(2 * law.sf(abs(z)))
    passed = abs(z) <= threshold
    detectable = resolution(check.rule) * standard_error / abs(check.theory)
    text = _verdict_text(passed, check.negative_control)
    return Result(
        name=check.name, area=check.area, params=dict(check.params), theory=check.theory,
        estimate=check.theory + shift, standard_error=standard_error, z=z, p_value=p_value,
        threshold=threshold, passed=passed, negative_control=check.negative_control,
        verdict=text, samples=int(n), seconds=seconds, device=str(device), rule=check.rule,
        min_detectable_rel_error=detectable,
        min_detectable_sigma_rel_error=detectable / abs(check.sensitivity))


def ok(result):
    """True when the check behaved as it should (a control must be rejected)."""
    return result.passed != result.negative_control


def run_check(check, *, seed=0, device="cpu", quick=False, chunks=None, reduce=None):
    """Run one check (a :class:`Check` or a :class:`DistributionCheck`) and return its
    Result.

    chunks: the chunk indices this process computes (all by default); reduce: a function
    combining the per-chunk statistics of all processes (see verification.distributed).
    """
    if isinstance(check, DistributionCheck):
        return run_distribution_check(check, seed=seed, device=device, quick=quick,
                                      chunks=chunks, reduce=reduce)
    start = time.perf_counter()
    table = _chunk_table(check, quick, chunks, reduce, lambda sizes: 3,
                         lambda j, size, columns: run_chunk(check, j, size, seed, device))
    return verdict(check, table, time.perf_counter() - start, device)


# ------------------------------------------------------------------ whole laws
@dataclasses.dataclass(frozen=True)
class DistributionCheck:
    """A check that the simulated statistic has the law ``cdf`` (a continuous CDF):
    a one-sample Kolmogorov-Smirnov test over all the samples of all chunks.

    simulate(generator, n) -> float64 tensor of at most n values (e.g. only the
    networks still alive: the values then follow the conditional law); cdf: a vectorised
    function of a float64 numpy array; samples / quick_samples: the number of simulated
    networks, drawn in CHUNKS reproducible chunks exactly as for :class:`Check`;
    sensitivity: max over r of |dF(r)/d log sigma| (k times the largest density for the
    law of log||x_k||), to express the power as a relative error of sigma; 0 when sigma
    does not move the law.  negative_control: ``cdf`` is a deliberately wrong law that
    the test must reject.
    """
    name: str
    area: str
    params: dict
    simulate: Callable
    cdf: Callable
    samples: int
    quick_samples: int
    sensitivity: float = 0.0
    negative_control: bool = False
    rule: str = "ks"

    def __post_init__(self):
        if self.rule != "ks":
            raise ValueError(f"check {self.name}: a DistributionCheck uses rule 'ks'")
        if not (self.samples >= CHUNKS * 2 and self.quick_samples >= CHUNKS * 2):
            raise ValueError(f"check {self.name}: budgets must be >= {2 * CHUNKS}, got "
                             f"{self.samples}, {self.quick_samples}")


def ks_threshold(n):
    """sqrt(n) D_n is rejected above this (two-sided, exact law of D_n, level ALPHA)."""
    return _statistics.ks_threshold(n, ALPHA)


def ks_detectable_distance(n):
    """A true sup-distance >= this is detected with probability >= POWER
    (:func:`initmath.testing._statistics.ks_detectable_distance`)."""
    return _statistics.ks_detectable_distance(n, ALPHA, POWER)


def run_distribution_chunk(check, chunk, size, seed, device):
    """The values one chunk contributes (numpy float64, in simulation order)."""
    generator = _generator(seed, check, chunk, device)
    values = check.simulate(generator, size).to(torch.float64).cpu().numpy()
    if not np.isfinite(values).all():
        raise FloatingPointError(f"check {check.name}: non-finite value in chunk {chunk}")
    return values


def distribution_verdict(check, values, seconds, device):
    """The Result of a DistributionCheck from all its values (chunk order).

    Fields: theory = 0 (the claimed distance between the simulated law and ``cdf``);
    estimate = D_n = sup |F_n - F|; standard_error = 1/sqrt(n), the scale of D_n under
    the null; z = sqrt(n) D_n; threshold = the level-ALPHA critical value of sqrt(n) D_n
    (exact law of D_n); p_value from the exact law; min_detectable_rel_error = the
    sup-distance detected with probability POWER (an absolute probability, see
    :func:`ks_detectable_distance`); min_detectable_sigma_rel_error = that distance over
    ``sensitivity`` (inf when the law does not depend on sigma).
    """
    values = np.sort(np.asarray(values, dtype=np.float64))
    n = values.size
    if n < 2:
        raise ValueError(f"check {check.name}: {n} values, a KS test needs at least 2")
    cdf = np.asarray(check.cdf(values), dtype=np.float64)
    if cdf.shape != values.shape or not np.isfinite(cdf).all():
        raise FloatingPointError(f"check {check.name}: the cdf is not finite at the samples")
    distance = _statistics.ks_distance(cdf)
    p_value = float(stats.kstwo(n).sf(distance))
    threshold = ks_threshold(n)
    passed = p_value >= ALPHA
    detectable = ks_detectable_distance(n)
    text = _verdict_text(passed, check.negative_control)
    return Result(
        name=check.name, area=check.area, params=dict(check.params), theory=0.0,
        estimate=distance, standard_error=1 / math.sqrt(n), z=math.sqrt(n) * distance,
        p_value=p_value, threshold=threshold, passed=passed,
        negative_control=check.negative_control, verdict=text, samples=n, seconds=seconds,
        device=str(device), rule="ks", min_detectable_rel_error=detectable,
        min_detectable_sigma_rel_error=detectable / abs(check.sensitivity)
        if check.sensitivity else math.inf)


def run_distribution_check(check, *, seed=0, device="cpu", quick=False, chunks=None,
                           reduce=None):
    """Run a DistributionCheck; same chunks, seeds and scale-out as :func:`run_check`.

    Each chunk's values go into its own row of a zero-padded table (column 0: the
    count), so the all-reduce (sum) of :mod:`verification.distributed` reassembles all
    values exactly whatever the number of processes.
    """
    start = time.perf_counter()

    def row(j, size, columns):
        values = run_distribution_chunk(check, j, size, seed, device)
        if values.size > size:
            raise ValueError(f"check {check.name}: chunk {j} returned {values.size} "
                             f"values for {size} networks")
        out = np.zeros(columns)
        out[0], out[1:1 + values.size] = values.size, values
        return out

    table = _chunk_table(check, quick, chunks, reduce, lambda sizes: 1 + max(sizes), row)
    values = np.concatenate([r[1:1 + int(r[0])] for r in table])
    return distribution_verdict(check, values, time.perf_counter() - start, device)

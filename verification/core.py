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

Either way the decision threshold is the two-sided quantile for ``ALPHA`` = 1e-4, so a
correct formula fails a check with probability below 1e-4.  The power is reported as
the smallest relative error of the theory value that the check detects with probability
``POWER`` = 0.99 at the realised standard error, and converted to a relative error of
sigma through the check's ``sensitivity`` (d log statistic / d log sigma, e.g. s for one
layer, s k for k layers).
"""
import dataclasses
import hashlib
import math
import time
from typing import Callable

import numpy as np
import torch
from scipy import stats

ALPHA = 1e-4
POWER = 0.99
CHUNKS = 32
RULES = ("iid", "batch-means")


@dataclasses.dataclass(frozen=True)
class Check:
    """One statistical check of one formula.

    name: unique, also the seed label; area: theory area (module name); params: what a
    reader needs to know (shown in the report); simulate(generator, n, device) -> float64
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


def chunk_seed(seed, name, chunk):
    """A 63-bit seed for one chunk of one check: independent of everything else."""
    digest = hashlib.sha256(f"{seed}/{name}/{chunk}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def chunk_sizes(samples):
    """Split a budget into CHUNKS nearly equal chunk sizes."""
    base, extra = divmod(samples, CHUNKS)
    return [base + (j < extra) for j in range(CHUNKS)]


def run_chunk(check, chunk, size, seed, device):
    """(count, sum, sum of squares) of the statistic minus theory for one chunk."""
    generator = torch.Generator(device=device)
    generator.manual_seed(chunk_seed(seed, check.name, chunk))
    values = check.simulate(generator, size, device).to(torch.float64) - check.theory
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
    if check.negative_control:
        text = "rejected (as it must be)" if not passed else "NOT REJECTED (control failed)"
    else:
        text = "pass" if passed else "FAIL"
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
    """Run one check and return its Result.

    chunks: the chunk indices this process computes (all by default); reduce: a function
    combining the per-chunk statistics of all processes (see verification.distributed).
    """
    start = time.perf_counter()
    sizes = chunk_sizes(check.quick_samples if quick else check.samples)
    mine = range(CHUNKS) if chunks is None else chunks
    table = np.zeros((CHUNKS, 3))
    for j in mine:
        table[j] = run_chunk(check, j, sizes[j], seed, device)
    if reduce is not None:
        table = reduce(table)
    return verdict(check, table, time.perf_counter() - start, device)

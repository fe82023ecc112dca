"""Monte Carlo checks of initmath.lyapunov on simulated deep networks: a fast fixed-seed
subset (negative controls included) and the Kolmogorov-Smirnov check type of
verification.core."""
import dataclasses
import math

import numpy as np
import pytest
from scipy import stats

torch = pytest.importorskip("torch")

from verification import (
    CHUNKS,
    core,
    lyapunov,
    ok,
    run_check,
)

CHECKS = {c.name: c for c in lyapunov.checks()}


# ------------------------------------------------------------------ the KS check type
def gaussian_ks(shift, *, negative=False, samples=64 * CHUNKS):
    def draw(generator, n):
        return torch.randn(n, generator=generator, dtype=torch.float64)
    return core.DistributionCheck(
        name=f"ks gaussian {shift}", area="test", params={}, simulate=draw,
        cdf=lambda r: stats.norm.cdf(r - shift), samples=samples, quick_samples=samples,
        sensitivity=1.0, negative_control=negative)


def test_ks_check_passes_on_the_right_law_with_a_uniform_p_value():
    results = [run_check(gaussian_ks(0.0), seed=seed) for seed in range(40)]
    assert all(r.passed and ok(r) and r.rule == "ks" for r in results)
    assert abs(np.mean([r.p_value for r in results]) - 0.5) < 0.15
    r = results[0]
    assert r.samples == 64 * CHUNKS and r.theory == 0.0
    assert r.z == pytest.approx(math.sqrt(r.samples) * r.estimate)
    assert r.threshold == pytest.approx(2.22, abs=0.01)


def test_ks_power_statement_holds():
    """A law off by the stated detectable sup-distance is rejected."""
    reference = run_check(gaussian_ks(0.0), seed=1)
    distance = reference.min_detectable_rel_error
    # shifting N(0,1) by h moves the CDF by at most h phi(0) in sup norm
    shift = distance / stats.norm.pdf(0) * 1.02
    control = run_check(gaussian_ks(shift, negative=True), seed=2)
    assert not control.passed and ok(control)
    assert control.verdict == "rejected (as it must be)"


def test_ks_check_matches_scipy_and_is_reproducible():
    check = gaussian_ks(0.1)
    first, second = run_check(check, seed=3), run_check(check, seed=3)
    assert (first.estimate, first.p_value) == (second.estimate, second.p_value)
    values = np.concatenate([core.run_distribution_chunk(check, j, size, 3, "cpu")
                             for j, size in enumerate(core.chunk_sizes(check.samples))])
    scipy_result = stats.kstest(values, lambda r: stats.norm.cdf(r - 0.1), method="exact")
    assert first.estimate == pytest.approx(scipy_result.statistic, rel=1e-12)
    assert first.p_value == pytest.approx(scipy_result.pvalue, rel=1e-6)


def test_ks_chunks_spread_over_processes_reassemble_exactly():
    """Two 'ranks' fill disjoint rows; the summed table gives the single-process verdict."""
    check = gaussian_ks(0.0)
    tables = []

    def capture(table):
        tables.append(table.copy())
        return table
    for rank in range(2):
        run_check(check, seed=4, chunks=range(rank, CHUNKS, 2), reduce=capture)
    combined = run_check(check, seed=4, chunks=[], reduce=lambda table: tables[0] + tables[1])
    single = run_check(check, seed=4)
    assert (combined.estimate, combined.p_value, combined.samples) == (
        single.estimate, single.p_value, single.samples)


def test_bad_distribution_checks_raise():
    with pytest.raises(ValueError, match="rule 'ks'"):
        dataclasses.replace(gaussian_ks(0.0), rule="iid")
    with pytest.raises(ValueError, match="budgets"):
        dataclasses.replace(gaussian_ks(0.0), samples=10)


# ------------------------------------------------------------------ the lyapunov checks
FAST_SUBSET = [
    "mu at 1 edge d=4 a=0",
    "mu at 0.9 edge d=4 a=1",
    "mu at 1.1 edge d=64 a=0",
    "mu at 1.1 edge d=4 a=0.5",
    "mean-field mu = log sigma + log(E Z')/2 (Kaiming = edge)",
    "mu with dead transitions counted as log r = 0 (d=2)",
    "s_a^2 d=4 a=0",
    "s_a^2 d=4 a=1",
    "s_a^2 as Var log Z' (missing the 1/2)",
    "ReLU s_a^2 as linear width d/2: psi'(d/4)/4",
    "law of log||x_k|| k=20 d=4 a=0 at 1 edge",
    "law of log||x_k|| k=2 d=2 a=0.5 at 1 edge",
    "normal (CLT) law of log||x_k|| k=2 d=2 a=0.5",
    "normal (CLT) law of log||x_k|| k=2 d=2 a=0",
    "ReLU P(x_k = 0) d=2 k=5",
    "ReLU P(x_k = 0) d=4 k=20",
    "ReLU P(x_k = 0) as k 2^-d (first order) d=4 k=5",
    "dominance: P(R_k <= m_1) = F_2(m_1) under sigma_2",
    "no dominance: P(R_k <= m_1) = 1/2 under sigma_2",
]


@pytest.mark.parametrize("name", FAST_SUBSET)
def test_fast_subset_behaves_as_it_must(name):
    result = run_check(CHECKS[name], seed=0, quick=True)
    assert ok(result), (result.verdict, result.z, result.estimate, result.theory)


def test_every_formula_has_a_negative_control():
    checks = list(CHECKS.values())
    groups = {"mu": ("mu at", "mu with", "mean-field mu"), "s2": ("s_a^2", "ReLU s_a^2"),
              "law": ("law of", "normal (CLT)"), "death": ("ReLU P(x_k = 0)",),
              "dominance": ("Kaiming:", "dominance:", "no dominance:")}
    for prefixes in groups.values():
        members = [c for c in checks if c.name.startswith(prefixes)]
        assert any(c.negative_control for c in members)
        assert any(not c.negative_control for c in members)
    assert len({c.name for c in checks}) == len(checks)
    assert all(c.area == "lyapunov" for c in checks)


def test_default_budget_gives_the_promised_power():
    """At the default budget the mu check detects a 0.2% error of sigma (target 0.2%,
    realised within sampling noise of the standard error)."""
    result = run_check(CHECKS["mu at 0.9 edge d=4 a=1"], seed=0)
    assert ok(result) and result.min_detectable_sigma_rel_error <= 0.0022


def test_negative_controls_are_far_beyond_the_resolution():
    """The KS control's true distance (exact law vs normal) exceeds what the quick budget
    detects with probability 0.99, so its rejection is expected, not luck."""
    check = CHECKS["normal (CLT) law of log||x_k|| k=2 d=2 a=0.5"]
    d, k, a = check.params["d"], check.params["k"], check.params["a"]
    law = lyapunov.log_norm_distribution(k, check.params["sigma"], d, a)
    r = np.linspace(law.mean - 5 * math.sqrt(law.variance), law.mean + 3 * math.sqrt(
        law.variance), 801)
    distance = float(np.max(np.abs(law.cdf(r) - law.normal_cdf(r))))
    kept = check.quick_samples * 0.9                  # a > 0: every network is alive
    assert distance > core.ks_detectable_distance(int(kept))

"""The Monte Carlo verification layer: statistics, reproducibility, a fast fixed-seed subset
of the critical-variance checks (negative controls included) and the distributed run."""
import dataclasses
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from verification import CHUNKS, Check, all_checks, core, distributed, ok, run_check, simulate

CHECKS = {c.name: c for c in all_checks()}


def gaussian_check(mean, sd, theory, *, rule="iid", negative=False, samples=64 * CHUNKS):
    def draw(generator, n):
        return mean + sd * torch.randn(n, generator=generator, dtype=torch.float64)
    return Check(name=f"gaussian {mean} {sd} {theory} {rule}", area="test", params={},
                 simulate=draw, theory=theory, samples=samples, quick_samples=samples,
                 rule=rule, negative_control=negative)


# ------------------------------------------------------------------ statistics
@pytest.mark.parametrize("rule", ["iid", "batch-means"])
def test_standard_error_and_z_match_the_sampling_law(rule):
    """Known law N(1, 0.5^2), n = 2048: s.e. ~ 0.5/sqrt(n); z is (estimate - theory)/s.e."""
    result = run_check(gaussian_check(1.0, 0.5, 1.0, rule=rule), seed=1)
    assert result.standard_error == pytest.approx(0.5 / math.sqrt(64 * CHUNKS), rel=0.3)
    assert result.z == pytest.approx((result.estimate - 1.0) / result.standard_error)
    assert result.passed and ok(result)


def test_threshold_is_the_alpha_quantile():
    iid = run_check(gaussian_check(1.0, 1.0, 1.0), seed=2)
    means = run_check(gaussian_check(1.0, 1.0, 1.0, rule="batch-means"), seed=2)
    assert iid.threshold == pytest.approx(3.8906, abs=1e-3)            # normal, 1e-4
    assert means.threshold == pytest.approx(4.4610, abs=1e-3)          # t with 31 df


def test_false_alarm_rate_is_small_on_correct_formulas():
    """200 correct checks with different seeds: with alpha = 1e-4 none may fail, and the
    p-values look uniform (mean near 1/2)."""
    check = gaussian_check(2.0, 1.0, 2.0, samples=4 * CHUNKS)
    results = [run_check(check, seed=seed) for seed in range(200)]
    assert all(r.passed for r in results)
    assert abs(np.mean([r.p_value for r in results]) - 0.5) < 0.1


def test_power_statement_holds():
    """The stated detectable error: a formula off by that much is rejected."""
    reference = run_check(gaussian_check(1.0, 0.2, 1.0), seed=3)
    error = reference.min_detectable_rel_error
    shifted = run_check(gaussian_check(1.0 + error, 0.2, 1.0, negative=True), seed=4)
    assert not shifted.passed and ok(shifted)


def test_negative_control_that_passes_is_reported_as_failure():
    result = run_check(gaussian_check(1.0, 1.0, 1.0, negative=True), seed=5)
    assert result.passed and not ok(result)
    assert "NOT REJECTED" in result.verdict


def test_chunk_seeds_are_distinct_and_stable():
    seeds = {core.chunk_seed(0, name, j) for name in CHECKS for j in range(CHUNKS)}
    assert len(seeds) == len(CHECKS) * CHUNKS
    assert core.chunk_seed(7, "x", 3) == core.chunk_seed(7, "x", 3) < 2 ** 63


def test_bad_check_definitions_raise():
    with pytest.raises(ValueError, match="rule"):
        dataclasses.replace(gaussian_check(1, 1, 1), rule="bootstrap")
    for theory in (math.nan, 0.0):
        with pytest.raises(ValueError, match="finite and nonzero"):
            dataclasses.replace(gaussian_check(1, 1, 1), theory=theory)


# ------------------------------------------------------------------ simulation
def test_norm_ratios_are_the_layers_of_a_real_network():
    """Recompute the ratios of one network by hand from the same weight draws."""
    widths, sigmas = [5, 7, 3], [0.8, 1.3]
    generator = torch.Generator().manual_seed(11)
    ratios = simulate.norm_ratios(widths, sigmas, 2, generator,
                                  simulate.leaky_relu(0.1), dtype=torch.float64)
    generator = torch.Generator().manual_seed(11)
    x = torch.ones(2, 5, dtype=torch.float64) / math.sqrt(5)
    for k, sigma in enumerate(sigmas):
        w = torch.randn(2, widths[k + 1], widths[k], generator=generator, dtype=torch.float64)
        y = torch.nn.functional.leaky_relu(sigma * torch.einsum("bij,bj->bi", w, x), 0.1)
        torch.testing.assert_close(ratios[:, k], y.norm(dim=1) / x.norm(dim=1))
        x = y


def test_dead_relu_networks_give_zero_products_and_valid_ratios():
    generator = torch.Generator().manual_seed(0)
    ratios = simulate.norm_ratios([1] * 11, [1.0] * 10, 4000, generator,
                                  simulate.leaky_relu(0.0))
    assert (ratios == 0).any()
    # d = 1 ReLU: r = max(g, 0), so E r = 1/sqrt(2 pi) whatever happened before.
    assert ratios.mean().item() == pytest.approx(1 / math.sqrt(2 * math.pi), rel=0.02)


def test_a_run_is_reproducible_bit_for_bit():
    check = CHECKS["layer factor at sigma-bar s=1 d=64 a=0"]
    first, second = (run_check(check, seed=9, quick=True) for _ in range(2))
    assert (first.estimate, first.standard_error) == (second.estimate, second.standard_error)
    other = run_check(check, seed=10, quick=True)
    assert other.estimate != first.estimate


def test_module_activation_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    activation = simulate.module_activation(torch.nn.Dropout(0.5))
    activation(torch.ones(4, 8), torch.Generator().manual_seed(0))
    torch.testing.assert_close(torch.rand(3), expected)


# ------------------------------------------------------------------ the checks
FAST_SUBSET = [
    "layer factor at sigma-bar s=0.5 d=4 a=0",
    "layer factor at sigma-bar s=4 d=16 a=0",
    "layer factor at sigma-bar s=0.2 d=8 a=1",
    "printed Theorem 1 sigma = 1/sqrt(I0)",
    "printed Theorem 7 sigma = 1/(sqrt(s) I_a)",
    "depth 20 at sigma-bar s=0.5 d=16 a=0.01",
    "claim 'preserved' at 1.05 sigma-bar (Theorem 7 (iii))",
    "widths, convention 'per-neuron': E(||x_L||/sqrt d_L)^s",
    "'norm' sigmas judged by the per-neuron moment",
    "RReLU torch.nn.RReLU (training) vs per-neuron",
    "RReLU torch.nn.RReLU (training) vs per-layer",
    "dropout q=0.5 at sigma-bar(q) s=0.5 d=32 a=0.1",
    "dropout q=0.8 with the no-dropout sigma-bar",
    "Corollary 10 small-a expansion used at a = 1",
]


@pytest.mark.parametrize("name", FAST_SUBSET)
def test_fast_subset_behaves_as_it_must(name):
    result = run_check(CHECKS[name], seed=0, quick=True)
    assert ok(result), (result.verdict, result.z)


def test_every_formula_has_a_negative_control_and_default_power_is_one_percent():
    checks = list(CHECKS.values())
    assert sum(c.negative_control for c in checks) >= 7
    prefixes = ("layer factor", "depth", "widths", "RReLU", "dropout", "4-term")
    for prefix in prefixes:
        assert any(c.name.startswith(prefix) for c in checks)
    # The budget rule targets 0.9% in sigma: check it against the theory's own variance.
    check = CHECKS["layer factor at sigma-bar s=1 d=64 a=0"]
    result = run_check(check, seed=0)
    assert result.min_detectable_sigma_rel_error <= 0.01


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_checks_run_on_cuda():
    result = run_check(CHECKS["layer factor at sigma-bar s=1 d=64 a=0"], seed=0, quick=True,
                       device="cuda")
    assert ok(result) and result.device == "cuda"


# ------------------------------------------------------------------ distributed
def _rank_main(rank, world, init_file, names, queue):
    torch.distributed.init_process_group("gloo", init_method=f"file://{init_file}",
                                         rank=rank, world_size=world)
    chunks, reduce = distributed.partition("cpu")
    out = [run_check(CHECKS[n], seed=3, quick=True, chunks=chunks, reduce=reduce)
           for n in names]
    if rank == 0:
        queue.put([(r.estimate, r.standard_error, r.z, r.passed) for r in out])
    torch.distributed.destroy_process_group()


def test_two_gloo_processes_reach_the_single_process_verdict_exactly(tmp_path):
    import torch.multiprocessing as mp
    names = ["layer factor at sigma-bar s=0.5 d=4 a=0", "printed Theorem 1 sigma = 1/sqrt(I0)",
             "depth 20 at sigma-bar s=0.5 d=16 a=0.01"]
    context = mp.get_context("spawn")
    queue = context.SimpleQueue()
    mp.start_processes(_rank_main, args=(2, str(tmp_path / "init"), names, queue), nprocs=2,
                       start_method="spawn")
    spread = queue.get()
    single = [run_check(CHECKS[n], seed=3, quick=True) for n in names]
    assert spread == [(r.estimate, r.standard_error, r.z, r.passed) for r in single]

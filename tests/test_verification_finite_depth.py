"""Monte Carlo checks of initmath.finite_depth.depth_law, moment_map_expansion and
fixed_point_norm: the simulator against closed forms (the identity activation), the
theory the checks are built on, the negative controls' gaps against the resolution, the
quick budget, and a fast fixed-seed subset (negative controls included)."""
import functools
import math

import pytest

torch = pytest.importorskip("torch")

from _verification import assert_seeds_reproduce, generator, mean_and_error

from initmath.finite_width import moment_map, moment_map_expansion
from verification import core, finite_depth, ok, run_check

CHECKS = {c.name: c for c in finite_depth.checks()}
# Five standard errors: a correct closed form fails with probability ~6e-7.
Z = 5.0
# Weight entries of one quick run of the whole module (~20 s on 2 CPU cores).
QUICK_ENTRIES_MAX = 5e9


def entries_per_sample(check):
    return check.params["d"] ** 2 * check.params.get("depth", 1)


def chi_moment(s, d, c):
    """E (c^2 chi^2_d)^(s/2) = c^s 2^(s/2) Gamma((d + s)/2) / Gamma(d/2)."""
    return c ** s * 2 ** (s / 2) * math.exp(math.lgamma((d + s) / 2) - math.lgamma(d / 2))


@pytest.mark.parametrize("s, d, sigma, sigma_b", [(0.5, 3, 0.7, 0.0), (1.0, 8, 0.3, 0.9)])
def test_one_layer_of_the_identity_is_the_chi_moment(s, d, sigma, sigma_b):
    """r'^2 = (sigma^2 r^2 + sigma_b^2) chi^2_d for phi(x) = x, from an input of norm r."""
    r = 1.7
    norms = finite_depth.output_norms(torch.nn.Identity(), d, 1, sigma, sigma_b, r, 20000,
                                      generator(1))
    mean, error = mean_and_error(norms ** s)
    exact = chi_moment(s, d, math.hypot(sigma * r, sigma_b))
    assert abs(mean - exact) <= Z * error, (mean, exact, error)
    # negative control: the input norm is really r (r = 1 is rejected)
    assert abs(mean - chi_moment(s, d, math.hypot(sigma, sigma_b))) > 20 * error


@pytest.mark.parametrize("d, depth, sigma, sigma_b", [(4, 6, 0.6, 0.3), (32, 10, 0.2, 0.0)])
def test_deep_identity_second_moment_is_the_affine_recursion(d, depth, sigma, sigma_b):
    """E r_{l+1}^2 = d (sigma^2 E r_l^2 + sigma_b^2) exactly for phi(x) = x, at any width:
    each layer gets fresh weights and biases."""
    r0 = 2.0
    norms = finite_depth.output_norms(torch.nn.Identity(), d, depth, sigma, sigma_b, r0, 20000,
                                      generator(2))
    mean, error = mean_and_error(norms ** 2)
    exact = [r0 * r0]
    for _ in range(depth):
        exact.append(d * (sigma ** 2 * exact[-1] + sigma_b ** 2))
    assert abs(mean - exact[-1]) <= Z * error, (mean, exact[-1], error)
    # negative control: one layer fewer is rejected
    assert abs(mean - exact[-2]) > 2 * Z * error


def test_names_are_unique_and_every_group_is_there():
    assert len(CHECKS) == len(finite_depth.checks())
    assert {c.area for c in CHECKS.values()} == {"finite_depth"}
    positives = [c for c in CHECKS.values() if not c.negative_control]
    assert {c.params["activation"] for c in positives} == set(finite_depth.MODULES)
    assert {c.params["d"] for c in positives if "depth" in c.params} == {4, 16, 256, 1024}
    assert 2 in {c.params["d"] for c in positives}          # one layer at a time
    assert max(c.params.get("depth", 1) for c in positives) == 100
    assert {c.params["sigma_b"] > 0 for c in positives if "depth" in c.params} == {True, False}
    controls = [name for name, c in CHECKS.items() if c.negative_control]
    for topic in ("= mean field", "mean-field norm", "expansion order 1", "mean-field r*_2"):
        assert any(topic in name for name in controls), topic


@pytest.mark.parametrize("network", finite_depth.NETWORKS, ids=lambda n: n.name)
def test_networks_are_at_the_moment_preserving_sigma_and_stay_on_the_grid(network):
    """sigma makes r0 the s = 2 fixed point of one layer (so the mean field predicts
    E r_L^2 = r0^2 at every depth), and the law neither dies nor leaves its grid."""
    one_layer = moment_map(2.0, network.d, network.module, network.sigma, r=network.r0,
                           sigma_b=network.sigma_b)
    assert one_layer == pytest.approx(network.r0 ** 2, rel=1e-10)
    assert finite_depth.mean_field_norm2(network) == pytest.approx(network.r0 ** 2, rel=1e-8)
    law = finite_depth.law(network)
    # (ReLU dies with probability 2^-16 per layer at d = 16)
    assert law.collapse[-1] < 2e-4 and law.explosion[-1] < 1e-12


def quick_standard_error(check, sd):
    return sd / math.sqrt(check.quick_samples)


@pytest.mark.parametrize("network", finite_depth.MOMENT_CONTROLS, ids=lambda n: n.name)
def test_mean_field_moment_is_off_by_more_than_the_quick_resolution(network):
    """The mean-field E r_L^2 differs from depth_law's by more than a quick run resolves
    (so the control must be rejected; it is, below)."""
    law = finite_depth.law(network)
    control = CHECKS[f"{network.name}: E r_L^2/r0^2 = mean field"]
    second, fourth = law.moment(2.0)[-1], law.moment(4.0)[-1]
    sd = math.sqrt(fourth - second ** 2) / network.r0 ** 2
    gap = abs(second / network.r0 ** 2 - control.theory)
    assert gap > core.resolution("batch-means") * quick_standard_error(control, sd)


@pytest.mark.parametrize("network", finite_depth.MEDIAN_CONTROLS, ids=lambda n: n.name)
def test_mean_field_median_is_off_by_more_than_the_quick_resolution(network):
    """P(r_L <= mean-field norm) by depth_law is far from 1/2."""
    control = CHECKS[f"{network.name}: P(r_L <= mean-field norm) = 1/2"]
    gap = abs(float(finite_depth.law(network).cdf(control.params["median"])[-1]) - 0.5)
    assert gap > core.resolution("iid") * quick_standard_error(control, 0.5)


def test_expansion_is_exact_to_far_below_the_resolution_at_large_width():
    """order 2 is within 1e-6 of the exact moment map at d >= 256, the first order 10%
    off at d = 2 (GELU, s = 1), far beyond the quick resolution."""
    for label, d, s, sigma_b in finite_depth.EXPANSIONS:
        args = (s, d, finite_depth.MODULES[label](), finite_depth._SIGMA_W / math.sqrt(d))
        exact = moment_map(*args, r=math.sqrt(d), sigma_b=sigma_b)
        expansion = moment_map_expansion(*args, r=math.sqrt(d), sigma_b=sigma_b, order=2)
        assert abs(expansion / exact - 1) < 1e-6
    label, d, s, sigma_b = finite_depth.EXPANSION_CONTROL
    control = CHECKS[f"{label} d={d}: E r'^{s:g} = moment_map_expansion order 1"]
    args = (s, d, finite_depth.MODULES[label](), finite_depth._SIGMA_W / math.sqrt(d))
    exact = moment_map(*args, r=math.sqrt(d)) / d ** (s / 2)
    sd = math.sqrt(moment_map(2 * s, d, *args[2:], r=math.sqrt(d)) / d ** s - exact ** 2)
    gap = abs(exact - control.theory)
    assert gap / exact > 0.05
    assert gap > 5 * core.resolution("iid") * quick_standard_error(control, sd)


@pytest.mark.parametrize("network", finite_depth.FIXED_POINT_NETWORKS, ids=lambda n: n[0])
@pytest.mark.parametrize("d, s", finite_depth.FIXED_POINT_GRID)
def test_fixed_points_are_fixed(network, d, s):
    """r*_s is a fixed point of G = E[r'^s | r]^(1/s), below r*_2 (GELU, tanh: s < 2)."""
    label, sigma_w, sigma_b = network
    star = finite_depth.fixed_point(label, d, s, sigma_w, sigma_b)
    moment = moment_map(s, d, finite_depth.MODULES[label](), sigma_w / math.sqrt(d), r=star,
                        sigma_b=sigma_b)
    assert moment ** (1 / s) == pytest.approx(star, rel=1e-10)
    assert star < finite_depth.fixed_point(label, d, 2.0, sigma_w, sigma_b)


@pytest.mark.parametrize("network, grid", list(zip(finite_depth.FIXED_POINT_NETWORKS,
                                                   finite_depth.FIXED_POINT_GRID)))
def test_mean_field_fixed_point_is_off_by_more_than_the_resolution(network, grid):
    """E r'^s at r*_2 is 3-5% below r*_2^s (s != 2), more than its check resolves."""
    (label, sigma_w, sigma_b), (d, s) = network, grid
    module, sigma = finite_depth.MODULES[label](), sigma_w / math.sqrt(d)
    star2 = finite_depth.fixed_point(label, d, 2.0, sigma_w, sigma_b)
    moment = moment_map(s, d, module, sigma, r=star2, sigma_b=sigma_b) / star2 ** s
    sd = math.sqrt(moment_map(2 * s, d, module, sigma, r=star2, sigma_b=sigma_b)
                   / star2 ** (2 * s) - moment ** 2)
    assert 0.03 < 1 - moment < 0.1
    check = finite_depth.fixed_point_check(*network, d, s, mean_field=True)
    assert 1 - moment > 5 * core.resolution("iid") * quick_standard_error(check, sd)


@pytest.mark.parametrize("name", ["Tanh d=4 depth=10 sigma_b=0.5: E r_L^2/r0^2 = depth_law",
                                  "GELU d=2: E r'^1 = moment_map_expansion order 1",
                                  "GELU d=256 depth=100 sigma_b=1: E r_L^2/r0^2 = depth_law"])
def test_seeds_reproduce(name):
    assert_seeds_reproduce(CHECKS[name], 3)


def test_quick_budget_is_bounded():
    """The whole module's quick run draws at most QUICK_ENTRIES_MAX weight entries, and
    every default budget at most _FULL_ENTRIES per check (or 64 networks)."""
    quick = sum(c.quick_samples * entries_per_sample(c) for c in CHECKS.values())
    assert quick <= QUICK_ENTRIES_MAX, f"{quick:.3g}"
    for check in CHECKS.values():
        assert (check.samples * entries_per_sample(check) <= finite_depth._FULL_ENTRIES
                or check.samples == 2 * core.CHUNKS), check.name


@functools.cache
def quick_result(name):
    return run_check(CHECKS[name], seed=0, quick=True)


# A few representative checks with cheap quick runs, and every negative control.
FAST = ["Tanh d=4 depth=10 sigma_b=0.5: E r_L^2/r0^2 = depth_law",
        "Tanh d=4 depth=10 sigma_b=0.5: E r_L^0.5/r0^0.5 = depth_law",
        "Tanh d=4 depth=10 sigma_b=0.5: P(r_L <= depth_law's median) = 1/2",
        "ReLU d=16 depth=10: E r_L^0.5/r0^0.5 = depth_law",
        "GELU d=16 depth=100 sigma_b=0.5: P(r_L <= depth_law's median) = 1/2",
        "GELU d=256: E r'^0.5 = moment_map_expansion order 2",
        "Tanh d=2 sigma_b=0.5: E r'^1 = r^1 at r*_1",
        *(name for name, c in CHECKS.items() if c.negative_control)]


@pytest.mark.parametrize("name", FAST)
def test_quick_check_behaves_as_it_must(name):
    result = quick_result(name)
    assert ok(result), (result.verdict, result.z)

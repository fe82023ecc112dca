"""Behaviour of initmath.testing's calibrated assertions and statistics helpers (issue 16).

Correct inits pass, the classic wrong ones fail with a message that says why, the seeds
are reproducible and leave torch's generator alone, the sample-size helpers are inverse to
each other, and the stated power is honest in a case cheap enough to repeat 200 times.
"""
import functools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special, stats

from initmath.testing import (
    FalseAlarmBudget,
    TestResult,
    false_alarm_budget,
    holm,
    min_discrepancy,
    min_samples,
)
from initmath.testing._budget import derived_seed

torch = pytest.importorskip("torch")

from initmath import critical_sigma
from initmath.testing import (
    StatisticalAssertionError,
    assert_layer_law,
    assert_matches,
    assert_moment_preserved,
    moment_spread,
)


@functools.cache
def _sigma(s, d, a=0.0):
    return float(critical_sigma(s, d, a))


def critical_init(s, a=0.0, factor=1.0):
    """normal_ at the critical sigma of the layer's own d_out = w.shape[0]."""
    return lambda w: torch.nn.init.normal_(w, std=factor * _sigma(s, w.shape[0], a))


def _consistent(result):
    assert result.passed == (result.p_value >= result.false_alarm)


# --------------------------------------------------------------------------- correct inits
@pytest.mark.parametrize("s, width, depth, a", [
    (1.0, 8, 1, 0.0),
    (2.0, 16, 1, 0.3),        # leaky ReLU
    (0.5, 6, 2, 0.0),
    (1.0, (8, 16, 4), 1, 0.0),  # variable widths: sigma per layer from its d_out
])
def test_critical_sigma_passes(s, width, depth, a):
    result = assert_moment_preserved(critical_init(s, a), s, width, depth=depth, slope=a,
                                     discrepancy=0.03)
    assert result.passed and result.statistic == "mean" and result.expected == 1.0
    assert result.samples % 64 == 0
    _consistent(result)


def test_linear_s2_any_unit_variance_init_passes():
    """Linear layers, s = 2: E||W x||^2 = d_out var ||x||^2 for any iid zero-mean W, so a
    uniform init of variance 1 / d_out preserves the moment exactly (depth 3)."""
    def uniform(w):
        bound = math.sqrt(3.0 / w.shape[0])
        return torch.nn.init.uniform_(w, -bound, bound)
    assert assert_moment_preserved(uniform, 2.0, 8, depth=3, slope=1.0,
                                   discrepancy=0.05).passed


def test_module_with_custom_redraw_passes():
    sigma = _sigma(2.0, 8)
    net = torch.nn.Sequential(torch.nn.Linear(8, 8, bias=False), torch.nn.ReLU())

    def redraw(module):
        for layer in module.modules():
            if isinstance(layer, torch.nn.Linear):
                torch.nn.init.normal_(layer.weight, std=sigma)
    result = assert_moment_preserved(net, 2.0, redraw=redraw, discrepancy=0.03)
    assert result.passed
    with pytest.raises(StatisticalAssertionError):      # and the module is really used
        assert_moment_preserved(net, 2.0, redraw=lambda m: redraw(m) or m[0].weight.mul_(0.9),
                                discrepancy=0.03)


def test_init_returning_a_new_tensor_passes():
    sigma = _sigma(1.0, 8)
    assert assert_moment_preserved(lambda w: sigma * torch.randn(w.shape), 1.0, 8).passed
    with pytest.raises(StatisticalAssertionError):
        assert_moment_preserved(lambda w: 0.9 * sigma * torch.randn(w.shape), 1.0, 8)
    with pytest.raises(ValueError, match="init"):
        assert_moment_preserved(lambda w: torch.randn(3), 1.0, 8)


# --------------------------------------------------------------------------- wrong inits
def _fails(init, s, width, slope=0.0, **kwargs):
    with pytest.raises(StatisticalAssertionError) as info:
        assert_moment_preserved(init, s, width, slope=slope, **kwargs)
    message = str(info.value)
    for word in ("expected", "measured", "z-score", "samples", "power", "critical sigma"):
        assert word in message, (word, message)
    (result,) = info.value.results
    assert not result.passed and result.p_value < result.false_alarm
    return result, message


def test_std_1_2_percent_too_small_fails():
    result, message = _fails(critical_init(1.0, factor=0.988), 1.0, 8)
    assert result.estimate < 1 and result.z < -result.threshold
    assert f"{_sigma(1.0, 8):.6g}" in message
    assert result.detectable < 0.012        # the test was sized to see a 1% error of sigma
    assert "detected with probability 0.99" in message


def test_std_zero_from_an_overflowing_naive_formula_fails():
    d, s, a = 199, 1.0, 0.0
    n = np.arange(d + 1)
    with np.errstate(over="ignore", invalid="ignore"):
        naive = np.sum(special.comb(d, n) * 2.0 ** -d
                       * special.hyp2f1(-s / 2, (d - n) / 2, d / 2, 1 - a ** 2))
    assert naive == np.inf
    sigma = float(naive ** (-1 / s))
    assert sigma == 0.0
    result, _ = _fails(lambda w: torch.nn.init.normal_(w, std=sigma), s, 8)
    assert result.estimate == 0.0 and result.z == -math.inf and result.p_value == 0


def test_kaiming_with_a_leaky_slope_fails():
    a, d = 0.3, 16
    kaiming = lambda w: torch.nn.init.normal_(w, std=math.sqrt(2 / w.shape[1]))
    result, message = _fails(kaiming, 2.0, d, slope=a)
    assert result.estimate > 1                      # 1 + a^2 = 1.09 too much variance
    assert "leaky ReLU (slope 0.3)" in message
    assert assert_moment_preserved(critical_init(2.0, a), 2.0, d, slope=a).passed


# --------------------------------------------------------------------------- seeds
def test_reproducible_and_leaves_torch_rng_alone():
    init = critical_init(1.0)
    torch.manual_seed(123)
    state = torch.get_rng_state()
    first = assert_moment_preserved(init, 1.0, 8, seed=7)
    assert torch.equal(torch.get_rng_state(), state)
    assert assert_moment_preserved(init, 1.0, 8, seed=7) == first
    assert assert_moment_preserved(init, 1.0, 8, seed=8).estimate != first.estimate


def test_budget_shares_and_seeds():
    init = critical_init(1.0)
    with false_alarm_budget(1e-6, calls=10, seed=5, label="t") as budget:
        one = assert_moment_preserved(init, 1.0, 8)
        two = assert_moment_preserved(init, 1.0, 8)
    assert one.false_alarm == two.false_alarm == pytest.approx(0.99e-6 / 10, rel=1e-15)
    assert one.estimate != two.estimate and budget.used == 2
    again = assert_moment_preserved(init, 1.0, 8, false_alarm=0.99e-6 / 10,
                                    seed=derived_seed(5, "t", 0))
    assert again.estimate == one.estimate
    # calls beyond the plan: the reserve as 6 / (pi^2 j^2), never past the total
    budget = FalseAlarmBudget(1e-6, calls=3)
    shares = [budget.take()[0] for _ in range(2000)]
    assert sum(shares) <= 1e-6 and shares[3] == pytest.approx(0.01e-6 * 6 / math.pi ** 2)


# --------------------------------------------------------------------------- sample sizes
@settings(max_examples=60, deadline=None)
@given(cv=st.floats(1e-3, 1e3), discrepancy=st.floats(1e-3, 0.5),
       false_alarm=st.sampled_from([1e-9, 1e-6, 1e-3, 0.05]),
       power=st.sampled_from([0.5, 0.9, 0.99, 0.999]))
def test_min_samples_and_min_discrepancy_are_inverse(cv, discrepancy, false_alarm, power):
    kw = dict(false_alarm=false_alarm, power=power)
    n = min_samples(discrepancy, cv, **kw)
    assert n % 64 == 0 and n >= 128
    assert min_discrepancy(n, cv, **kw) <= discrepancy * (1 + 1e-12)
    if n > 128:
        assert min_discrepancy(n - 64, cv, **kw) > discrepancy
    law = min_samples(discrepancy, **kw)
    assert min_discrepancy(law, **kw) <= discrepancy
    if law > 2:
        assert min_discrepancy(law - 1, **kw) > discrepancy


def test_min_samples_scaling_skewness_guard_and_monotone_law():
    base = min_samples(0.01, 1.0)
    assert min_samples(0.005, 1.0) / base == pytest.approx(4, rel=0.01)
    assert min_samples(0.001, 1.0) / base == pytest.approx(100, rel=0.001)
    for g in (0.5, 2.0, 10.0):
        assert min_samples(0.3, 0.01, skewness=g) >= 64 * (g / 0.05) ** 2
        assert min_samples(0.3, 0.01, skewness=-g, batches=16) >= 16 * (g / 0.05) ** 2
    counts = [min_samples(d) for d in (0.5, 0.2, 0.1, 0.05, 0.02, 0.01)]
    assert counts == sorted(counts) and len(set(counts)) == len(counts)


def test_power_is_honest():
    """True mean off by exactly delta (relative), normal samples of cv 1: the test sized
    by min_samples rejects in >= 97% of 200 seeds (power 0.99; binomial slack)."""
    delta, cv = 0.5, 1.0
    n = min_samples(delta, cv)

    def simulate(generator, size):
        return 1.0 + delta + cv * torch.randn(size, generator=generator, dtype=torch.float64)
    rejected = 0
    for seed in range(200):
        try:
            assert_matches(1.0, simulate, samples=n, seed=seed)
        except StatisticalAssertionError:
            rejected += 1
    assert rejected >= 194, rejected
    # and the same test at the true mean: no false alarm at 1e-6 in 200 seeds
    passed = [assert_matches(1.0 + delta, simulate, samples=n, seed=s).passed
              for s in range(20)]
    assert all(passed)


# --------------------------------------------------------------------------- assert_matches
def test_matches_vector_theory_flags_only_the_wrong_statistic():
    def simulate(generator, n):
        g = torch.randn(n, 3, generator=generator, dtype=torch.float64)
        return g + torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    results = assert_matches([1.0, 2.0, 3.0], simulate, samples=6400)
    assert isinstance(results, list) and all(r.passed for r in results)
    with pytest.raises(StatisticalAssertionError) as info:
        assert_matches([1.0, 2.0, 3.1], simulate, samples=6400)
    message = str(info.value)
    assert "theory[2]" in message and "theory[0]" not in message and "theory[1]" not in message
    assert "1 of 3 statistics rejected" in message
    assert [r.passed for r in info.value.results] == [True, True, False]


def test_matches_law_and_numpy_and_wrong_count():
    def simulate(generator, n):
        return torch.randn(n, generator=generator, dtype=torch.float64)
    result = assert_matches(stats.norm.cdf, simulate, samples=2000)
    assert result.statistic == "law" and result.passed
    _consistent(result)
    with pytest.raises(StatisticalAssertionError, match="Kolmogorov-Smirnov"):
        assert_matches(stats.norm(0.3).cdf, simulate, samples=2000)
    numpy_simulate = lambda generator, n: np.random.default_rng(
        generator.initial_seed()).uniform(1.0, 3.0, n)
    assert assert_matches(2.0, numpy_simulate, samples=6400).passed
    assert assert_matches(stats.uniform(1.0, 2.0).cdf, numpy_simulate, discrepancy=0.1).passed
    with pytest.raises(StatisticalAssertionError):
        assert_matches(2.1, numpy_simulate, samples=6400)
    with pytest.raises(ValueError, match="simulate returned"):
        assert_matches(1.0, lambda generator, n: np.ones(n - 1), samples=640)
    with pytest.raises(ValueError, match="samples"):
        assert_matches(1.0, simulate)                  # nothing to size the test with


# --------------------------------------------------------------------------- assert_layer_law
def test_layer_law_passes_and_catches_a_10_percent_error():
    sigma = _sigma(2.0, 8)
    right = lambda w: torch.nn.init.normal_(w, std=sigma)
    result = assert_layer_law(right, 8, 5, sigma, discrepancy=0.1)
    assert result.passed and result.statistic == "law"
    _consistent(result)
    wrong = lambda w: torch.nn.init.normal_(w, std=1.1 * sigma)
    with pytest.raises(StatisticalAssertionError) as info:
        assert_layer_law(wrong, 8, 5, sigma, discrepancy=0.1)
    message = str(info.value)
    for word in ("expected", "measured", "z-score", "samples", "detected", "median"):
        assert word in message


def test_layer_law_allows_for_relu_collapse():
    sigma = _sigma(2.0, 2)
    init = lambda w: torch.nn.init.normal_(w, std=sigma)
    result = assert_layer_law(init, 2, 6, sigma, discrepancy=0.05)
    assert result.passed
    # the atom is really there: many of the simulated networks collapse to 0
    with pytest.raises(StatisticalAssertionError, match="collapse"):
        assert_layer_law(init, 2, 6, 1.5 * sigma, discrepancy=0.05)


# --------------------------------------------------------------------------- refusals
def test_refuses_too_heavy_tails_and_too_few_samples():
    with pytest.raises(ValueError, match="depth|discrepancy"):
        assert_moment_preserved(critical_init(4.0), 4.0, 4, depth=10)
    assert moment_spread(4.0, 4, depth=10).skewness > 1e6
    with pytest.raises(ValueError, match="samples"):
        assert_moment_preserved(critical_init(1.0), 1.0, 8, depth=2, samples=128)
    with pytest.raises(ValueError, match="max_samples"):
        assert_moment_preserved(critical_init(1.0), 1.0, 8, depth=3, max_samples=1000)


def test_holm_and_results():
    assert holm([1e-9, 0.3, 6e-7], 1e-6).tolist() == [True, False, False]
    assert holm([1e-9, 0.3, 6e-7], 1e-5).tolist() == [True, False, True]
    assert holm([], 1e-6).size == 0
    assert TestResult.__test__ is False


def test_layer_law_takes_initmath_activations_as_strategies_draw_them():
    # strategies.activations() draws initmath Activation objects: the simulation applies
    # their float64 function, and gives the same samples as torch's own tanh
    from initmath.activations import activation
    init = lambda w: torch.nn.init.normal_(w, std=1.0)
    by_object = assert_layer_law(init, width=16, depth=3, sigma=1.0,
                                 activation=activation("tanh"))
    by_name = assert_layer_law(init, width=16, depth=3, sigma=1.0, activation="tanh")
    assert by_object.estimate == pytest.approx(by_name.estimate, abs=1e-12)
    leaky = activation("leakyrelu", negative_slope=0.2)
    half = lambda w: torch.nn.init.normal_(w, std=0.5)
    assert assert_layer_law(half, width=16, depth=3, sigma=0.5, activation=leaky).passed

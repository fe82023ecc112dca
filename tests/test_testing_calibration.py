"""Calibration of initmath.testing: its false-alarm rates on correct code and its power on
wrong code, measured (exact samplers of the same statistics, initmath.testing.calibration),
each compared with the stated rate through an exact 99.9% confidence interval.

The larger runs behind the numbers in docs/testing.md: benchmarks/calibrate_testing.py.
"""
import pytest

from initmath.testing.calibration import family_rate, law_test_rate, moment_test_rate

# (width, slope): a square layer, tiny widths where the statistic is most skewed (the
# skewness guard sets the sample count), a leaky slope, and unequal fans.
LAYERS = [(8, 0.0), (2, 0.0), (1, 0.0), (64, 0.3), ((4, 16), 0.0), (16, 1.0)]


@pytest.mark.parametrize("width, slope", LAYERS)
@pytest.mark.parametrize("false_alarm", [1e-2, 1e-3])
def test_false_alarm_rate_is_the_stated_one(width, slope, false_alarm):
    # 20,000 tests of correct code: the rejection rate's interval holds the stated rate
    # (too many alarms would be a flaky test; far too few, a test weaker than it says).
    rate = moment_test_rate(2.0, width, slope, false_alarm=false_alarm, replicates=20_000,
                            seed=1)
    assert rate.lower <= false_alarm <= rate.upper, rate


def test_false_alarm_rate_at_1e_4_on_the_most_skewed_layer():
    rate = moment_test_rate(2.0, 1, false_alarm=1e-4, replicates=200_000, seed=2)
    assert rate.lower <= 1e-4 <= rate.upper, rate


def test_fractional_moment_false_alarm_rate():
    # s = 1 draws every network (no exact batch sums): fewer, cheaper tests.
    rate = moment_test_rate(1.0, 8, false_alarm=1e-2, discrepancy=0.03, replicates=2000,
                            seed=3)
    assert rate.lower <= 1e-2 <= rate.upper, rate


def test_negative_control_below_the_skewness_guard_the_rate_is_not_kept():
    # Width 1 (R^2 = 0 half the time): with 256 networks instead of the guard's 435,584
    # the batch means are skewed and the same t test fails correct code 5x too often --
    # the calibration tests can see a miscalibrated test, and the guard is needed.
    rate = moment_test_rate(2.0, 1, false_alarm=1e-3, networks=256, replicates=100_000,
                            seed=4)
    assert rate.lower > 2e-3, rate


@pytest.mark.parametrize("s, width, replicates", [(2.0, 8, 5000), (2.0, 64, 5000),
                                                  (1.0, 8, 500)])
def test_power_at_the_stated_discrepancy(s, width, replicates):
    # sigma exactly `discrepancy` too small, at the per-call level of a 100-example test
    # (1e-8): caught with probability >= 0.99, as stated.
    discrepancy = 0.01 if s == 2 else 0.03
    rate = moment_test_rate(s, width, sigma_ratio=1 - discrepancy, false_alarm=1e-8,
                            discrepancy=discrepancy, replicates=replicates, seed=5)
    assert rate.upper >= 0.99 and rate.rate >= 0.97, rate


def test_negative_control_half_the_discrepancy_is_not_caught_reliably():
    # The power statement is sharp, not a loose bound: half the stated error is missed
    # most of the time.
    rate = moment_test_rate(2.0, 8, sigma_ratio=0.995, false_alarm=1e-8, replicates=2000,
                            seed=6)
    assert rate.upper < 0.5, rate


@pytest.mark.parametrize("width, depth, slope", [(4, 5, 0.0), (16, 10, 0.2)])
def test_law_test_false_alarm_rate(width, depth, slope):
    # Width 4 collapses to 0 with probability ~0.3 by depth 5: the atom is allowed for.
    sigma = (2 / (width * (1 + slope * slope))) ** 0.5
    rate = law_test_rate(width, depth, sigma, slope, false_alarm=2e-2, replicates=400,
                         seed=7)
    assert rate.lower <= 2e-2 <= rate.upper, rate


def test_law_test_power_against_a_wrong_sigma():
    # sigma 5% too large over 10 layers moves the law of ||x_10|| by ~0.12 in sup-distance,
    # far beyond the 0.05 the default sample count is sized for.
    rate = law_test_rate(8, 10, 0.5, sigma_ratio=1.05, false_alarm=1e-8, replicates=200,
                         seed=8)
    assert rate.rate >= 0.99, rate


CONFIGS = [(8, 0.0), (16, 0.2), (2, 0.0), (64, 1.0), (4, 0.5)] * 20    # 100 examples


def test_family_wise_rate_over_a_property_test():
    # 1000 runs of a 100-example property test at a family budget of 0.1: the share of
    # failing runs is at most the budget (Bonferroni), and close to it (not wasteful).
    rate, alarms = family_rate(CONFIGS, 1000, total=0.1, seed=9)
    assert rate.lower <= 0.1 and rate.upper >= 0.05, rate
    assert alarms >= rate.rejections


def test_thousand_ci_runs_without_a_false_alarm():
    # The default budget, 1e-6 for the whole test: 1000 runs x 100 assertions, none fails.
    rate, alarms = family_rate(CONFIGS, 1000, total=1e-6, seed=10)
    assert alarms == 0 and rate.rejections == 0


@pytest.mark.parametrize("bug, s, d, a, seeds", [
    ("_one_percent_small", 1.0, 8, 0.0, 3), ("_naive_formula", 1.0, 199, 0.0, 4),
    ("_kaiming", 2.0, 64, 0.3, 20)])
def test_the_classic_bugs_are_caught_in_every_seed(bug, s, d, a, seeds):
    # the real torch path on the three bugs of the issue (tests/test_testing_example.py):
    # caught at every seed tried, as the power >= 0.99 at their size says
    pytest.importorskip("torch")
    import test_testing_example as example

    from initmath.testing import StatisticalAssertionError, assert_moment_preserved
    init = getattr(example, bug)
    for seed in range(seeds):
        with pytest.raises(StatisticalAssertionError):
            assert_moment_preserved(lambda w: init(w, s, a), s=s, width=d, slope=a, seed=seed)

"""Monte Carlo checks of initmath.finite_width and initmath.mean_field for every activation:
the simulators against closed forms (the identity activation, where r'^2 = c^2 chi^2_d),
reproducibility of the seeds, coverage of every activation, and a fast fixed-seed subset
(negative controls included)."""
import functools
import math

import pytest

torch = pytest.importorskip("torch")

from _verification import assert_seeds_reproduce, generator, mean_and_error

from initmath.activations import ACTIVATIONS
from initmath.finite_width import moment_map
from verification import any_activation, ok, run_check

CHECKS = {c.name: c for c in any_activation.checks()}
# Five standard errors: a correct closed form fails with probability ~6e-7.
Z = 5.0


def chi_moment(s, d, c):
    """E (c^2 chi^2_d)^(s/2) = c^s 2^(s/2) Gamma((d + s)/2) / Gamma(d/2)."""
    return c ** s * 2 ** (s / 2) * math.exp(math.lgamma((d + s) / 2) - math.lgamma(d / 2))


@pytest.mark.parametrize("s, d, sigma_b", [(1.0, 4, 0.0), (0.5, 16, 0.0), (2.0, 3, 0.7),
                                           (1.0, 8, 1.2)])
def test_one_layer_statistic_of_the_identity_is_the_chi_moment(s, d, sigma_b):
    c = math.hypot(any_activation.SIGMA, sigma_b)
    exact = chi_moment(s, d, c)
    # moment_map agrees with the closed form (an independent method) ...
    assert math.isclose(moment_map(s, d, "identity", any_activation.SIGMA, sigma_b=sigma_b),
                        exact, rel_tol=1e-12)
    # ... and the simulator's statistic has that mean.
    check = any_activation._layer_check("identity", torch.nn.Identity(), s, d, exact,
                                        sigma_b=sigma_b)
    mean, error = mean_and_error(check.simulate(generator(1), 4000))
    assert abs(mean - exact) <= Z * error, (mean, exact, error)


def test_bias_is_needed_negative_control():
    """The same statistic with a bias is far from the no-bias chi moment."""
    s, d, sigma_b = 2.0, 8, 1.2
    check = any_activation._layer_check("identity", torch.nn.Identity(), s, d, 1.0,
                                        sigma_b=sigma_b)
    mean, error = mean_and_error(check.simulate(generator(2), 4000))
    assert abs(mean - chi_moment(s, d, any_activation.SIGMA)) > 20 * error


@pytest.mark.parametrize("g, depth", [(1.0, 10), (1.1, 5), (0.8, 3)])
def test_deep_second_moment_of_the_identity_is_g_to_the_2_depth(g, depth):
    """Identity: E q^(l+1) = g^2 E q^l exactly at any width, and E q^0 = 1."""
    values = any_activation.deep_second_moment(torch.nn.Identity(), g, 32, depth, 3000,
                                               generator(3))
    mean, error = mean_and_error(values)
    assert abs(mean - g ** (2 * depth)) <= Z * error, (mean, g ** (2 * depth), error)
    assert abs(mean - 1.0) > Z * error or g == 1.0      # and a wrong gain is seen


@pytest.mark.parametrize("name", ["Tanh moment map s=1 d=16 sigma_b=0.5",
                                  "Tanh depth 10, d=256, at gain('tanh'): q stays 1",
                                  "Sigmoid mean field: E phi^2 per coordinate at d=1024, q=0.5"])
def test_seeds_reproduce(name):
    assert_seeds_reproduce(CHECKS[name], 64)


def test_every_activation_has_a_finite_width_check():
    classes = {c.params["activation"].lower() for c in CHECKS.values()
               if "moment map" in c.name and not c.negative_control}
    assert classes == set(ACTIVATIONS)
    assert {c.params["d"] for c in CHECKS.values() if "moment map" in c.name} >= {2, 16, 64}
    assert sum("sigma_b" in c.params for c in CHECKS.values()) >= 2


def test_names_are_unique_and_controls_are_there():
    assert len(CHECKS) == len(any_activation.checks())
    controls = [name for name, c in CHECKS.items() if c.negative_control]
    for topic in ("infinite-width", "ReLU moment factor", "torch's gain 5/3",
                  "torch's gain 3/4"):
        assert sum(topic in name for name in controls) == 1, topic


@functools.cache
def quick_result(name):
    return run_check(CHECKS[name], seed=0, quick=True)


FAST = [name for name, c in CHECKS.items()
        if c.negative_control or "sigma_b" in c.params or "depth" in c.params
        or "q" in c.params or c.params["activation"] in ("Threshold", "Hardshrink", "PReLU")]


@pytest.mark.parametrize("name", FAST)
def test_quick_check_behaves_as_it_must(name):
    result = quick_result(name)
    assert ok(result), (result.verdict, result.z)

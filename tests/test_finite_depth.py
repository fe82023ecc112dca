"""The finite-depth law of ||x_L||: exact laws of the homogeneous chain, the one-layer
moment map, convergence under grid refinement, and Monte Carlo with torch networks."""
import math

import numpy as np
import pytest

from initmath import log_norm_distribution, moment_factor
from initmath._engine.gaussian import expectation
from initmath.activations import activation
from initmath.finite_depth import depth_law
from initmath.finite_width import moment_map


def _errors(act, a, d, points, depth=10):
    """Largest relative error of E r_L^2, E r_L and the CDF (at mean +- 2 sd of log r_L)
    against the exact laws of the homogeneous chain, sigma critical for s = 2."""
    sigma = 1 / math.sqrt(d * moment_factor(2.0, d, a))
    law = depth_law(depth, d, act, sigma, points=points)
    layers = np.arange(1, depth + 1)
    second = abs(law.moment(2.0) / (moment_factor(2.0, d, a) * sigma ** 2) ** layers - 1)
    first = abs(law.moment(1.0) / (moment_factor(1.0, d, a) * sigma) ** layers - 1)
    exact = log_norm_distribution(depth, sigma, d, a)
    x = exact.mean + np.linspace(-2, 2, 5) * math.sqrt(exact.variance)
    cdf = abs(law.cdf(np.exp(x))[-1] - exact.p_zero - (1 - exact.p_zero) * exact.cdf(x))
    return max(second.max(), first.max()), cdf.max()


@pytest.mark.parametrize(("act", "a", "d"), [
    ("identity", 1.0, 16), ("relu", 0.0, 64),
    (activation("leaky_relu", negative_slope=0.2), 0.2, 32)])
def test_homogeneous_chain_converges_at_second_order(act, a, d):
    """Moments (moment_factor products) and the CDF (log_norm_distribution): the error
    falls ~4x per halving of the cell, to < 2e-3 at 1024 cells."""
    coarse, fine = _errors(act, a, d, 512), _errors(act, a, d, 1024)
    assert fine[0] < 2e-3 and fine[1] < 2e-3
    assert 3.0 < coarse[0] / fine[0] < 5.0
    assert 2.5 < coarse[1] / fine[1] < 6.0


def test_one_sigma_per_layer():
    """E r_L^2 = prod_l sigma_l^2 I_a(2, d) r0^2 with a std per layer (ReLU, d = 64); the
    same std on every layer is the scalar case (tanh with bias)."""
    sigmas = np.array([0.3, 0.15, 0.2, 0.18, 0.16])
    law = depth_law(5, 64, "relu", sigmas, r0=2.0, points=1024)
    exact = np.cumprod(sigmas ** 2 * moment_factor(2.0, 64)) * 4.0
    assert np.allclose(law.moment(2.0), exact, rtol=2e-3)
    same = depth_law(4, 16, "tanh", [0.4] * 4, sigma_b=0.2, points=256)
    assert np.array_equal(same.mass, depth_law(4, 16, "tanh", 0.4, 0.2, points=256).mass)
    with pytest.raises(ValueError, match="sigma"):
        depth_law(4, 16, "tanh", [0.4] * 3)


def test_relu_collapse_is_the_atom():
    """P(r_L = 0) = 1 - (1 - 2^-d)^L exactly (the grid's lower end is far below)."""
    law = depth_law(5, 8, "relu", 0.5)
    exact = -np.expm1(np.arange(1, 6) * math.log1p(-0.5 ** 8))
    assert np.allclose(law.collapse, exact, rtol=1e-3, atol=0)
    assert law.explosion[-1] < 1e-12


@pytest.mark.parametrize("act", ["gelu", "tanh"])
@pytest.mark.parametrize("s", [1.0, 2.0, 4.0])
def test_depth_one_is_the_moment_map(act, s):
    """Depth 1 is one exact step (no start-point discretization): E r_1^s against
    finite_width.moment_map to the O(h^2) of the cell centres."""
    law = depth_law(1, 16, act, 0.4, r0=1.5, points=4096)
    assert law.moment(s)[0] == pytest.approx(moment_map(s, 16, act, 0.4, r=1.5), rel=2e-5)


def test_mass_is_conserved_and_quantiles_invert_the_cdf():
    law = depth_law(8, 16, "tanh", 0.5, sigma_b=0.1)
    total = law.mass.sum(axis=1) + law.collapse + law.explosion
    assert np.allclose(total, 1, atol=1e-12)
    r = law.quantile([0.1, 0.5, 0.9])
    cdf = np.array([law.cdf(r[k])[k] for k in range(law.depth)])
    assert np.allclose(cdf, [0.1, 0.5, 0.9], atol=1e-12)


def test_bad_input():
    with pytest.raises(ValueError, match="depth"):
        depth_law(0, 16, "tanh", 0.5)
    with pytest.raises(ValueError, match="sigma"):
        depth_law(3, 16, "tanh", -1.0)
    with pytest.raises(ValueError, match="points"):
        depth_law(3, 16, "tanh", 0.5, points=4)
    with pytest.raises(ValueError, match="bounds"):
        depth_law(3, 16, "tanh", 0.5, bounds=(2.0, 1.0))


def _simulate(module, d, depth, sigma, sigma_b, n, seed):
    """||x_L||^2 / d of n torch networks (x_0 = ones), L = 1..depth."""
    torch = pytest.importorskip("torch")
    generator = torch.Generator().manual_seed(seed)
    x = torch.ones(n, d, 1, dtype=torch.float64)
    out = []
    for _ in range(depth):
        w = torch.randn(n, d, d, generator=generator, dtype=torch.float64) * sigma
        b = torch.randn(n, d, 1, generator=generator, dtype=torch.float64) * sigma_b
        x = module(torch.bmm(w, x) + b)
        out.append(x.square().sum(dim=(1, 2)).numpy() / d)
    return np.array(out)


def _mean_field(act, d, depth, sigma, sigma_b):
    """The infinite-width prediction: q_L = E phi(c g)^2, c^2 = sigma^2 d q_{L-1} +
    sigma_b^2."""
    phi = activation(act)
    q, out = 1.0, []   # q_0 = ||x_0||^2 / d = 1
    for _ in range(depth):
        q = expectation(lambda x: phi.numpy(x) ** 2, phi.breakpoints,
                        math.sqrt(sigma * sigma * d * q + sigma_b * sigma_b))
        out.append(q)
    return np.array(out)


@pytest.mark.parametrize(("act", "sigma", "sigma_b"), [("tanh", 1.2 / 4, 0.0),
                                                       ("gelu", 1.3 / 4, 0.5)])
def test_monte_carlo_torch_networks(act, sigma, sigma_b):
    """d = 16, 12 layers, 10000 networks: mean and quartiles of ||x_L||^2 / d agree with
    the law (|z| < 4.5 on every layer); the mean-field q_L is rejected (negative
    control)."""
    torch = pytest.importorskip("torch")
    d, depth, n = 16, 12, 10000
    module = {"tanh": torch.tanh, "gelu": torch.nn.functional.gelu}[act]
    samples = _simulate(module, d, depth, sigma, sigma_b, n, seed=15)
    law = depth_law(depth, d, act, sigma, sigma_b, r0=math.sqrt(d))
    error = samples.std(axis=1) / math.sqrt(n)
    z = (samples.mean(axis=1) - law.mean) / error
    assert np.abs(z).max() < 4.5
    if act == "tanh":           # bounded: the sample standard deviation is reliable
        assert np.allclose(samples.std(axis=1), law.spread, rtol=0.05)
    for p in (0.25, 0.5, 0.75):
        # the sample quantile's standard error from the law's density: sqrt(p(1-p)/n)/f
        predicted = law.quantile(p) ** 2 / d
        covered = (samples <= predicted[:, None]).mean(axis=1)
        assert np.abs(covered - p).max() < 4.5 * math.sqrt(p * (1 - p) / n)
    # negative control: the mean-field q_L, taken as the mean or as the median, is rejected
    q = _mean_field(act, d, depth, sigma, sigma_b)
    z_mean = (samples.mean(axis=1) - q) / error
    z_median = ((samples <= q[:, None]).mean(axis=1) - 0.5) / math.sqrt(0.25 / n)
    assert max(np.abs(z_mean).max(), np.abs(z_median).max()) > 10

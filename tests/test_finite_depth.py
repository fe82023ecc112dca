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


def _errors(act, a, d, points=None, depth=10):
    """Largest relative errors of E r_L^s (s = 1/2, 1, 2; every layer) and of the CDF of
    log r_L given r_L > 0 (at mean + k sd, k = -2..2, relative to min(F, 1 - F)) against
    the exact laws of the homogeneous chain, sigma critical for s = 2; and P(r_L = 0)."""
    sigma = 1 / math.sqrt(moment_factor(2.0, d, a))
    law = depth_law(depth, d, act, sigma, points=points)
    layers = np.arange(1, depth + 1)
    moments = max(abs(law.moment(s) / (moment_factor(s, d, a) * sigma ** s) ** layers - 1).max()
                  for s in (0.5, 1.0, 2.0))
    exact = log_norm_distribution(depth, sigma, d, a)
    # at the cell ends nearest mean + k sd, from the masses (no cancellation against
    # P(r_L = 0), which is 1 - 3e-13 at d = 2, depth 100)
    ends = law.centres + law.step / 2
    k = np.searchsorted(ends / 2, exact.mean + np.linspace(-2, 2, 5) * math.sqrt(exact.variance))
    given = np.cumsum(law.mass[-1])[k] / law.mass[-1].sum()
    f = exact.cdf(ends[k] / 2)
    cdf = (abs(given - f) / np.minimum(f, 1 - f)).max()
    return moments, cdf, law.collapse[-1] / exact.p_zero - 1 if exact.p_zero else 0.0


@pytest.mark.parametrize(("act", "a", "d"), [
    ("identity", 1.0, 16), ("relu", 0.0, 64),
    (activation("leaky_relu", negative_slope=0.2), 0.2, 32)])
def test_homogeneous_chain_at_a_coarse_and_the_default_grid(act, a, d):
    """Moments (moment_factor products) and the CDF (log_norm_distribution): with the
    centring correction the grid's error is O(h^6), so even 256 cells give 1e-4."""
    for points in (256, None):
        moments, cdf, _ = _errors(act, a, d, points)
        assert moments < 1e-4 and cdf < 1e-3


@pytest.mark.parametrize("d", [2, 4, 16])
@pytest.mark.parametrize("depth", [10, 100])
def test_relu_small_width_is_exact(d, depth):
    """ReLU at small d (an atom of mass 2^-d, the exact chi-square-mixture step): E r_L^s
    for s = 1/2, 1, 2 and the CDF given survival to 1e-3 relative, and P(r_L = 0) = 1 - (1 -
    2^-d)^L to 1e-9, at depth 10 and 100 (E r_100^2 at d = 2 comes from survivors of
    probability (3/4)^100 ~ 3e-13)."""
    moments, cdf, collapse = _errors("relu", 0.0, d, depth=depth)
    assert moments < 1e-4
    assert cdf < 1e-3
    assert abs(collapse) < 1e-9


def test_centring_correction_is_needed(monkeypatch):
    """Negative control: without the correction of the cell centring (the plain midpoint
    chain) ReLU at d = 16 is off by > 1e-3 in E r_L^s at depth 100; with it, by < 1e-4."""
    from initmath import finite_depth
    monkeypatch.setattr(finite_depth, "_sharpen", lambda mass: mass)
    plain, _, _ = _errors("relu", 0.0, 16, depth=100)
    assert plain > 1e-3


def test_coarse_grid_keeps_masses_nonnegative():
    """A grid coarser than one step (16 cells for tanh) skips the correction, which needs
    a law smooth on the scale of a cell: no negative cell masses, mass conserved."""
    law = depth_law(5, 16, "tanh", 0.4, points=16)
    assert law.mass.min() >= 0
    assert np.allclose(law.mass.sum(axis=1) + law.collapse + law.explosion, 1, atol=1e-12)


@pytest.mark.parametrize(("act", "d", "sigma_b"), [("gelu", 16, 0.0), ("silu", 64, 0.3)])
def test_interpolated_one_step_law_matches_the_exact_one(act, d, sigma_b):
    """The one-step law interpolated between anchors in log c against the law computed
    at every cell (exact=True): CDFs to 1e-6; E r_L^2 to 1e-3 relative while it is not
    tiny (E r_L^2 > 1e-6 E r_1^2; it leans on the one-step law's upper tail, which the
    Fourier series knows only to ~1e-5 for GELU at d = 16, a near-atom at large c)."""
    sigma = 1.5 / math.sqrt(d)
    law = depth_law(30, d, act, sigma, sigma_b)
    exact = depth_law(30, d, act, sigma, sigma_b, exact=True)
    assert np.abs(np.cumsum(law.mass, axis=1) - np.cumsum(exact.mass, axis=1)).max() < 1e-6
    second, reference = law.moment(2.0), exact.moment(2.0)
    big = reference > 1e-6 * reference[0]
    assert np.abs(second[big] / reference[big] - 1).max() < 1e-3


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
    assert np.allclose(law.collapse, exact, rtol=1e-9, atol=0)
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


@pytest.mark.parametrize(("act", "d"), [("identity", 1), ("gelu", 2), ("relu6", 8)])
def test_unresolved_one_step_law_is_refused(act, d):
    """A one-step law the Fourier series cannot resolve (chi-square(1) at d = 1, GELU's
    near-atom at d = 2, ReLU6's atom at d = 8) raises instead of giving wrong numbers
    (identity at d = 1 gave E r_1^2 = 2.3 instead of 1); ReLU's exact law has no limit."""
    with pytest.raises(ValueError, match="d: at d = "):
        depth_law(3, d, act, 0.7)
    law = depth_law(3, 1, "relu", 1.0)
    assert law.moment(2.0) == pytest.approx(0.5 ** np.arange(1, 4), rel=1e-4)


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


def test_small_width_laws_are_refused_not_approximated():
    """At d = 2 the Fourier series resolves tanh's one-step law only to a few % (its mean
    was 2% off, E r_10^2 1.035 r0^2 against 0.977 simulated): refused with a ValueError
    naming d, while d = 4 is accepted with the first two moments of the one-step law
    right (moment_map at s = 2 and s = 4, after one layer)."""
    with pytest.raises(ValueError, match="d: at d = 2 the one-step law of tanh"):
        depth_law(3, 2, "tanh", 0.6, 0.5, r0=0.7)
    law = depth_law(1, 4, "tanh", 0.6, 0.5, r0=0.7)
    for s in (2.0, 4.0):
        exact = float(moment_map(s, 4, "tanh", 0.6, r=0.7, sigma_b=0.5))
        assert abs(law.moment(s)[0] / exact - 1) < 2e-3


@pytest.mark.parametrize("d", [2, 4, 16])
def test_relu_with_bias_restarts_from_zero(d):
    """With a bias r = 0 is not absorbing: P(r_L = 0) = 2^-d at every layer (all units
    inactive, whatever the input), and E r_L^2 follows the exact affine recursion
    m_L = d (sigma^2 m_{L-1} + sigma_b^2) / 2.  Negative control: the absorbing chain's
    collapse 1 - (1 - 2^-d)^L."""
    sigma, sigma_b, depth = 1.27 / math.sqrt(d), 0.5, 6
    law = depth_law(depth, d, "relu", sigma, sigma_b, r0=1.0)
    m = [1.0]
    for _ in range(depth):
        m.append(d * (sigma ** 2 * m[-1] + sigma_b ** 2) / 2)
    assert np.allclose(law.moment(2.0), m[1:], rtol=1e-4)
    assert np.allclose(law.collapse, 0.5 ** d, rtol=1e-6)
    absorbing = -np.expm1(np.arange(1, depth + 1) * math.log1p(-0.5 ** d))
    assert not np.allclose(law.collapse[1:], absorbing[1:], rtol=1e-2)


def test_norms_beyond_float64_are_refused():
    # sigma = 1 at d = 8 doubles E r^2 per layer, sigma = 0.1 divides it by 25: by layer
    # 1000 the norms leave float64's range either way, and the refusal names the arguments
    # (it was an OverflowError, and numpy's "v cannot be empty")
    for sigma in (1.0, 0.1):
        with pytest.raises(ValueError, match="sigma, depth"):
            depth_law(1000, 8, "relu", sigma)

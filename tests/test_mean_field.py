"""Mean-field theory for any activation (initmath.mean_field) and the activations' phi':
closed forms (ReLU, leaky ReLU, the erf arcsine kernel), the fixed points' equations,
Price's and Stein's identities against finite differences of the maps, float64 against
30-digit mpmath, SELU's self-normalizing fixed point, torch's gains (exact for the
rectifiers, not for tanh and SELU), and a wide torch MLP at the computed tanh gain."""
import math

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special

from initmath._engine.gaussian import expectation, expectation_mp
from initmath.activations import ACTIVATIONS, Activation, Derivative, activation
from initmath.mean_field import (
    chi_1,
    correlation_map,
    depth_scales,
    fixed_point_correlation,
    fixed_point_variance,
    gain,
    variance_map,
)

# phi = erf: E erf(u1) erf(u2) = (2/pi) arcsin(2 q c / (1 + 2q)) (Williams 1997).
ERF = Activation("erf", special.erf, mpmath.erf, (0.0,), None,
                 Derivative(lambda x: 2 / math.sqrt(math.pi) * np.exp(-x * x),
                            lambda x: 2 / mpmath.sqrt(mpmath.pi) * mpmath.exp(-x * x)))
# ReLU as a plain piecewise function (no slopes): goes through the quadrature, not the
# closed form of positively homogeneous activations.
RELU_QUADRATURE = Activation("relu-by-quadrature", lambda x: np.maximum(x, 0.0),
                             lambda x: max(x, 0), (0.0,), None,
                             Derivative(lambda x: np.where(x > 0, 1.0, 0.0),
                                        lambda x: mpmath.mpf(int(x > 0))))
PARAMETERS = {"threshold": {"threshold": 0.1, "value": 20.0}}


def _arccos_kernel(c):
    """E relu(z1) relu(z2), unit variances, correlation c (Cho & Saul 2009)."""
    return (np.sqrt(1 - c * c) + (np.pi - np.arccos(c)) * c) / (2 * np.pi)


@pytest.mark.parametrize("phi", [activation(n, **PARAMETERS.get(n, {})) for n in ACTIVATIONS]
                         + [activation("gelu", approximate="tanh"),
                            activation("elu", alpha=0.4), activation("celu", alpha=2.5),
                            activation("softplus", beta=3.0, threshold=4.0),
                            activation("hardtanh", min_val=-0.5, max_val=2.0)],
                         ids=lambda phi: phi.name)
def test_derivative_is_the_derivative_of_phi(phi):
    """phi' (float64 and mpmath) against mpmath's numerical derivative of phi at 40 digits,
    away from the breakpoints."""
    with mpmath.workdps(40):
        for x in (-7.3, -3.5, -2.9, -1.2, -0.45, -0.1, 0.13, 0.6, 2.2, 3.3, 7.9, 25.0):
            if any(abs(x - b) < 1e-3 for b in phi.breakpoints):
                continue
            exact = mpmath.diff(phi.mpmath, mpmath.mpf(x))
            scale = max(1, abs(float(exact)))
            assert abs(float(phi.derivative.numpy(np.array(x))) - float(exact)) <= 3e-16 * scale
            assert abs(phi.derivative.mpmath(mpmath.mpf(x)) - exact) <= mpmath.mpf(10) ** -35
    assert phi.derivative.numpy(np.linspace(-2, 2, 7)).shape == (7,)


def test_relu_second_moment_is_one_half_by_quadrature_and_closed_form():
    for phi in ("relu", RELU_QUADRATURE):
        assert abs(variance_map(1.0, phi, 1.0) - 0.5) < 1e-16
        assert variance_map(2.5, phi, 2.0, 0.25, dps=30) == mpmath.mpf("2.75")
    q = np.array([0.0, 0.3, 1.0, 7.0])
    np.testing.assert_allclose(variance_map(q, RELU_QUADRATURE, 2.0), q, rtol=1e-15, atol=0)


def test_relu_correlation_map_is_the_arccos_kernel():
    c = np.linspace(-1, 1, 21)
    for phi in ("relu", RELU_QUADRATURE):
        got = correlation_map(c, phi, 2.0)
        np.testing.assert_allclose(got, _arccos_kernel(c) / 0.5, rtol=0, atol=4e-16)
    # leaky ReLU = relu(x) - a relu(-x); with a bias, at q* = 0.2 / (1 - 0.8 (1 + a^2) / 2).
    a, sw, sb = 0.3, 0.8, 0.2
    q = sb / (1 - sw * (1 + a * a) / 2)
    pair = q * ((1 + a * a) * _arccos_kernel(c) - 2 * a * _arccos_kernel(-c))
    np.testing.assert_allclose(correlation_map(c, activation("leaky_relu", negative_slope=a),
                                               sw, sb), (sw * pair + sb) / q, rtol=0,
                               atol=1e-15)


@pytest.mark.parametrize("q", [0.05, 1.0, 20.0])
def test_erf_correlation_map_is_the_arcsine_kernel(q):
    c = np.linspace(-1, 1, 21)
    kernel = 2 / np.pi * np.arcsin(2 * q * c / (1 + 2 * q))
    expected = (1.7 * kernel + 0.1) / (1.7 * kernel[-1] + 0.1)
    np.testing.assert_allclose(correlation_map(c, ERF, 1.7, 0.1, q=q), expected, rtol=0,
                               atol=1e-15)


def test_tanh_fixed_point_solves_its_equation():
    for sw, sb in ((1.5, 0.0), (2.0, 0.05), (4.0, 0.5), (0.8, 0.3)):
        q = fixed_point_variance("tanh", sw, sb)
        assert abs(variance_map(q, "tanh", sw, sb) - q) <= 2e-15 * q
        exact = fixed_point_variance("tanh", sw, sb, dps=30)
        with mpmath.workdps(40):        # (variance_map takes q as a float64)
            image = sw * expectation_mp(lambda x: mpmath.tanh(x) ** 2, (0,),
                                        mpmath.sqrt(exact)) + mpmath.mpf(sb)
            assert abs(image - exact) < 1e-29 * exact
        assert abs(q - float(exact)) <= 1e-13 * q
    qs = fixed_point_variance("tanh", [1.5, 2.0], [[0.0], [0.05]])
    assert qs.shape == (2, 2) and qs[1, 1] == fixed_point_variance("tanh", 2.0, 0.05)


def test_fixed_point_of_positively_homogeneous_activations_is_closed_form():
    assert fixed_point_variance("relu", 1.0, 0.5) == 1.0
    a = 0.2
    q = fixed_point_variance(activation("leaky_relu", negative_slope=a), 1.5, 0.1, dps=40)
    a = mpmath.mpf(a)
    with mpmath.workdps(40):
        assert q == mpmath.mpf(0.1) / (1 - mpmath.mpf(1.5) * (1 + a * a) / 2)


def test_chi_1_for_relu_is_one_at_he_and_for_tanh_at_the_small_q_edge():
    assert chi_1("relu", 2.0) == 1.0
    assert chi_1(RELU_QUADRATURE, 2.0, q=3.0) == pytest.approx(1.0, rel=1e-15, abs=0)
    np.testing.assert_allclose(chi_1("relu", [1.0, 2.0, 3.0]), [0.5, 1.0, 1.5], rtol=1e-16)


def test_chi_1_is_the_slope_of_the_correlation_map_at_one():
    """Price's theorem: c'(1 - h) = 1 - chi_1 h + O(h^2), at q = q*."""
    sw, sb = 2.5, 0.1
    h = 1e-4
    slope = (1 - correlation_map(1 - h, "tanh", sw, sb)) / h
    slope2 = (1 - correlation_map(1 - 2 * h, "tanh", sw, sb)) / (2 * h)
    assert abs(2 * slope - slope2 - chi_1("tanh", sw, sb)) < 1e-6     # Richardson


def test_depth_scales_are_the_slopes_of_the_maps_at_their_fixed_points():
    """xi_q from Stein's identity and xi_c from Price's, against central differences of
    variance_map at q* and correlation_map at c* (chaotic and ordered tanh, and SiLU)."""
    for phi, sw, sb in (("tanh", 2.5, 0.1), ("tanh", 1.2, 0.3), ("silu", 1.5, 0.05)):
        q = fixed_point_variance(phi, sw, sb)
        c = fixed_point_correlation(phi, sw, sb)
        xi = depth_scales(phi, sw, sb)
        h = 1e-4 * q
        chi_q = (variance_map(q + h, phi, sw, sb) - variance_map(q - h, phi, sw, sb)) / (2 * h)
        assert abs(math.exp(-1 / xi.variance) - chi_q) < 1e-7
        if c < 1:
            assert abs(correlation_map(c, phi, sw, sb) - c) < 1e-14
            k = 1e-4
            chi_c = (correlation_map(c + k, phi, sw, sb)
                     - correlation_map(c - k, phi, sw, sb)) / (2 * k)
        else:
            chi_c = chi_1(phi, sw, sb)
        assert abs(math.exp(-1 / xi.correlation) - chi_c) < 1e-7
    assert depth_scales("relu", 2 - 1e-9, 1.0).correlation > 1e8     # near the boundary


def test_fixed_point_correlation_in_the_two_phases():
    assert abs(fixed_point_correlation("tanh", 4.0)) < 1e-12          # odd phi, no bias
    assert fixed_point_correlation("tanh", 0.5, 0.1) == 1.0            # ordered
    assert fixed_point_correlation("relu", 3.0) == 1.0                 # ReLU: c' is sigma-free
    c = fixed_point_correlation("tanh", [2.5, 4.0], 0.1)
    assert 0 < c[1] < c[0] < 1


def test_selu_is_self_normalizing():
    """q* = 1 at sigma_w^2 = 1, sigma_b^2 = 0 (Klambauer et al. 2017), to the digits of its
    constants: E selu(z)^2 = 1 and E selu(z) = 0."""
    assert abs(fixed_point_variance("selu", 1.0) - 1) < 1e-14
    assert abs(gain("selu") - 1) < 1e-15
    assert abs(gain("selu", dps=30) - 1) < 1e-15
    selu = activation("selu")
    assert abs(expectation(selu.numpy, selu.breakpoints, 1.0)) < 1e-15


def test_gain_preserves_the_second_moment_and_matches_torch_for_rectifiers():
    torch = pytest.importorskip("torch")
    calculate = torch.nn.init.calculate_gain
    assert gain("relu") == calculate("relu")
    assert gain("identity") == calculate("linear") == 1
    for a in (0.01, 0.2):
        assert math.isclose(gain(activation("leaky_relu", negative_slope=a)),
                            calculate("leaky_relu", a), rel_tol=1e-15)
    exact = gain("tanh", dps=30)
    with mpmath.workdps(30):
        assert abs(exact - mpmath.mpf("1.59253741972283142777043884602")) < 1e-28
    assert abs(gain("tanh") - exact) < 4e-16


def test_torch_tanh_and_selu_gains_do_not_preserve_the_second_moment():
    """Negative control: torch's 5/3 (tanh) and 3/4 (SELU) move q = 1 by far more than the
    quadrature's error, while the exact gains keep it to rounding."""
    assert abs(variance_map(1.0, "tanh", (5 / 3) ** 2) - 1) > 0.09
    assert abs(variance_map(1.0, "selu", 0.75 ** 2) - 1) > 0.4
    assert abs(variance_map(1.0, "tanh", gain("tanh") ** 2) - 1) < 4e-16


@pytest.mark.parametrize("name", ["tanh", "gelu", "silu", "selu", "softplus", "sigmoid",
                                  "hardswish", "mish", "softsign", "elu"])
def test_float64_agrees_with_mpmath(name):
    q = np.array([0.01, 1.0, 30.0])
    for f, g in ((variance_map(q, name, 1.3, 0.2), variance_map(q, name, 1.3, 0.2, dps=30)),
                 (gain(name, q), gain(name, q, dps=30)),
                 (chi_1(name, 1.3, 0.2, q=q), chi_1(name, 1.3, 0.2, q=q, dps=30))):
        for x, y in zip(f, g):
            assert abs(x - float(y)) <= 1e-13 * abs(float(y)), (name, x, y)
    if name not in ("softplus", "sigmoid"):     # phi(0) != 0: q' > q at any sigma_w2
        return
    q_star, exact = fixed_point_variance(name, 1.3, 0.2), fixed_point_variance(name, 1.3, 0.2,
                                                                                dps=30)
    assert abs(q_star - float(exact)) <= 1e-13 * q_star
    assert abs(chi_1(name, 1.3, 0.2) - float(chi_1(name, 1.3, 0.2, dps=30))) < 1e-14


def test_dps_results_carry_the_digits_asked():
    with mpmath.workdps(50):
        reference = fixed_point_variance("gelu", 2.0, 0.1, dps=50)
    for dps in (15, 30):
        value = fixed_point_variance("gelu", 2.0, 0.1, dps=dps)
        assert abs(value - reference) <= mpmath.mpf(10) ** (1 - dps) * reference


@settings(max_examples=30, deadline=None)
@given(st.floats(0.01, 50), st.floats(0.01, 10), st.floats(0.0, 2.0), st.floats(1.001, 3.0),
       st.sampled_from(["tanh", "gelu", "silu", "sigmoid", "elu", "hardtanh"]))
def test_variance_map_is_increasing_in_sigma_w2_and_gain_preserves_q(q, sw, sb, factor, name):
    assert variance_map(q, name, sw * factor, sb) > variance_map(q, name, sw, sb)
    assert math.isclose(variance_map(q, name, gain(name, q) ** 2), q, rel_tol=1e-14)


@pytest.mark.parametrize("call, match", [
    (lambda: variance_map(-1.0, "tanh", 1.0), "q must be finite and lie in"),
    (lambda: variance_map(1.0, "tanh", 0.0), "sigma_w2 must be finite"),
    (lambda: variance_map(1.0, "tanh", 1.0, -0.1), "sigma_b2 must be finite"),
    (lambda: variance_map(1.0, "tanh", [1.0, 2.0], [0.1, 0.2, 0.3]), "must broadcast"),
    (lambda: variance_map(1.0, "tanh", 1.0, dps=0), "dps must be"),
    (lambda: variance_map(1.0, "swish2", 1.0), "activation must be one of"),
    (lambda: correlation_map(1.5, "tanh", 2.0, 0.1), "c must be finite and lie in"),
    (lambda: chi_1("tanh", 2.0, q=0.0), "q must be finite"),
    (lambda: gain("tanh", 0.0), "q must be finite"),
    (lambda: gain(Activation("zero", lambda x: 0 * x, lambda x: 0 * x, ())), "vanishes"),
    (lambda: fixed_point_variance("tanh", 0.9), r"q -> 0"),
    (lambda: fixed_point_variance("tanh", 1.0), r"q -> 0"),
    (lambda: fixed_point_variance("relu", 1.5), r"q -> 0"),
    (lambda: fixed_point_variance("relu", 2.5), r"q -> infinity"),
    (lambda: fixed_point_variance("relu", 2.0, 0.1), r"q -> infinity"),
    (lambda: fixed_point_variance("elu", 2.5), r"q -> infinity"),
    (lambda: fixed_point_variance("relu", 2.0), "every q is a fixed point"),
    (lambda: depth_scales("relu", 1.0), r"q -> 0"),
    (lambda: chi_1(lambda x: x * x, 1.0, q=1.0), "needs phi'"),
    (lambda: chi_1("hardshrink", 1.0, q=1.0), "jumps at x = -0.5, 0.5"),
    (lambda: depth_scales(activation("threshold", threshold=0.1, value=2.0), 1.0, 0.1),
     "jumps"),
])
def test_bad_input_is_refused(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_jumps_are_chaotic_for_the_correlation_fixed_point():
    """A jump makes c = 1 repel (chi_1 = inf): hardshrink's c* < 1 even with small weights."""
    c = fixed_point_correlation("hardshrink", 0.5, 0.5)
    assert 0 < c < 1
    assert abs(correlation_map(c, "hardshrink", 0.5, 0.5) - c) < 1e-14


def test_monte_carlo_wide_tanh_mlp_keeps_the_second_moment_at_the_exact_gain():
    """d = 2048, depth 10, h_{l+1} = W tanh(h_l), W_ij ~ N(0, g^2/d), q_0 = 1: the mean of
    ||h_l||^2 / d over 6 networks stays within 4 standard errors of 1 at every layer (the
    O(1/d) finite-width bias, ~1e-4, is well below the ~2e-3 standard error).  Negative
    control: at torch's 5/3 the same statistic leaves 1 by > 20 standard errors and follows
    the iterated variance map instead."""
    torch = pytest.importorskip("torch")
    d, depth = 2048, 10
    threads = torch.get_num_threads()
    torch.set_num_threads(min(threads, 2))
    try:
        def simulate(g, networks, seed):
            generator = torch.Generator().manual_seed(seed)
            out = np.empty((networks, depth))
            for n in range(networks):
                h = torch.randn(32, d, generator=generator)
                for layer in range(depth):
                    w = torch.randn(d, d, generator=generator) * (g / math.sqrt(d))
                    h = torch.tanh(h) @ w.T
                    out[n, layer] = float((h * h).sum(1).mean()) / d
            return out.mean(0), out.std(0, ddof=1) / math.sqrt(networks)

        mean, se = simulate(float(gain("tanh")), 6, 0)
        assert np.all(np.abs(mean - 1) < 4 * se), (mean, se)
        control, control_se = simulate(5 / 3, 3, 1)
    finally:
        torch.set_num_threads(threads)
    predicted = [1.0]
    for _ in range(depth):
        predicted.append(variance_map(predicted[-1], "tanh", 25 / 9))
    assert np.all(np.abs(control[2:] - 1) > 20 * se[2:])
    assert abs(control[-1] - predicted[-1]) < 4 * max(se[-1], control_se[-1])

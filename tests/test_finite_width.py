"""initmath.finite_width: the exact one-layer moment map E[r'^s | r] for any activation."""
import math

import mpmath
import numpy as np
import pytest

from initmath import critical_sigma, moment_factor
from initmath._engine.gaussian import expectation, expectation_mp, gaussian_rule
from initmath.activations import activation
from initmath.finite_width import moment_map, moment_preserving_sigma

SMOOTH = ["gelu", "tanh", "silu", "selu"]


@pytest.mark.parametrize("a", [0.0, 0.2, 1.0])
@pytest.mark.parametrize("s", [0.1, 0.5, 1.0, 1.5, 2.0, 3.0, 5.3])
@pytest.mark.parametrize("d", [1, 2, 64, 1000])
def test_homogeneous_activation_is_the_moment_factor(a, s, d):
    """phi = max(x, a x), no bias: E Z^(s/2) = (sigma r)^s I_a(s, d), the exact oracle."""
    phi = activation("leakyrelu", negative_slope=a)
    sigma, r = 0.7, 1.3
    expected = moment_factor(s, d, a) * (sigma * r) ** s
    assert moment_map(s, d, phi, sigma, r=r) == pytest.approx(expected, rel=1e-13)


@pytest.mark.parametrize("name", SMOOTH + ["sigmoid", "hardswish", "softshrink", "mish"])
@pytest.mark.parametrize("c", [0.3, 1.0, 3.0])
@pytest.mark.parametrize("s", [0.5, 1.0, 3.0])
def test_width_one_is_a_single_gaussian_integral(name, c, s):
    """d = 1: E|phi(c g)|^s, computed directly at 25 digits (mpmath.quad)."""
    phi = activation(name)
    with mpmath.workdps(25):
        exact = expectation_mp(lambda x: abs(phi.mpmath(x)) ** s, phi.breakpoints, c)
    assert moment_map(s, 1, phi, c) == pytest.approx(float(exact), rel=1e-12)


@pytest.mark.parametrize("name", SMOOTH + ["relu6", "softplus", "elu"])
@pytest.mark.parametrize("s", [0.5, 1.0, 3.0])
def test_width_two_is_a_double_gaussian_integral(name, s):
    """d = 2: sum_ij w_i w_j (y_i + y_j)^(s/2) on the tensor product of the 1-D rule."""
    phi = activation(name)
    x, w = gaussian_rule(phi.breakpoints, 1.5)
    y = phi.numpy(x) ** 2
    exact = np.outer(w, w).ravel() @ (y[:, None] + y[None, :]).ravel() ** (s / 2)
    assert moment_map(s, 2, phi, 1.2, r=1.25) == pytest.approx(exact, rel=1e-12)


@pytest.mark.parametrize("name", SMOOTH + ["sigmoid", "hardtanh"])
@pytest.mark.parametrize("d", [1, 2, 64])
def test_second_and_fourth_moments_in_closed_form(name, d):
    """s = 2: d E Y; s = 4: d E Y^2 + d (d - 1) (E Y)^2, with Y = phi(c g)^2."""
    phi = activation(name)
    sigma, r, sigma_b = 0.9, 1.1, 0.4
    c = math.sqrt(sigma ** 2 * r ** 2 + sigma_b ** 2)
    ey = expectation(lambda x: phi.numpy(x) ** 2, phi.breakpoints, c)
    ey2 = expectation(lambda x: phi.numpy(x) ** 4, phi.breakpoints, c)
    assert moment_map(2, d, phi, sigma, r, sigma_b) == pytest.approx(d * ey, rel=1e-14)
    assert moment_map(4, d, phi, sigma, r, sigma_b) == pytest.approx(
        d * ey2 + d * (d - 1) * ey ** 2, rel=1e-13)


@pytest.mark.parametrize("name", SMOOTH)
@pytest.mark.parametrize("s, d", [(2, 64), (4, 3), (6, 1000), (1, 1), (0.5, 1)])
def test_float64_agrees_with_thirty_digits(name, s, d):
    exact = moment_map(s, d, name, 0.8, r=1.1, sigma_b=0.2, dps=30)
    assert isinstance(exact, mpmath.mpf)
    assert moment_map(s, d, name, 0.8, r=1.1, sigma_b=0.2) == pytest.approx(float(exact),
                                                                           rel=1e-14)


def test_thirty_digits_are_correct():
    """E tanh(g)^2 at 30 digits, against mpmath.quad at 40 digits on the whole line."""
    value = moment_map(2, 1, "tanh", 1.0, dps=30)
    with mpmath.workdps(40):
        exact = mpmath.quad(lambda g: mpmath.tanh(g) ** 2 * mpmath.npdf(g), [-mpmath.inf, 0,
                                                                            mpmath.inf])
    assert mpmath.almosteq(value, exact, rel_eps=mpmath.mpf(10) ** -29)


@pytest.mark.parametrize("name", ["gelu", "tanh", "selu"])
def test_mean_field_limit(name):
    """moment_map(2, d) / d is the mean-field length map E phi(c g)^2 for every d, and
    moment_map(s, d)^(2/s) / d tends to it as d -> infinity (error O(1/d))."""
    phi = activation(name)
    q = expectation(lambda x: phi.numpy(x) ** 2, phi.breakpoints, 1.3)
    assert moment_map(2, 10 ** 9, phi, 1.3) / 10 ** 9 == pytest.approx(q, rel=1e-14)
    scaled = [d * (moment_map(1.0, d, phi, 1.3) ** 2 / d / q - 1) for d in (100, 10000)]
    assert scaled[0] == pytest.approx(scaled[1], rel=0.02)


def test_activation_forms_and_broadcasting():
    torch = pytest.importorskip("torch")
    by_module = moment_map(1.0, 8, torch.nn.GELU(), 1.0)
    assert by_module == moment_map(1.0, 8, "gelu", 1.0)
    out = moment_map([1.0, 2.0], [[4], [16]], "tanh", 0.5)
    assert out.shape == (2, 2)
    assert out[1, 1] == pytest.approx(16 * expectation(lambda x: np.tanh(x) ** 2, (0.0,), 0.5),
                                      rel=1e-14)


@pytest.mark.parametrize("a", [0.0, 0.3])
@pytest.mark.parametrize("s, d", [(1.0, 8), (0.5, 2), (3.0, 64)])
def test_preserving_sigma_of_homogeneous_activation_is_critical_sigma(a, s, d):
    phi = activation("leakyrelu", negative_slope=a)
    assert moment_preserving_sigma(s, d, phi, r=2.5) == pytest.approx(critical_sigma(s, d, a),
                                                                       rel=1e-13)


@pytest.mark.parametrize("name", SMOOTH)
def test_preserving_sigma_preserves_the_moment(name):
    s, d, r, sigma_b = 1.0, 16, 0.7, 0.1
    sigma = moment_preserving_sigma(s, d, name, r=r, sigma_b=sigma_b)
    assert moment_map(s, d, name, sigma, r, sigma_b) == pytest.approx(r ** s, rel=1e-12)


def test_no_preserving_sigma_for_a_bounded_activation():
    """|tanh| < 1: the output norm stays below sqrt(d) = 2 < r = 3."""
    with pytest.raises(ValueError, match="no sigma"):
        moment_preserving_sigma(2.0, 4, "tanh", r=3.0)


@pytest.mark.parametrize("kwargs, match", [
    (dict(s=0.0), "s must"), (dict(s=101.0), "s must"), (dict(d=0), "d must"),
    (dict(d=2.5), "d must"), (dict(sigma=0.0), "sigma must"), (dict(r=-1.0), "r must"),
    (dict(sigma_b=-0.1), "sigma_b must"), (dict(sigma=math.nan), "sigma must"),
    (dict(activation="nope"), "activation must"), (dict(dps=0), "dps must"),
    (dict(s=1.0, d=4, dps=20), "dps= needs"),
])
def test_bad_input(kwargs, match):
    args = dict(s=2.0, d=4, activation="gelu", sigma=1.0) | kwargs
    with pytest.raises(ValueError, match=match):
        moment_map(**args)


def test_overflow_raises():
    with pytest.raises(ValueError, match="not representable"):
        moment_map(100.0, 2 ** 53, "selu", 10.0)

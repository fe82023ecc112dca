"""initmath.finite_width: the exact one-layer moment map E[r'^s | r] for any activation."""
import math

import mpmath
import numpy as np
import pytest

from initmath import critical_sigma, moment_factor
from initmath._engine.gaussian import expectation, expectation_mp, gaussian_rule
from initmath.activations import activation
from initmath.finite_width import (
    fixed_point_norm,
    moment_map,
    moment_map_expansion,
    moment_preserving_sigma,
    moment_preserving_sigma_b,
)
from initmath.mean_field import fixed_point_variance

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
    (dict(s=1.0, d=4, dps=500), "would take about"),
])
def test_bad_input(kwargs, match):
    args = dict(s=2.0, d=4, activation="gelu", sigma=1.0) | kwargs
    with pytest.raises(ValueError, match=match):
        moment_map(**args)


def test_overflow_raises():
    with pytest.raises(ValueError, match="not representable"):
        moment_map(100.0, 2 ** 53, "selu", 10.0)


# ------------------------------------------------------------------ the 1/d expansion
@pytest.mark.parametrize("name", ["gelu", "tanh", "relu"])
@pytest.mark.parametrize("d", [1, 7, 64])
def test_expansion_is_exact_for_low_integer_moments(name, d):
    """h = 1: no correction; h = 2: the 1/d term is all (d^2 mu^2 + d Var Y); h = 3: the
    1/d^2 term completes it (E(1 + X)^3 = 1 + 3 E X^2 + E X^3)."""
    args = (name, 0.9, 1.1, 0.3)
    for s, order in [(2, 1), (2, 2), (4, 1), (4, 2), (6, 2)]:
        assert moment_map_expansion(s, d, *args, order=order) == pytest.approx(
            moment_map(s, d, *args), rel=1e-13)
    assert moment_map_expansion(6, d, *args) != pytest.approx(moment_map(6, d, *args),
                                                              rel=1e-6)


@pytest.mark.parametrize("name", ["relu", "gelu", "tanh"])
@pytest.mark.parametrize("s", [0.5, 1.0, 3.0])
def test_first_order_error_is_the_second_order_term(name, s):
    """d^2 (first order / exact - 1) tends to the 1/d^2 coefficient: the first-order
    expansion is right to O(1/d^2), and the closed-form second-order term is its error."""
    d = 10 ** 4
    exact = moment_map(s, d, name, 1.1)
    first, second = (moment_map_expansion(s, d, name, 1.1, order=k) for k in (1, 2))
    assert d ** 2 * (exact - first) / first == pytest.approx(
        d ** 2 * (second - first) / first, rel=3e-3)
    assert abs(second / exact - 1) < 1e-11


@pytest.mark.parametrize("name", ["relu", "tanh"])
def test_second_order_error_is_cubic_in_one_over_d(name):
    errors = [moment_map_expansion(1.0, d, name, 1.3, order=2) / moment_map(1.0, d, name, 1.3)
              - 1 for d in (300, 3000)]
    assert 500 < errors[0] / errors[1] < 2000


def test_expansion_of_relu_in_closed_form_at_thirty_digits():
    """ReLU: Y / mu = 2 max(g, 0)^2 has kappa_2 = 5, kappa_3 = 8 E g^6/2 - 12 E g^4/2
    + 6 E g^2/2 - 1 = 44."""
    s, d, c = mpmath.mpf("1.5"), 20, mpmath.mpf("0.75")
    h = s / 2
    with mpmath.workdps(40):
        expected = (d * c ** 2 / 2) ** h * (1 + mpmath.binomial(h, 2) * 5 / d
                                            + (mpmath.binomial(h, 3) * 44
                                               + 3 * mpmath.binomial(h, 4) * 25) / d ** 2)
    value = moment_map_expansion(1.5, d, "relu", 0.75, order=2, dps=30)
    assert isinstance(value, mpmath.mpf)
    assert mpmath.almosteq(value, expected, rel_eps=mpmath.mpf(10) ** -29)


@pytest.mark.parametrize("name", ["gelu", "selu"])
def test_expansion_float64_agrees_with_thirty_digits(name):
    for order in (1, 2):
        exact = moment_map_expansion(0.7, 12, name, 0.8, 1.1, 0.2, order=order, dps=30)
        assert moment_map_expansion(0.7, 12, name, 0.8, 1.1, 0.2, order=order) == \
            pytest.approx(float(exact), rel=1e-13)


@pytest.mark.parametrize("order", [0, 3, 1.5])
def test_expansion_order_must_be_one_or_two(order):
    with pytest.raises(ValueError, match="order must"):
        moment_map_expansion(1.0, 4, "gelu", 1.0, order=order)


# ------------------------------------------------------------ the bias that preserves
@pytest.mark.parametrize("a", [0.0, 0.3])
@pytest.mark.parametrize("s, d", [(1.0, 8), (0.5, 2), (4.0, 64)])
def test_preserving_bias_of_homogeneous_activation(a, s, d):
    """c = sqrt(sigma^2 r^2 + sigma_b^2) = r * critical_sigma(s, d, a)."""
    phi = activation("leakyrelu", negative_slope=a)
    sigma, r = 0.4 * critical_sigma(s, d, a), 1.7
    b = moment_preserving_sigma_b(s, d, phi, sigma, r=r)
    assert math.hypot(sigma * r, b) == pytest.approx(r * critical_sigma(s, d, a), rel=1e-13)


@pytest.mark.parametrize("name", SMOOTH)
@pytest.mark.parametrize("s", [1.0, 2.0])
def test_preserving_bias_and_preserving_sigma_are_inverse(name, s):
    d, r = 16, 0.7
    sigma = 0.5 * moment_preserving_sigma(s, d, name, r=r)
    b = moment_preserving_sigma_b(s, d, name, sigma, r=r)
    assert b > 0
    assert moment_map(s, d, name, sigma, r, b) == pytest.approx(r ** s, rel=1e-12)
    assert moment_preserving_sigma(s, d, name, r=r, sigma_b=b) == pytest.approx(sigma,
                                                                                rel=1e-11)


def test_preserving_bias_grows_as_sigma_falls():
    sigmas = np.array([0.05, 0.1, 0.2])
    b = moment_preserving_sigma_b(2.0, 16, "gelu", sigmas)
    assert b.shape == (3,) and np.all(np.diff(b) < 0)


def test_no_preserving_bias():
    with pytest.raises(ValueError, match="no bias"):       # sigma alone is too large
        moment_preserving_sigma_b(2.0, 16, "gelu", 2 * moment_preserving_sigma(2.0, 16, "gelu"))
    with pytest.raises(ValueError, match="no sigma_b"):    # |tanh| < 1: norm < sqrt(d) < r
        moment_preserving_sigma_b(2.0, 4, "tanh", 0.1, r=3.0)


# ------------------------------------------------------------ the finite-width fixed point
@pytest.mark.parametrize("name", ["tanh", "gelu", "selu", "sigmoid"])
@pytest.mark.parametrize("d", [1, 16, 256])
def test_second_moment_fixed_point_is_the_mean_field_one(name, d):
    """s = 2: c*^2 = q* at sigma_w^2 = d sigma^2, and G'(r*) = sigma_w^2 dE phi(sqrt(q) g)^2
    / dq at q* (by the derivative of the Gaussian density in its variance, no phi')."""
    sigma, sigma_b = 1.2 / math.sqrt(d), 0.3
    r, slope = fixed_point_norm(2.0, d, name, sigma, sigma_b)
    q = fixed_point_variance(name, d * sigma ** 2, sigma_b ** 2)
    assert sigma ** 2 * r ** 2 + sigma_b ** 2 == pytest.approx(q, rel=1e-12)
    phi = activation(name)
    chi_q = d * sigma ** 2 * expectation(lambda x: phi.numpy(x) ** 2 * (x * x / q - 1),
                                         phi.breakpoints, math.sqrt(q)) / (2 * q)
    assert slope == pytest.approx(chi_q, abs=1e-9)


@pytest.mark.parametrize("a", [0.0, 0.5])
@pytest.mark.parametrize("s, d", [(1.0, 16), (0.5, 3), (3.0, 100)])
def test_fixed_point_of_homogeneous_activation(a, s, d):
    """G(r) = sqrt(sigma^2 r^2 + sigma_b^2) / sigma_bar: r*^2 = sigma_b^2 / (sigma_bar^2
    (1 - kappa^2)), G'(r*) = kappa^2, kappa = sigma / sigma_bar."""
    phi = activation("leakyrelu", negative_slope=a)
    bar = critical_sigma(s, d, a)
    sigma, sigma_b = 0.6 * bar, 0.25
    r, slope = fixed_point_norm(s, d, phi, sigma, sigma_b)
    assert r == pytest.approx(sigma_b / bar / math.sqrt(1 - 0.36), rel=1e-13)
    assert slope == pytest.approx(0.36, abs=1e-9)


@pytest.mark.parametrize("name", ["tanh", "gelu"])
def test_fixed_point_is_a_fixed_point_and_moves_with_the_bias(name):
    s, d, sigma = 1.0, 32, 0.2
    points = fixed_point_norm(s, d, name, sigma, [0.1, 0.3, 0.9])
    assert np.all(np.diff(points.norm) > 0)                 # a larger bias, a larger r*
    for r, b, slope in zip(points.norm, (0.1, 0.3, 0.9), points.slope):
        assert moment_map(s, d, name, sigma, r, b) ** (1 / s) == pytest.approx(r, rel=1e-13)
        assert 0 < slope < 1                                # stable
        # the slope is the secant slope of G close to r*
        g = [moment_map(s, d, name, sigma, r * (1 + e), b) ** (1 / s) for e in (-1e-4, 1e-4)]
        assert (g[1] - g[0]) / (2e-4 * r) == pytest.approx(slope, rel=1e-6)


def test_tanh_fixed_point_without_bias_appears_above_the_edge_of_chaos():
    """tanh, no bias, s = 2: G(r)^2 = d E tanh(sigma r g)^2 < d sigma^2 r^2 and G(r) / r
    falls from sigma sqrt(d) at r -> 0, so r* > 0 exists iff sigma sqrt(d) > 1."""
    d = 64
    r, slope = fixed_point_norm(2.0, d, "tanh", 1.05 / math.sqrt(d))
    assert r > 0 and 0 < slope < 1
    with pytest.raises(ValueError, match="no crossing"):
        fixed_point_norm(2.0, d, "tanh", 0.95 / math.sqrt(d))


@pytest.mark.parametrize("kwargs, match", [
    (dict(activation="relu", sigma_b=0.0), "no crossing"),   # G linear: no isolated r*
    (dict(sigma=10.0), "no crossing"),                       # grows without bound
    (dict(s=0.0), "s must"), (dict(d=0), "d must"), (dict(sigma=-1.0), "sigma must"),
    (dict(sigma_b=-1.0), "sigma_b must"),
])
def test_fixed_point_bad_input(kwargs, match):
    args = dict(s=2.0, d=16, activation="gelu", sigma=0.2, sigma_b=0.1) | kwargs
    with pytest.raises(ValueError, match=match):
        fixed_point_norm(**args)


# ------------------------------------------------------------------ dps of the roots
def _agree(x, y, digits):
    with mpmath.workdps(digits + 20):
        return mpmath.almosteq(x, y, rel_eps=mpmath.mpf(10) ** -(digits - 1))


def test_preserving_sigma_at_thirty_digits():
    """ReLU, even s: critical_sigma at 30 digits; GELU: the 30-digit root agrees with a
    45-digit one and with float64."""
    assert _agree(moment_preserving_sigma(4, 8, "relu", r=1.5, dps=30),
                  critical_sigma(4, 8, dps=40), 30)
    sigma = moment_preserving_sigma(2, 16, "gelu", r=0.7, sigma_b=0.1, dps=30)
    assert isinstance(sigma, mpmath.mpf)
    assert _agree(sigma, moment_preserving_sigma(2, 16, "gelu", r=0.7, sigma_b=0.1, dps=45), 30)
    assert float(sigma) == pytest.approx(moment_preserving_sigma(2, 16, "gelu", r=0.7,
                                                                 sigma_b=0.1), rel=1e-14)


@pytest.mark.parametrize("s, d", [(2, 16), (1.0, 1)])
def test_preserving_bias_at_thirty_digits(s, d):
    b = moment_preserving_sigma_b(s, d, "tanh", 0.1, r=0.7, dps=30)
    assert _agree(b, moment_preserving_sigma_b(s, d, "tanh", 0.1, r=0.7, dps=45), 30)
    with mpmath.workdps(50):
        c = mpmath.sqrt(mpmath.mpf(0.1) ** 2 * mpmath.mpf(0.7) ** 2 + b ** 2)
        assert _agree(moment_map(s, d, "tanh", 1.0, r=c, dps=40), mpmath.mpf(0.7) ** s, 30)


def test_fixed_point_at_thirty_digits():
    """s = 2: c*^2 is the mean-field q* at 30 digits (sigma_w^2 = d sigma^2 and sigma_b^2
    exact in binary, as fixed_point_variance takes them as float64); ReLU: the closed
    forms."""
    d, sigma, sigma_b = 16, 0.3125, 0.25
    r, slope = fixed_point_norm(2, d, "tanh", sigma, sigma_b, dps=30)
    with mpmath.workdps(50):
        sigma_w2, sigma_b2 = d * mpmath.mpf(sigma) ** 2, mpmath.mpf(sigma_b) ** 2
        q = fixed_point_variance("tanh", sigma_w2, sigma_b2, dps=40)
        assert _agree(mpmath.mpf(sigma) ** 2 * r ** 2 + sigma_b2, q, 30)
    assert _agree(slope, fixed_point_norm(2, d, "tanh", sigma, sigma_b, dps=45).slope, 30)
    bar = critical_sigma(4, 8, dps=40)
    sigma = 0.6 * float(bar)
    r, slope = fixed_point_norm(4, 8, "relu", sigma, 0.25, dps=30)
    with mpmath.workdps(50):
        kappa2 = (mpmath.mpf(sigma) / bar) ** 2
        assert _agree(r, mpmath.mpf(0.25) / bar / mpmath.sqrt(1 - kappa2), 30)
        assert _agree(slope, kappa2, 30)


@pytest.mark.parametrize("function, args", [
    (moment_preserving_sigma, (1.0, 4, "gelu")), (moment_preserving_sigma_b, (1.0, 4, "gelu", 0.1)),
    (fixed_point_norm, (1.0, 4, "gelu", 0.2, 0.1)),
])
def test_roots_refuse_dps_beyond_the_work_budget_for_fractional_moments(function, args):
    """s/2 not an integer at d >= 2: each of the ~6 moments is a Laplace-transform
    integral at mpmath precision; 60 digits would take minutes."""
    with pytest.raises(ValueError, match="would take about"):
        function(*args, dps=60)


# ------------------------------------------------- dps for fractional s at d >= 2
def test_fractional_moment_at_thirty_digits_agrees_with_forty_five_and_float64():
    """The Laplace-transform route at mpmath precision (tanh with a bias, d = 16, s = 0.5)."""
    args = (0.5, 16, "tanh", 0.8, 1.1, 0.2)
    value = moment_map(*args, dps=30)
    assert isinstance(value, mpmath.mpf)
    assert _agree(value, moment_map(*args, dps=45), 29)
    assert moment_map(*args) == pytest.approx(float(value), rel=1e-13)


@pytest.mark.parametrize("s, d, a", [(1.0, 4, 0.0), (0.5, 2, 0.2), (3.0, 16, 0.0)])
def test_fractional_moment_of_homogeneous_activation_at_thirty_digits(s, d, a):
    """phi = max(x, a x): (sigma r)^s I_a(s, d), the exact closed form, at 30 digits."""
    phi = activation("leakyrelu", negative_slope=a)
    value = moment_map(s, d, phi, 0.7, r=1.3, dps=30)
    with mpmath.workdps(50):
        exact = moment_factor(s, d, a, dps=40) * (mpmath.mpf(0.7) * mpmath.mpf(1.3)) ** s
    assert _agree(value, exact, 30)


def test_fractional_moment_at_width_two_is_a_double_integral():
    """d = 2, tanh, s = 1: E sqrt(tanh(c g1)^2 + tanh(c g2)^2) by a 2-D mpmath.quad in
    polar coordinates (smooth there; the integrand is even in g1 and in g2)."""
    c = mpmath.mpf(0.9)
    value = moment_map(1.0, 2, "tanh", 0.9, dps=20)
    with mpmath.workdps(25):
        exact = mpmath.quad(lambda rho, theta: mpmath.sqrt(
            mpmath.tanh(c * rho * mpmath.cos(theta)) ** 2
            + mpmath.tanh(c * rho * mpmath.sin(theta)) ** 2) * rho * mpmath.exp(-rho ** 2 / 2),
            [0, mpmath.inf], [0, mpmath.pi / 2]) * 2 / mpmath.pi
    assert _agree(value, exact, 20)


def test_preserving_sigma_of_relu_for_a_fractional_moment_at_sixteen_digits():
    """s = 1, d = 4: critical_sigma(1, 4) at 16 digits, through the mpmath Laplace route."""
    assert _agree(moment_preserving_sigma(1.0, 4, "relu", r=1.5, dps=16),
                  critical_sigma(1.0, 4, dps=30), 16)


def test_preserving_bias_and_fixed_point_for_a_fractional_moment_at_twelve_digits():
    """ReLU with a bias, s = 1, d = 64: sigma_b from hypot(sigma r, sigma_b) = r sigma_bar,
    and the fixed point r*^2 = sigma_b^2 / (sigma_bar^2 (1 - kappa^2)), slope kappa^2."""
    bar = critical_sigma(1.0, 64, dps=30)
    sigma, r = 0.5 * float(bar), 1.7
    b = moment_preserving_sigma_b(1.0, 64, "relu", sigma, r=r, dps=12)
    with mpmath.workdps(30):
        assert _agree(b, mpmath.sqrt((r * bar) ** 2 - (sigma * mpmath.mpf(r)) ** 2), 12)
    norm, slope = fixed_point_norm(1.0, 64, "relu", sigma, 0.25, dps=12)
    with mpmath.workdps(30):
        kappa2 = (mpmath.mpf(sigma) / bar) ** 2
        assert _agree(norm, mpmath.mpf(0.25) / bar / mpmath.sqrt(1 - kappa2), 12)
        assert _agree(slope, kappa2, 12)

"""The exact gains of docs/gains.md: every closed form derived there equals
initmath.mean_field.gain at 40 digits, the steps of the derivations hold (Stein's identity
for GELU, the truncated Gaussian moments), and the float64 gain agrees to rounding."""
import mpmath
import pytest

from initmath.activations import activation
from initmath.mean_field import gain

P, p = mpmath.ncdf, mpmath.npdf


def _tail(m):
    return 1 - P(m)


def _elu_negative(alpha):
    """E[alpha^2 (e^{z/alpha} - 1)^2; z < 0] (CELU; ELU's is alpha = 1 inside the exponent)."""
    return alpha ** 2 * (mpmath.exp(2 / alpha ** 2) * P(-2 / alpha)
                         - 2 * mpmath.exp(1 / (2 * alpha ** 2)) * P(-1 / alpha) + 0.5)


def _clipped(m):
    """E min(z^2, m^2): Hardtanh(-m, m)."""
    return 2 * P(m) - 1 - 2 * m * p(m) + 2 * m ** 2 * _tail(m)


# name, parameters, E phi(z)^2 in closed form (a function: evaluated at the working dps)
CLOSED_FORMS = [
    ("identity", {}, lambda: mpmath.mpf(1)),
    ("relu", {}, lambda: mpmath.mpf(1) / 2),
    ("leakyrelu", {"negative_slope": 0.25}, lambda: (1 + mpmath.mpf(0.25) ** 2) / 2),
    ("elu", {"alpha": 1.0}, lambda: 0.5 + _elu_negative(mpmath.mpf(1))),
    ("elu", {"alpha": 1.7},
     lambda: 0.5 + mpmath.mpf(1.7) ** 2 * (mpmath.e ** 2 * P(-2) - 2 * mpmath.sqrt(mpmath.e)
                                           * P(-1) + 0.5)),
    ("celu", {"alpha": 2.0}, lambda: 0.5 + _elu_negative(mpmath.mpf(2))),
    ("gelu", {}, lambda: mpmath.mpf(1) / 3 + 1 / (2 * mpmath.pi * mpmath.sqrt(3))),
    ("hardtanh", {}, lambda: 1 - 2 * p(1)),
    ("hardtanh", {"min_val": -2.0, "max_val": 2.0}, lambda: _clipped(mpmath.mpf(2))),
    ("relu6", {}, lambda: 0.5 - 6 * p(6) + 35 * _tail(6)),
    ("hardswish", {}, lambda: mpmath.mpf(2) / 3 - P(3) / 3 - p(3) / 2),
    ("hardsigmoid", {}, lambda: 0.5 - 2 * (2 * P(3) - 1) / 9 - p(3) / 6),
    ("softshrink", {"lambd": 0.5},
     lambda: 2 * ((1 + mpmath.mpf(0.5) ** 2) * _tail(0.5) - 0.5 * p(0.5))),
    ("hardshrink", {"lambd": 0.5}, lambda: 2 * (0.5 * p(0.5) + _tail(0.5))),
    ("threshold", {"threshold": 0.5, "value": -0.3},
     lambda: 0.5 * p(0.5) + _tail(0.5) + mpmath.mpf(-0.3) ** 2 * P(0.5)),
]


@pytest.mark.parametrize("name, params, second_moment", CLOSED_FORMS,
                         ids=[f"{n}{sorted(k.items())}" for n, k, _ in CLOSED_FORMS])
def test_gain_equals_its_closed_form(name, params, second_moment):
    phi = activation(name, **params)
    with mpmath.workdps(45):
        exact = 1 / mpmath.sqrt(second_moment())
    assert abs(gain(phi, dps=40) / exact - 1) < 1e-37
    assert abs(float(gain(phi)) / float(exact) - 1) < 4e-16


def test_selu_constants_make_its_gain_one():
    """SELU's lambda and alpha solve E selu(z) = 0 and E selu(z)^2 = 1 (Klambauer et al.
    2017): lambda^2 (1/2 + alpha^2 (e^2 Phi(-2) - 2 sqrt(e) Phi(-1) + 1/2)) = 1 at the
    paper's 30-digit constants; torch's 17-digit constants leave the gain 1 + 7e-17."""
    with mpmath.workdps(40):
        alpha = mpmath.mpf("1.6732632423543772848170429916717")
        lam = mpmath.mpf("1.0507009873554804934193349852946")
        assert abs(lam ** 2 * (0.5 + alpha ** 2 * (
            mpmath.e ** 2 * P(-2) - 2 * mpmath.sqrt(mpmath.e) * P(-1) + 0.5)) - 1) < 1e-29
        assert abs(lam * (alpha * (mpmath.exp(0.5) * P(-1) - 0.5) + p(0))) < 1e-29
    assert abs(float(gain("selu")) - 1) < 2e-16


def test_gelu_derivation_steps():
    """Stein: E z^2 Phi(z)^2 = E Phi(z)^2 + 2 E z Phi(z) phi(z), with E Phi(z)^2 = 1/3
    (three iid normals, one the largest) and E z Phi phi = (1/2) int phi^3 = 1/(4 pi sqrt 3)."""
    with mpmath.workdps(30):
        def expect(f):
            return mpmath.quad(lambda x: f(x) * p(x), [-mpmath.inf, 0, mpmath.inf])
        assert abs(expect(lambda x: P(x) ** 2) - mpmath.mpf(1) / 3) < 1e-28
        assert abs(expect(lambda x: x * P(x) * p(x))
                   - 1 / (4 * mpmath.pi * mpmath.sqrt(3))) < 1e-28


def test_negative_control_torch_tanh_gain_is_not_exact():
    """torch's 5/3 for tanh is not the variance-keeping gain: the test above would reject
    it (1.0953 instead of 1 for the second moment it gives)."""
    exact = float(gain("tanh"))
    assert abs(5 / 3 / exact - 1) > 0.04
    assert abs((5 / 3 / exact) ** 2 - 1.0953) < 1e-4

"""Activations (initmath.activations) and the Gaussian expectations over one coordinate
(initmath._engine.gaussian) that every any-activation quantity is built on."""
import math

import mpmath
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from initmath._engine.gaussian import expectation, expectation_mp, gaussian_rule
from initmath.activations import ACTIVATIONS, activation

X = np.linspace(-9.0, 30.0, 3901)


def _torch_modules():
    torch = pytest.importorskip("torch")
    nn = torch.nn
    return [nn.ReLU(), nn.LeakyReLU(0.2), nn.PReLU().double(), nn.ELU(0.7), nn.CELU(1.3),
            nn.SELU(), nn.GELU(), nn.GELU(approximate="tanh"), nn.SiLU(), nn.Mish(),
            nn.Softplus(), nn.Softplus(beta=2.0, threshold=5.0), nn.Tanh(), nn.Sigmoid(),
            nn.Hardtanh(), nn.Hardtanh(-2.0, 3.0), nn.ReLU6(), nn.Hardswish(),
            nn.Hardsigmoid(), nn.Softsign(), nn.Tanhshrink(), nn.LogSigmoid(),
            nn.Softshrink(), nn.Hardshrink(0.3), nn.Threshold(0.1, 20.0), nn.Identity()]


def test_every_torch_activation_module_is_reproduced_in_float64():
    torch = pytest.importorskip("torch")
    for module in _torch_modules():
        phi = activation(module)
        with torch.no_grad():
            ref = module(torch.tensor(X, dtype=torch.float64)).numpy()
        assert np.max(np.abs(phi.numpy(X) - ref) / np.maximum(1, np.abs(ref))) < 1e-15, phi


@pytest.mark.parametrize("name", sorted(set(ACTIVATIONS) - {"threshold"}))
def test_mpmath_and_float64_forms_agree(name):
    phi = activation(name)
    with mpmath.workdps(30):
        for x in (-7.3, -3.0, -0.4, 0.0, 0.25, 3.0, 19.5, 25.0):
            exact = phi.mpmath(mpmath.mpf(x))
            assert abs(float(phi.numpy(np.array(x))) - float(exact)) <= 4e-16 * max(
                1, abs(float(exact))), (name, x)


def test_breakpoints_hold_the_kinks_and_zeros():
    assert activation("hardswish").breakpoints == (-3.0, 0.0, 3.0)
    assert activation("relu6").breakpoints == (0.0, 6.0)
    assert activation("softplus", beta=2.0, threshold=5.0).breakpoints == (2.5,)
    assert activation("hardtanh", min_val=0.5, max_val=2.0).breakpoints == (0.5, 2.0)
    assert activation("leaky_relu", negative_slope=0.1).slopes == (1.0, 0.1)
    assert activation("gelu").slopes is None


@pytest.mark.parametrize("call, match", [
    (lambda: activation("swish2"), "activation must be one of"),
    (lambda: activation("leaky_relu", negative_slope=1.5), "negative_slope"),
    (lambda: activation("elu", alpha=0.0), "alpha"),
    (lambda: activation("softplus", beta=-1.0), "beta"),
    (lambda: activation("hardtanh", min_val=1.0, max_val=1.0), "min_val < max_val"),
    (lambda: activation("gelu", approximate="erf"), "approximate"),
    (lambda: activation("tanh", alpha=1.0), "parameters"),
    (lambda: activation("threshold"), "needs the parameter"),
    (lambda: activation(lambda x: x, breakpoints=[math.nan]), "breakpoints"),
    (lambda: activation(3.0), "activation must be"),
])
def test_bad_activations_are_refused(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_per_channel_prelu_is_refused():
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError, match="num_parameters=1"):
        activation(torch.nn.PReLU(num_parameters=3))


# --------------------------------------------------------------------------- expectations
@given(k=st.integers(0, 8), scale=st.floats(0.05, 20.0))
def test_gaussian_moments_are_double_factorials(k, scale):
    # E (c g)^(2k) = c^(2k) (2k - 1)!!
    exact = scale ** (2 * k) * math.prod(range(1, 2 * k, 2))
    assert expectation(lambda x: x ** (2 * k), (0.0,), scale) == pytest.approx(exact,
                                                                                rel=1e-13)


def test_the_rule_integrates_the_density_to_one():
    for points in ((), (0.0,), (-3.0, 0.0, 3.0)):
        _, w = gaussian_rule(points, 1.7)
        assert abs(w.sum() - 1) < 1e-15


@pytest.mark.parametrize("name, scale", [("gelu", 1.0), ("tanh", 0.3), ("hardswish", 2.0),
                                         ("hardtanh", 0.2), ("softplus", 9.0), ("selu", 1.0),
                                         ("hardshrink", 0.7)])
def test_float64_expectations_match_mpmath(name, scale):
    phi = activation(name)
    with mpmath.workdps(30):
        exact = expectation_mp(lambda x: phi.mpmath(x) ** 2, phi.breakpoints, scale)
    value = expectation(lambda x: phi.numpy(x) ** 2, phi.breakpoints, scale)
    assert value == pytest.approx(float(exact), rel=2e-15)


def test_relu_second_moment_and_kinks_are_exact():
    assert expectation(lambda x: np.maximum(x, 0) ** 2, (0.0,), 1.0) == pytest.approx(0.5,
                                                                                     rel=1e-15)
    # E min(max(g, -1), 1)^2 = 1 - 2(phi(1) + (1 - 1) ...): closed form via erf
    exact = (math.erf(1 / math.sqrt(2)) - math.sqrt(2 / math.pi) * math.exp(-0.5)
             + math.erfc(1 / math.sqrt(2)))
    value = expectation(lambda x: np.clip(x, -1, 1) ** 2, (-1.0, 0.0, 1.0), 1.0)
    assert value == pytest.approx(exact, rel=1e-14)


def test_negative_control_kinks_left_out_of_the_cuts_cost_digits():
    """The cuts at the breakpoints are what makes kinks exact: a jump at 0.37 (Threshold)
    integrated without it being a cut is off by far more than rounding."""
    phi = activation("threshold", threshold=0.37, value=5.0)
    with mpmath.workdps(30):
        exact = float(expectation_mp(lambda x: phi.mpmath(x) ** 2, phi.breakpoints, 1.0))
    cut = expectation(lambda x: phi.numpy(x) ** 2, phi.breakpoints, 1.0)
    uncut = expectation(lambda x: phi.numpy(x) ** 2, (), 1.0)
    assert abs(cut / exact - 1) < 1e-14 and abs(uncut / exact - 1) > 1e-6


@pytest.mark.parametrize("t", [1.0, 1e4, 1e10, 1e16])
def test_sharp_peaks_at_zeros_are_resolved(t):
    phi = activation("tanh")
    with mpmath.workdps(30):
        exact = float(expectation_mp(lambda x: mpmath.exp(-t * mpmath.tanh(x) ** 2), (0,),
                                     1.0))
    value = expectation(lambda x: np.exp(-t * phi.numpy(x) ** 2), (0.0,), 1.0,
                        peaks=(0.0,), width=1 / math.sqrt(t))
    assert value == pytest.approx(exact, rel=1e-14)

"""Issue 13's fuzz contract for the any-activation area (issue 15): every public function of
initmath.activations, initmath.mean_field and initmath.finite_width, driven over its domain
and beyond it, ends within the budget in a finite, plausible value or a one-line ValueError
naming its argument; and, where two routes exist, they agree (float64 against mpmath,
moment_map's mean against variance_map).

Activations: every entry of ACTIVATIONS with default parameters, parameters at the edges of
their ranges (5e-324, 1e300), user callables, torch modules, and junk specs.
"""
import math

import mpmath
import numpy as np
import pytest
from _fuzz import (
    NONFINITE,
    NOT_A_NUMBER,
    arrays,
    beyond_integers,
    beyond_reals,
    examples,
    fuzz,
    integers,
    maybe_beyond,
    reals,
)
from hypothesis import given
from hypothesis import strategies as st

from initmath.activations import ACTIVATIONS, activation
from initmath.finite_width import S_MAX, moment_map, moment_preserving_sigma
from initmath.mean_field import (
    chi_1,
    correlation_map,
    depth_scales,
    fixed_point_correlation,
    fixed_point_variance,
    gain,
    variance_map,
)

NAMES = ("spec", "activation", "breakpoints", "negative_slope", "alpha", "approximate",
         "beta", "threshold", "min_val", "max_val", "lambd", "value", "s", "d", "sigma", "r",
         "sigma_b", "dps", "q", "c", "sigma_w2", "sigma_b2")
PARAMETERS = {name: spec for _, (_, params) in ACTIVATIONS.items()
              for name, spec in params.items()}
EDGES = (5e-324, 1e-300, 1e-155, 1e-16, 1e16, 1e155, 1e300)
# Parameter edges for the numerical functions: beyond these phi^2 itself leaves float64
# (elu alpha >= 1e155, softplus beta <= 1e-155), see the known defects at the end.
MODERATE = (1e-16, 1e-8, 1e8, 1e16)


def _edge_activations(edges=MODERATE):
    """Every activation at its defaults, and each parameter at the edges of its range."""
    out = [activation(key) for key in ACTIVATIONS if key != "threshold"]
    out += [activation("threshold", threshold=t, value=v)
            for t, v in [(0.0, 0.0), (0.1, -0.5), (-2.0, 3.0), (1e16, -1e16), (5e-324, 0.0)]]
    out += [activation("gelu", approximate="tanh"), activation("hardtanh", min_val=-1e-300,
                                                               max_val=1e-300),
            activation("hardtanh", min_val=-1e300, max_val=1e300)]
    for key, (_, params) in ACTIVATIONS.items():
        for name, (_, low, high) in params.items():
            if name in ("approximate", "threshold", "value", "min_val", "max_val"):
                continue
            for x in edges + (low, high):
                if x is not None and x > 0 and (high is None or x <= high):
                    out.append(activation(key, **{name: x}))
    return out


ACTIVATION_OBJECTS = _edge_activations()
SQUARE = activation(lambda x: x * x, breakpoints=[0])         # a user's callable
# A user's callable whose zeros (k pi) are not declared as breakpoints: see the defects.
SINE = activation(lambda x: np.sin(x) if isinstance(x, np.ndarray) else mpmath.sin(x),
                  breakpoints=[0])
VALID = st.one_of(st.sampled_from(ACTIVATION_OBJECTS), st.sampled_from(sorted(ACTIVATIONS)
                                                                       ).filter(
    lambda k: k != "threshold"), st.just(SQUARE))
# Activations whose phi' exists and has no jump (the two-coordinate and derivative routes).
SMOOTH = st.sampled_from([a for a in ACTIVATION_OBJECTS if a.derivative is not None
                          and not a.name.startswith(("hardshrink", "threshold"))])
JUNK = st.one_of(NOT_A_NUMBER, st.sampled_from(["", "relu7", "ReLU ", "nn.ReLU", 3, 1.5]))
# Mostly valid (one bad argument at a time dominates the other draws).
ACTIVATIONS_ANY = st.one_of(*[VALID] * 7, JUNK)

# Variances and scales: q sigma_w2, sigma r and sigma_b stay within 1e-60 .. 1e60 (at
# 1e-150 and 1e150, the known defects at the end); the invalid values are the negative,
# non-finite and junk ones.
POSITIVE = reals(1e-30, 1e30, edges=(1.0, 2.0))
NONNEGATIVE = st.one_of(st.just(0.0), POSITIVE)
NOT_POSITIVE = st.one_of(st.sampled_from([0.0, -0.0, -5e-324, -1.0, -1e300]), NONFINITE,
                         NOT_A_NUMBER)
NEGATIVE = st.one_of(st.sampled_from([-5e-324, -1.0, -1e300]), NONFINITE, NOT_A_NUMBER)
ORDERS = reals(0.0, S_MAX, low_open=True, edges=(0.5, 1.0, 2.0, 3.0, 4.0, 99.0))
WIDTHS = st.one_of(st.integers(1, 64), st.integers(1, 64), integers(1, 2 ** 53))
DPS = st.one_of(st.none(), st.none(), st.sampled_from([1, 5, 15, 30]))
BAD_DPS = st.sampled_from([0, -1, 1.5, "30", 10 ** 6, np.array([30])])
DPS_ANY = st.one_of(*[DPS] * 6, BAD_DPS)


def non_negative(result):
    values = np.ravel(np.asarray(result, dtype=float))
    return f"negative value {result!r}" if np.any(values < 0) else None


def positive(result):
    values = np.ravel(np.asarray(result, dtype=float))
    return f"non-positive value {result!r}" if np.any(values <= 0) else None


def correlation(result):
    values = np.ravel(np.asarray(result, dtype=float))
    if np.any(np.abs(values) > 1 + 1e-12):
        return f"a correlation outside [-1, 1]: {result!r}"
    return None


# ------------------------------------------------------------------ activations
def usable(result):
    """An Activation whose phi is finite on [-50, 50] in float64 and at 1.5 in mpmath,
    with sorted finite breakpoints."""
    x = np.linspace(-50, 50, 201)
    if not np.all(np.isfinite(result.numpy(x))):
        return f"{result.name}: phi not finite on [-50, 50]"
    if not mpmath.isfinite(result.mpmath(mpmath.mpf(1.5))):
        return f"{result.name}: mpmath phi not finite at 1.5"
    if list(result.breakpoints) != sorted(result.breakpoints):
        return f"{result.name}: breakpoints not sorted"
    return None


@examples(150)
@given(spec=st.one_of(st.sampled_from(sorted(ACTIVATIONS)),
                      st.sampled_from(["LeakyReLU", "leaky_relu", "GELU", "Hard-Swish"]),
                      JUNK),
       params=st.dictionaries(st.sampled_from(sorted(PARAMETERS) + ["slope", "inplace"]),
                              maybe_beyond(reals(-1e300, 1e300, edges=EDGES),
                                           beyond_reals(0, 1)), max_size=2))
def test_activation_contract(spec, params):
    if "approximate" in params:
        params["approximate"] = "tanh" if params["approximate"] == 1 else params["approximate"]
    fuzz(activation, spec, names=NAMES, check=usable, **params)


@examples(30)
@given(points=st.lists(maybe_beyond(reals(-1e300, 1e300), beyond_reals(0, 1)), max_size=3))
def test_activation_of_a_callable_contract(points):
    fuzz(activation, np.tanh, breakpoints=points, names=NAMES)


@pytest.mark.parametrize("module", ["ReLU", "LeakyReLU", "ELU", "GELU", "Softplus", "PReLU",
                                    "Threshold", "Hardtanh", "Softmax", "Linear", "RReLU"])
def test_activation_of_torch_modules(module):
    torch = pytest.importorskip("torch")
    args = {"Threshold": (0.1, -0.5), "Linear": (2, 2), "Softmax": (-1,)}.get(module, ())
    outcome, result = fuzz(activation, getattr(torch.nn, module)(*args), names=NAMES)
    if module in ("Softmax", "Linear", "RReLU"):
        assert outcome == "ValueError"
    else:
        assert usable(result) is None
    per_channel = torch.nn.PReLU(num_parameters=3)
    assert fuzz(activation, per_channel, names=NAMES)[0] == "ValueError"


# ------------------------------------------------------------------ one-coordinate maps
@examples(120)
@given(phi=ACTIVATIONS_ANY, q=maybe_beyond(NONNEGATIVE, NEGATIVE),
       sw=maybe_beyond(POSITIVE, NOT_POSITIVE),
       sb=maybe_beyond(NONNEGATIVE, NEGATIVE), dps=DPS_ANY)
def test_variance_map_contract(phi, q, sw, sb, dps):
    fuzz(variance_map, q, phi, sw, sb, dps=dps, names=NAMES, check=non_negative)


@examples(100)
@given(phi=ACTIVATIONS_ANY, q=maybe_beyond(POSITIVE, NOT_POSITIVE),
       dps=DPS_ANY)
def test_gain_contract(phi, q, dps):
    fuzz(gain, phi, q, dps=dps, names=NAMES, check=positive)


@examples(100)
@given(phi=ACTIVATIONS_ANY, sw=maybe_beyond(POSITIVE, NOT_POSITIVE),
       sb=maybe_beyond(NONNEGATIVE, NEGATIVE), dps=DPS_ANY)
def test_fixed_point_variance_contract(phi, sw, sb, dps):
    fuzz(fixed_point_variance, phi, sw, sb, dps=dps, names=NAMES, check=positive)


@examples(100)
@given(phi=ACTIVATIONS_ANY, sw=maybe_beyond(POSITIVE, NOT_POSITIVE),
       sb=maybe_beyond(NONNEGATIVE, NEGATIVE),
       q=st.one_of(st.none(), maybe_beyond(POSITIVE, NOT_POSITIVE)),
       dps=DPS_ANY)
def test_chi_1_contract(phi, sw, sb, q, dps):
    fuzz(chi_1, phi, sw, sb, q=q, dps=dps, names=NAMES, check=non_negative)


@examples(20)
@given(phi=VALID, q=arrays(NONNEGATIVE), sw=arrays(POSITIVE), sb=arrays(NONNEGATIVE))
def test_variance_map_arrays_broadcast_or_raise(phi, q, sw, sb):
    fuzz(variance_map, q, phi, sw, sb, names=NAMES, check=non_negative)


@examples(60)
@given(phi=VALID, q=POSITIVE, sw=POSITIVE, sb=NONNEGATIVE, dps=DPS,
       which=st.sampled_from(["variance_map", "gain", "fixed_point_variance", "chi_1"]))
def test_one_coordinate_maps_inside_the_domain(phi, q, sw, sb, dps, which):
    """Valid arguments only: a value, or a ValueError that says why (no fixed point, no
    phi', a result beyond float64)."""
    calls = {"variance_map": lambda: fuzz(variance_map, q, phi, sw, sb, dps=dps, names=NAMES,
                                          check=non_negative),
             "gain": lambda: fuzz(gain, phi, q, dps=dps, names=NAMES, check=positive),
             "fixed_point_variance": lambda: fuzz(fixed_point_variance, phi, sw, sb, dps=dps,
                                                  names=NAMES, check=positive),
             "chi_1": lambda: fuzz(chi_1, phi, sw, sb, q=q, dps=dps, names=NAMES,
                                   check=non_negative)}
    calls[which]()


# ------------------------------------------------------------------ two-coordinate maps
@examples(40)
@given(phi=st.one_of(*[SMOOTH] * 7, JUNK), c=maybe_beyond(reals(-1.0, 1.0), beyond_reals(-1, 1)),
       sw=maybe_beyond(reals(1e-3, 1e3, edges=(1.0, 2.0)),
                       NOT_POSITIVE),
       sb=reals(0.0, 1e3), q=st.one_of(st.none(), POSITIVE))
def test_correlation_map_contract(phi, c, sw, sb, q):
    fuzz(correlation_map, c, phi, sw, sb, q=q, names=NAMES, check=correlation)


@examples(25)
@given(phi=ACTIVATIONS_ANY, sw=maybe_beyond(reals(1e-3, 1e3, edges=(1.0, 2.0)),
                                                     NOT_POSITIVE),
       sb=maybe_beyond(reals(0.0, 1e3), NEGATIVE))
def test_fixed_point_correlation_contract(phi, sw, sb):
    outcome, result = fuzz(fixed_point_correlation, phi, sw, sb, names=NAMES,
                           check=correlation)
    if outcome == "value":
        assert -1e-12 <= float(result) <= 1


@examples(25)
@given(phi=ACTIVATIONS_ANY, sw=maybe_beyond(reals(1e-3, 1e3, edges=(1.0, 2.0)),
                                                     NOT_POSITIVE),
       sb=maybe_beyond(reals(0.0, 1e3), NEGATIVE))
def test_depth_scales_contract(phi, sw, sb):
    outcome, result = fuzz(depth_scales, phi, sw, sb, names=NAMES)
    if outcome == "value":
        assert result.variance > 0 and result.correlation > 0


@examples(20)
@given(phi=SMOOTH, c=reals(-1.0, 1.0), sw=reals(0.1, 10.0, edges=(1.0, 2.0)),
       sb=st.one_of(st.just(0.0), reals(1e-3, 2.0)),
       which=st.sampled_from(["correlation_map", "fixed_point_correlation", "depth_scales"]))
def test_two_coordinate_maps_inside_the_domain(phi, c, sw, sb, which):
    """Valid arguments only: a value, or a ValueError that says why (no fixed point q*)."""
    if which == "correlation_map":
        fuzz(correlation_map, c, phi, sw, sb, names=NAMES, check=correlation)
    elif which == "fixed_point_correlation":
        fuzz(fixed_point_correlation, phi, sw, sb, names=NAMES, check=correlation)
    else:
        outcome, result = fuzz(depth_scales, phi, sw, sb, names=NAMES)
        # xi = -1/log(chi) >= 0; 0 where the map is flat (chi = 0: one step to the limit)
        assert outcome == "ValueError" or min(result) >= 0


# ------------------------------------------------------------------ finite width
@examples(150)
@given(phi=ACTIVATIONS_ANY, s=maybe_beyond(ORDERS, beyond_reals(0, S_MAX, low_open=True)),
       d=maybe_beyond(WIDTHS, beyond_integers(1, 2 ** 53)),
       sigma=maybe_beyond(POSITIVE, NOT_POSITIVE),
       r=maybe_beyond(POSITIVE, NOT_POSITIVE),
       sb=maybe_beyond(NONNEGATIVE, NEGATIVE))
def test_moment_map_float64_contract(phi, s, d, sigma, r, sb):
    fuzz(moment_map, s, d, phi, sigma, r, sb, names=NAMES, check=non_negative)


@examples(60)
@given(phi=VALID, s=ORDERS, d=WIDTHS, sigma=POSITIVE, r=POSITIVE, sb=NONNEGATIVE)
def test_moment_map_inside_the_domain(phi, s, d, sigma, r, sb):
    fuzz(moment_map, s, d, phi, sigma, r, sb, names=NAMES, check=non_negative)


@examples(40)
@given(phi=VALID, s=st.one_of(st.sampled_from([2, 4, 6, 2.0]), ORDERS),
       d=st.one_of(st.just(1), st.integers(1, 8), WIDTHS),
       sigma=reals(1e-30, 1e30, low_open=True, edges=(1.0,)), sb=reals(0.0, 10.0),
       dps=maybe_beyond(st.sampled_from([5, 15, 30]), BAD_DPS))
def test_moment_map_precision_contract(phi, s, d, sigma, sb, dps):
    """The exact mpmath routes (s/2 an integer, or d = 1); the Laplace route below."""
    if s % 2 and d != 1:
        s = 2 * math.ceil(s / 2)
    fuzz(moment_map, s, d, phi, sigma, 1.0, sb, dps=dps, names=NAMES, check=non_negative)


@examples(3)
@given(phi=VALID, s=ORDERS, d=st.one_of(st.integers(2, 64), WIDTHS),
       sigma=reals(1e-30, 1e30, low_open=True, edges=(1.0,)), sb=reals(0.0, 10.0),
       dps=st.sampled_from([5, 15, 200]))
def test_moment_map_laplace_precision_contract(phi, s, d, sigma, sb, dps):
    """s/2 not an integer at d >= 2: the Laplace-transform integral at mpmath precision,
    within the budget or refused up front (a few seconds a call)."""
    fuzz(moment_map, s, d, phi, sigma, 1.0, sb, dps=dps, names=NAMES, check=non_negative)


@examples(8)
@given(phi=VALID, s=arrays(ORDERS, 3), d=arrays(st.integers(1, 64), 3), sigma=arrays(POSITIVE, 3))
def test_moment_map_arrays_broadcast_or_raise(phi, s, d, sigma):
    fuzz(moment_map, s, d, phi, sigma, names=NAMES, check=non_negative)


@examples(30)
@given(phi=ACTIVATIONS_ANY,
       s=maybe_beyond(reals(1e-3, 20.0, edges=(0.5, 1.0, 2.0)),
                      beyond_reals(0, S_MAX, low_open=True)),
       d=maybe_beyond(st.integers(1, 256), beyond_integers(1, 2 ** 53)),
       r=maybe_beyond(reals(1e-30, 1e30, edges=(1.0,)), NOT_POSITIVE),
       sb=maybe_beyond(reals(0.0, 2.0), NEGATIVE))
def test_moment_preserving_sigma_contract(phi, s, d, r, sb):
    fuzz(moment_preserving_sigma, s, d, phi, r, sb, names=NAMES, check=positive)


@examples(15)
@given(phi=VALID, s=reals(1e-3, 20.0, edges=(0.5, 1.0, 2.0)), d=st.integers(1, 256),
       r=reals(1e-3, 1e3, edges=(1.0,)), sb=st.one_of(st.just(0.0), reals(1e-3, 2.0)))
def test_moment_preserving_sigma_inside_the_domain(phi, s, d, r, sb):
    """A sigma that preserves the moment (checked), or a ValueError saying none does."""
    outcome, sigma = fuzz(moment_preserving_sigma, s, d, phi, r, sb, names=NAMES,
                          check=positive)
    if outcome == "value":
        assert math.isclose(moment_map(s, d, phi, sigma, r, sb), r ** s, rel_tol=1e-9)


# ------------------------------------------------------------------ oracles
@examples(40)
@given(phi=VALID, d=st.one_of(st.integers(1, 64), st.just(2 ** 40)),
       sigma=reals(1e-3, 1e3, edges=(1.0,)), r=reals(1e-3, 1e3, edges=(1.0,)),
       sb=reals(0.0, 10.0))
def test_moment_map_mean_is_d_times_the_variance_map(phi, d, sigma, r, sb):
    """E r'^2 = d E phi(c g)^2 = d variance_map(c^2, phi, 1): two modules, two routes."""
    mean = moment_map(2, d, phi, sigma, r, sb)
    field = d * variance_map(sigma * sigma * r * r + sb * sb, phi, 1.0)
    assert math.isclose(mean, field, rel_tol=1e-12, abs_tol=1e-300), (mean, field)


BUILT_IN = st.sampled_from(ACTIVATION_OBJECTS)


@examples(12)
@given(phi=BUILT_IN, s=st.sampled_from([0.5, 1.0, 1.5, 3.0, 2.0, 4.0]),
       sigma=reals(1e-2, 1e2, edges=(1.0,)), sb=reals(0.0, 3.0))
def test_moment_map_float64_agrees_with_30_digits_at_d_1(phi, s, sigma, sb):
    """d = 1: E|phi(c g)|^s by the float64 route (Laplace integral or moment recurrence)
    against mpmath.quad at 30 digits."""
    value = moment_map(s, 1, phi, sigma, 1.0, sb)
    exact = moment_map(s, 1, phi, sigma, 1.0, sb, dps=30)
    assert math.isclose(value, float(exact), rel_tol=1e-10, abs_tol=1e-300), (value, exact)


@examples(12)
@given(phi=BUILT_IN, q=reals(1e-3, 1e3, edges=(1.0,)), sw=reals(1e-2, 1e2, edges=(2.0,)))
def test_variance_map_float64_agrees_with_30_digits(phi, q, sw):
    value = variance_map(q, phi, sw)
    exact = variance_map(q, phi, sw, dps=30)
    assert math.isclose(value, float(exact), rel_tol=1e-12, abs_tol=1e-300), (value, exact)


# ------------------------------------------------------------------ regressions
# Defects this fuzzing found (each fixed): the contract at the edges of float64.
ELU_HUGE = activation("elu", alpha=1e155)              # E phi^2 ~ 1.4e309: beyond float64
SOFTPLUS_FLAT = activation("softplus", beta=1e-155)    # phi ~ log(2) / beta = 7e154


@pytest.mark.parametrize("call", [lambda: variance_map(1.0, ELU_HUGE, 1.0),
                                  lambda: variance_map(1.0, SOFTPLUS_FLAT, 1.0),
                                  lambda: variance_map(1e300, "relu", 1e300),
                                  lambda: gain(ELU_HUGE), lambda: gain(SOFTPLUS_FLAT),
                                  lambda: chi_1(ELU_HUGE, 1.0, q=1.0)])
def test_regression_overflow_is_not_a_value_error(call):
    fuzz(call, names=NAMES, label="overflow")


@pytest.mark.parametrize("phi", [ELU_HUGE, SOFTPLUS_FLAT])
def test_regression_fixed_point_variance_of_an_overflowing_map(phi):
    fuzz(fixed_point_variance, phi, 1.0, names=NAMES, check=lambda q: (
        None if q != 1.0 else "q* = 1 but V(1) is not 1"))


@pytest.mark.parametrize("s, d, phi, sigma, r", [
    (1.0, 4, "gelu", 1.0, 5e-324), (1.0, 4, "gelu", 1e-170, 1.0), (1.0, 19, "silu", 1e-75, 1e-75),
    (4e-107, 1, "hardshrink", 1e75, 1e75), (99.99999999999999, 269124, "tanhshrink", 1e75, 1e75)])
def test_regression_moment_map_at_extreme_scales(s, d, phi, sigma, r):
    fuzz(moment_map, s, d, phi, sigma, r, names=NAMES)


def test_regression_fixed_point_variance_findroot_message():
    fuzz(fixed_point_variance, SINE, 5549830139685.25, 1.0, dps=5, names=NAMES)


@pytest.mark.parametrize("phi, r", [("tanh", 1e-300), ("gelu", 1e300)])
def test_regression_moment_preserving_sigma_at_extreme_r(phi, r):
    fuzz(moment_preserving_sigma, 1.0, 4, phi, r, names=NAMES)


def test_regression_softshrink_with_a_large_threshold_is_continuous():
    outcome, value = fuzz(chi_1, activation("softshrink", lambd=1e8), 2.0, q=1.0, names=NAMES)
    assert outcome == "value" and value == 0.0        # phi' = 0 on |x| < 1e8

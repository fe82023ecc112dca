"""initmath.testing.strategies: every draw lies in its documented domain and is accepted by the
library functions that take it, the edges are really drawn, bad bounds are refused, and the
invalid_* draws are rejected by the library."""
import dataclasses
import importlib
import math
import subprocess
import sys

import pytest
from _fuzz import names_argument
from hypothesis import find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample

import initmath.testing.strategies as ist
from initmath import (
    critical_sigma,
    critical_sigmas,
    hessian_sigma,
    log_moment_factor,
    log_norm_distribution,
    rrelu_critical_sigma,
)
from initmath._validate import D_MAX, DPS_MAX
from initmath.activations import ACTIVATIONS, Activation, activation
from initmath.finite_depth import depth_law
from initmath.mean_field import variance_map
from initmath.wishart import wishart_trace_moment

EXAMPLES = settings(max_examples=40, derandomize=True, deadline=None, database=None)
FIND = settings(max_examples=2000, derandomize=True, deadline=None, database=None)


def drawn(strategy, value):
    """Whether strategy can draw exactly value (hypothesis' find, derandomized)."""
    return find(strategy, lambda x: x == value, settings=FIND) == value


def positive_finite(x):
    return math.isfinite(float(x)) and float(x) > 0


# --------------------------------------------------------------------------- domains
@EXAMPLES
@given(s=ist.moments(), d=ist.widths(), a=ist.slopes(), q=ist.keep_probabilities())
def test_default_draws_are_modest_and_give_a_critical_sigma(s, d, a, q):
    assert 0.25 <= s <= 4 and 1 <= d <= 256 and 0 <= a <= 1 and 0.05 <= q <= 1
    assert type(d) is int
    assert positive_finite(critical_sigma(s, d, a, keep_prob=q))


@EXAMPLES
@given(s=ist.moments(min_value=2.0 ** -1021, max_value=ist.S_MAX),
       d=ist.widths(max_value=D_MAX), a=ist.slopes(),
       q=ist.keep_probabilities(min_value=1e-300))
def test_the_whole_domain_is_accepted_in_log_space(s, d, a, q):
    # sigma itself may overflow float64 at tiny s; log I is finite on the whole domain
    assert 2.0 ** -1021 <= s <= 1000 and 1 <= d <= D_MAX and 1e-300 <= q <= 1
    assert math.isfinite(log_moment_factor(s, d, a, keep_prob=q))


@EXAMPLES
@given(pair=ist.rrelu_intervals(min_value=0.1, max_value=0.5), s=ist.moments(),
       d=ist.widths())
def test_rrelu_intervals_are_ordered_within_bounds_and_accepted(pair, s, d):
    lower, upper = pair
    assert 0.1 <= lower <= upper <= 0.5
    assert positive_finite(rrelu_critical_sigma(s, d, lower, upper))


@EXAMPLES
@given(shape=ist.matrix_shapes(max_side=32))
def test_matrix_shapes_are_torch_ordered_and_accepted(shape):
    d_out, d_in = shape
    assert 1 <= d_out <= 32 and 1 <= d_in <= 32
    assert hessian_sigma(d_in, d_out) == pytest.approx(1 / (math.sqrt(d_in) + math.sqrt(d_out)))
    assert wishart_trace_moment(1, d_out, d_in) == d_out * d_in     # E tr W W^T = m n


@EXAMPLES
@given(shape=ist.matrix_shapes(min_side=3, max_side=9, square=True))
def test_square_shapes(shape):
    assert shape[0] == shape[1] and 3 <= shape[0] <= 9


@EXAMPLES
@given(depth=ist.depths(), d=ist.widths(min_value=2, max_value=64))
def test_depths_are_accepted_as_a_depth(depth, d):
    assert 1 <= depth <= 10
    law = log_norm_distribution(depth, math.sqrt(2 / d), d)
    assert math.isfinite(law.mean) and law.variance > 0


def test_the_depth_and_precision_limits_are_the_library_s():
    assert drawn(ist.depths(max_value=ist.DEPTH_MAX), ist.DEPTH_MAX)
    with pytest.raises(ValueError, match=r"depth .*100000"):
        depth_law(ist.DEPTH_MAX + 1, 4, "relu", 0.5)
    assert drawn(ist.precisions(max_value=DPS_MAX), DPS_MAX)
    with pytest.raises(ValueError, match="dps"):
        critical_sigma(1.0, 4, dps=DPS_MAX + 1)


@settings(max_examples=5, derandomize=True, deadline=None, database=None)
@given(dps=ist.precisions(max_value=30))
def test_precisions_are_accepted_as_dps(dps):
    assert 15 <= dps <= 30
    assert abs(critical_sigma(2.0, 64, dps=dps) - math.sqrt(2 / 64)) < 1e-14   # He at s = 2


@EXAMPLES
@given(phi=ist.activations())
def test_homogeneous_activations_are_leaky_relus(phi):
    assert isinstance(phi, Activation) and activation(phi) is phi
    one, a = phi.slopes
    assert one == 1 and 0 <= a <= 1
    assert phi.name == {0: "relu", 1: "identity"}.get(a, f"leaky_relu(negative_slope={a:g})")
    # E phi(g)^2 = (1 + a^2) / 2 for g ~ N(0, 1)
    assert variance_map(1.0, phi, 1.0) == pytest.approx((1 + a * a) / 2, rel=1e-12)


@EXAMPLES
@given(phi=ist.activations(kind="any"))
def test_any_activation_is_accepted(phi):
    value = variance_map(1.0, phi, 1.0)
    assert math.isfinite(value) and value >= 0


@pytest.mark.parametrize("name", [name for name in ACTIVATIONS if name != "threshold"])
def test_any_kind_draws_every_registered_activation(name):
    target = activation(name).name
    assert find(ist.activations(kind="any"), lambda phi: phi.name == target,
                settings=FIND).name == target


@EXAMPLES
@given(stack=ist.layer_stacks(min_depth=2, max_depth=5, min_width=3, max_width=40))
def test_layer_stacks(stack):
    assert 2 <= stack.depth <= 5 and len(stack.widths) == stack.depth + 1
    assert all(type(d) is int and 3 <= d <= 40 for d in stack.widths)
    assert 0 <= stack.slope <= 1 and (stack.slope == 0 or stack.slope >= 1e-8)
    assert 0.25 <= stack.s <= 4
    assert stack.shapes == tuple(zip(stack.widths[1:], stack.widths[:-1]))
    sigmas = critical_sigmas(stack.s, stack.widths, stack.slope)
    assert len(sigmas) == stack.depth and all(positive_finite(x) for x in sigmas)
    with pytest.raises(dataclasses.FrozenInstanceError):
        stack.s = 1.0


@EXAMPLES
@given(stack=ist.layer_stacks(slope=0.5, s=st.just(2.0)))
def test_layer_stacks_take_a_fixed_slope_and_a_strategy(stack):
    assert stack.slope == 0.5 and stack.s == 2.0 and 1 <= stack.depth <= 4


def test_layer_stacks_reach_their_depth_bounds():
    stacks = ist.layer_stacks(min_depth=2, max_depth=6)
    for depth in (2, 6):
        assert find(stacks, lambda stack: stack.depth == depth, settings=FIND).depth == depth


# --------------------------------------------------------------------------- edges
@pytest.mark.parametrize("strategy, value", [
    (ist.slopes(), 0.0), (ist.slopes(), 1.0), (ist.slopes(), 5e-324), (ist.slopes(), 1e-300),
    (ist.slopes(), 1e-8), (ist.slopes(tiny=False), 0.0), (ist.slopes(tiny=False), 1e-8),
    (ist.widths(), 1), (ist.widths(), 256), (ist.widths(max_value=D_MAX), D_MAX),
    (ist.moments(), 0.25), (ist.moments(), 4.0), (ist.moments(), 2.0),
    (ist.moments(min_value=2.0 ** -1021, max_value=1000), 2.0 ** -1021),
    (ist.moments(min_value=2.0 ** -1021, max_value=1000), 1000.0),
    (ist.keep_probabilities(), 1.0), (ist.keep_probabilities(min_value=1e-300), 1e-300),
    (ist.rrelu_intervals(), (1 / 8, 1 / 3)), (ist.rrelu_intervals(), (0.0, 0.0)),
    (ist.matrix_shapes(max_side=50), (50, 1)), (ist.matrix_shapes(max_side=50), (1, 50)),
    (ist.depths(), 1), (ist.depths(), 10), (ist.precisions(), 15), (ist.precisions(), 50),
])
def test_edges_are_drawn(strategy, value):
    assert drawn(strategy, value)


@EXAMPLES
@given(a=ist.slopes(tiny=False, min_value=0.0, max_value=0.5))
def test_slopes_without_tiny_values(a):
    assert a == 0 or 1e-8 <= a <= 0.5


@EXAMPLES
@given(pair=ist.rrelu_intervals())
def test_rrelu_intervals_sometimes_are_a_point(pair):
    assert 0 <= pair[0] <= pair[1] <= 1


def test_rrelu_intervals_draw_points_and_proper_intervals():
    intervals = ist.rrelu_intervals(min_value=0.2, max_value=0.7)
    assert find(intervals, lambda p: p[0] == p[1] != 0.2, settings=FIND)
    assert find(intervals, lambda p: p[0] < p[1], settings=FIND)


# --------------------------------------------------------------------------- invalid values
@EXAMPLES
@given(s=ist.invalid_moments())
def test_invalid_moments_are_rejected(s):
    with pytest.raises(ValueError) as error:
        critical_sigma(s, 64)
    assert names_argument(str(error.value), ["s"])


@EXAMPLES
@given(d=ist.invalid_widths())
def test_invalid_widths_are_rejected(d):
    with pytest.raises(ValueError) as error:
        critical_sigma(1.0, d)
    assert names_argument(str(error.value), ["d"])
    with pytest.raises(ValueError, match="d_in"):
        hessian_sigma(d, 4)


@EXAMPLES
@given(a=ist.invalid_slopes())
def test_invalid_slopes_are_rejected(a):
    with pytest.raises(ValueError) as error:
        critical_sigma(1.0, 64, a)
    assert names_argument(str(error.value), ["a"])


def test_invalid_values_include_the_nearest_outsiders():
    assert drawn(ist.invalid_moments(), 0.0) and drawn(ist.invalid_moments(), -5e-324)
    assert find(ist.invalid_moments(), lambda s: isinstance(s, float) and 1000 < s < 1000.001,
                settings=FIND) == math.nextafter(1000.0, math.inf)
    assert drawn(ist.invalid_widths(), 0) and drawn(ist.invalid_widths(), D_MAX + 1)
    assert drawn(ist.invalid_slopes(), -5e-324) and drawn(ist.invalid_slopes(), 1.0 + 2 ** -52)
    # [] is an empty array, which broadcasting functions accept: no invalid value
    assert find(ist.not_numbers(include_empty=True), lambda x: x == [], settings=FIND) == []
    with pytest.raises(NoSuchExample):
        find(ist.not_numbers(), lambda x: x == [], settings=FIND)


# --------------------------------------------------------------------------- bounds
@pytest.mark.parametrize("make, name", [
    (lambda: ist.moments(min_value=-1), "min_value"),
    (lambda: ist.moments(min_value=0), "min_value"),
    (lambda: ist.moments(max_value=1001), "max_value"),
    (lambda: ist.moments(min_value=math.nan), "min_value"),
    (lambda: ist.moments(min_value=True), "min_value"),
    (lambda: ist.moments(min_value=3.0, max_value=2.0), "min_value"),
    (lambda: ist.widths(min_value=0), "min_value"),
    (lambda: ist.widths(min_value=1.5), "min_value"),
    (lambda: ist.widths(max_value=D_MAX + 1), "max_value"),
    (lambda: ist.slopes(min_value=-0.1), "min_value"),
    (lambda: ist.slopes(max_value=1.5), "max_value"),
    (lambda: ist.slopes(max_value=1e-9, tiny=False), "max_value"),
    (lambda: ist.rrelu_intervals(min_value=0.5, max_value=0.4), "min_value"),
    (lambda: ist.keep_probabilities(min_value=0.0), "min_value"),
    (lambda: ist.keep_probabilities(max_value=1.5), "max_value"),
    (lambda: ist.matrix_shapes(max_side=0), "max_side"),
    (lambda: ist.matrix_shapes(min_side=5, max_side=4), "min_side"),
    (lambda: ist.depths(max_value=ist.DEPTH_MAX + 1), "max_value"),
    (lambda: ist.precisions(min_value=0), "min_value"),
    (lambda: ist.precisions(max_value=DPS_MAX + 1), "max_value"),
    (lambda: ist.activations(kind="relu"), "kind"),
    (lambda: ist.layer_stacks(min_depth=0), "min_depth"),
    (lambda: ist.layer_stacks(min_width=3, max_width=2), "min_width"),
    (lambda: ist.layer_stacks(slope=2.0), "slope"),
    (lambda: ist.layer_stacks(s=0.0), "s"),
    (lambda: ist.reals(1.0, 0.0), "low"),
    (lambda: ist.reals(0.0, math.inf), "high"),
    (lambda: ist.reals(1.0, 1.0, low_open=True), "low"),
    (lambda: ist.beyond_integers(1, 0.5), "high"),
])
def test_bad_bounds_raise_naming_the_argument(make, name):
    with pytest.raises(ValueError) as error:
        make()
    message = str(error.value)
    assert names_argument(message, [name]) and "got" in message and "\n" not in message


def test_a_clear_import_error_without_hypothesis(monkeypatch):
    monkeypatch.setitem(sys.modules, "hypothesis", None)    # import hypothesis now fails
    monkeypatch.delitem(sys.modules, "initmath.testing.strategies")
    with pytest.raises(ImportError, match=r"needs hypothesis: pip install initmath\[testing\]"):
        importlib.import_module("initmath.testing.strategies")


def test_no_torch_import():
    # usable where torch is not installed: importing it imports no torch
    code = ("import sys, initmath.testing.strategies; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)

"""Hypothesis strategies for property-based tests of code built on initmath.

Each strategy draws values inside the domain of the initmath functions that take them
(``docs/domain.md``).  The default bounds give values a small simulation can use; wider
bounds reach the library's whole domain and its edges (tiny slopes, d = 2**53, ...).  The
``invalid_*`` strategies, :func:`beyond_reals` and :func:`beyond_integers` draw values the
numerical functions must reject with a ValueError.  Every strategy checks its own bounds
and raises a ValueError naming the argument.

hypothesis is an optional dependency (``pip install initmath[testing]``).  Importing initmath
does not import this module, and this module does not import torch.

>>> from hypothesis import given, settings
>>> from initmath import critical_sigma
>>> from initmath.testing import strategies as ist
>>> @settings(max_examples=5, derandomize=True, database=None)
... @given(s=ist.moments(), d=ist.widths(), a=ist.slopes())
... def test_sigma_is_positive(s, d, a):
...     assert critical_sigma(s, d, a) > 0
>>> test_sigma_is_positive()
"""
import dataclasses
import math
import numbers

import numpy as np

try:
    from hypothesis import strategies as st
except ImportError as error:  # the [test] extra is not installed
    raise ImportError("initmath.testing.strategies needs hypothesis: "
                      "pip install initmath[testing]") from error

from initmath._validate import D_MAX, DPS_MAX, bound_text
from initmath.activations import ACTIVATIONS, activation

__all__ = [
    "DEPTH_MAX",
    "S_MAX",
    "LayerStack",
    "activations",
    "beyond_integers",
    "beyond_reals",
    "depths",
    "invalid_moments",
    "invalid_slopes",
    "invalid_widths",
    "keep_probabilities",
    "layer_stacks",
    "matrix_shapes",
    "moments",
    "nonfinite",
    "not_numbers",
    "precisions",
    "reals",
    "rrelu_intervals",
    "slopes",
    "widths",
]

S_MAX = 1000.0        # the largest moment order of moment_factor / critical_sigma
DEPTH_MAX = 100000    # the largest depth of finite_depth.depth_law
# Below ~1e-154 a**2 underflows and below 1e-300 p * weight is subnormal: the library takes
# other routes there, so a strategy that reaches small values must hit these.
_TINY = (5e-324, 1e-320, 1e-300, 1e-200, 1e-170, 1e-160, 1e-155, 1e-150, 1e-100, 1e-30,
         1e-16)
# tiny=False keeps nonzero slopes at least this large, so that a float32 simulation
# (torch flushes 5e-324 to 0) applies the same slope as the float64 theory.
_SLOPE_FLOOR = 1e-8


# --------------------------------------------------------------------------- bound checks
def _real(value, name, low, high, *, low_open=False):
    """value, a finite real in [low, high] (or (low, high]), or a ValueError naming it."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
    if ok:
        try:
            x = float(value)
        except OverflowError:
            ok = False
        else:
            ok = math.isfinite(x) and (x > low if low_open else x >= low) and x <= high
    if not ok:
        where = (f" in {'(' if low_open else '['}{bound_text(low)}, {bound_text(high)}]"
                 if math.isfinite(low) else "")
        raise ValueError(f"{name} must be a finite real number{where}, got {value!r}")
    return float(value)


def _integer(value, name, low, high):
    ok = (isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))
          and low <= value <= high)
    if not ok:
        where = (f" in [{bound_text(low)}, {bound_text(high)}]" if math.isfinite(high)
                 else f" >= {low!r}" if math.isfinite(low) else "")
        raise ValueError(f"{name} must be an integer{where}, got {value!r}")
    return int(value)


def _ordered(low, high, low_name="min_value", high_name="max_value"):
    if low > high:
        raise ValueError(f"{low_name} must be <= {high_name}, got {low!r} > {high!r}")


def _check_interval(low, high):
    # the values themselves stay as given (an int end stays an int in beyond_reals' draws)
    _real(low, "low", -math.inf, math.inf)
    _real(high, "high", -math.inf, math.inf)
    _ordered(low, high, "low", "high")


def _edges(low, high, candidates):
    return sorted({x for x in (low, high, *candidates) if low <= x <= high})


def _integer_bounds(min_value, max_value, limit, extra):
    """(low, high, edge values in [low, high]) for an integer strategy in [1, limit]; extra
    (low, high) -> the edge values besides the bounds."""
    low = _integer(min_value, "min_value", 1, limit)
    high = _integer(max_value, "max_value", 1, limit)
    _ordered(low, high)
    return low, high, _edges(low, high, extra(low, high))


# --------------------------------------------------------------------------- generic
def nonfinite():
    """nan, inf and -inf: rejected by every numerical argument of initmath."""
    return st.sampled_from([math.nan, math.inf, -math.inf])


def not_numbers(*, include_empty=False):
    """Values of the wrong kind for any numerical argument.

    None, strings, bytes, True, complex numbers, ragged lists, dicts and plain objects:
    every numerical initmath function rejects them with a ValueError.

    Parameters
    ----------
    include_empty : bool, default False
        Also draw ``[]``, an empty array: functions that broadcast accept it and return an
        empty result (a fuzz test checks that they do not crash), so it is no invalid value.
    """
    return st.sampled_from([None, "1", b"1", True, 1j, *([[]] if include_empty else []),
                            [[1.0], [2.0, 3.0]], {"x": 1}, object()])


def reals(low, high, *, low_open=False, high_open=False, edges=()):
    """Reals in the interval [low, high]: uniform, log-uniform near 0, the ends and edges.

    Parameters
    ----------
    low, high : float
        Finite ends, low <= high.
    low_open, high_open : bool, default False
        Exclude that end.
    edges : sequence of float
        Values to draw often where they lie inside (the points where a function changes
        route).  Tiny values down to 5e-324 and values within 1e-16 of the ends are drawn
        often too.

    Examples
    --------
    >>> from hypothesis import find
    >>> find(reals(0.0, 1.0, low_open=True), lambda x: x == 5e-324)
    5e-324
    """
    _check_interval(low, high)
    if low == high and (low_open or high_open):
        raise ValueError(f"low must be < high for an open end, got low == high == {low!r}")

    def inside(x):
        return ((x > low if low_open else x >= low) and (x < high if high_open else x <= high))
    specials = [x for x in (low, high, *edges, *_TINY, *(low + t for t in _TINY),
                            *(high - t * max(1.0, abs(high)) for t in _TINY))
                if math.isfinite(x) and inside(x)]
    parts = [st.floats(low, high, exclude_min=low_open, exclude_max=high_open,
                       allow_nan=False)]
    if specials:
        parts.append(st.sampled_from(sorted(set(specials))))
    if low >= 0 and high > 0:
        # hypothesis' own floats rarely land in (1e-300, 1e-30): a log-uniform part does
        lo = max(low, 5e-324)
        parts.append(st.floats(math.log10(lo), math.log10(high), allow_nan=False)
                     .map(lambda e: min(10.0 ** min(e, 308.0), high)).filter(inside))
    return st.one_of(parts)


def beyond_reals(low, high, *, low_open=False, high_open=False, include_empty=False):
    """Values outside the interval [low, high]: reals just and far beyond its ends, the open
    ends themselves, :func:`nonfinite` values and :func:`not_numbers`.

    A function whose argument has the domain [low, high] must reject every draw with a
    ValueError (``include_empty`` as in :func:`not_numbers`).

    Examples
    --------
    >>> from hypothesis import find
    >>> float(find(beyond_reals(0.0, 1.0), lambda x: isinstance(x, float) and 1 < x < 1.1))
    1.0000000000000002
    """
    _check_interval(low, high)
    outside = [float(np.nextafter(low, -math.inf)), low - 1, -1e300,
               np.nextafter(high, math.inf), high + 1, 1e300]
    if low_open:
        outside.append(low)
    if high_open:
        outside.append(high)
    outside = [x for x in outside if not (x > low and x < high)]
    return st.one_of(st.sampled_from(outside), nonfinite(),
                     not_numbers(include_empty=include_empty))


def beyond_integers(low=1, high=D_MAX, *, include_empty=False):
    """Values outside the integers [low, high]: integers just and far beyond the ends
    (including ones that overflow int64), non-integral floats, :func:`nonfinite` values and
    :func:`not_numbers` (``include_empty`` as there)."""
    low, high = _integer(low, "low", -math.inf, math.inf), _integer(high, "high", low, math.inf)
    return st.one_of(st.sampled_from([low - 1, low - 2, -(2 ** 63), high + 1, 2 ** 63,
                                      2 ** 64 + 1, 10 ** 400, 1.5, low + 0.5, float(high) * 4]),
                     nonfinite(), not_numbers(include_empty=include_empty))


# --------------------------------------------------------------------------- domain values
def moments(*, min_value=0.25, max_value=4.0):
    """Moment orders s > 0: the s of E‖x‖^s that a critical sigma preserves.

    Parameters
    ----------
    min_value, max_value : float
        Bounds, 0 < min_value <= max_value <= 1000 (``S_MAX``).  The whole range is the
        domain of ``moment_factor`` / ``critical_sigma`` / the RReLU functions down to
        2**-1021; ``finite_width.moment_map`` takes s <= 100.  At small s the float64 sigma
        can overflow (s = 1e-3, d = 1 gives 2e301): such a call raises a ValueError
        pointing to ``dps=``.

    Returns
    -------
    SearchStrategy[float]
        Often 0.5, 1, 2 (Kaiming), 100 and the bounds themselves.

    Examples
    --------
    >>> from hypothesis import find
    >>> find(moments(), lambda s: s == 2)     # the Kaiming order is drawn
    2.0
    """
    low = _real(min_value, "min_value", 0.0, S_MAX, low_open=True)
    high = _real(max_value, "max_value", 0.0, S_MAX, low_open=True)
    _ordered(low, high)
    return reals(low, high, edges=(2.0 ** -1021, 1e-3, 0.5, 1.0, 2.0, 100.0))


def widths(*, min_value=1, max_value=256):
    """Layer widths d: integers in [1, 2**53] (``initmath._validate.D_MAX``).

    Every function taking a width (d, d_in, d_out, m, n) accepts [1, 2**53], the integers
    exact in float64.  Draws are often small, the bounds and powers of two.

    Examples
    --------
    >>> from hypothesis import find
    >>> find(widths(max_value=2 ** 53), lambda d: d == 2 ** 53)
    9007199254740992
    """
    low, high, special = _integer_bounds(min_value, max_value, D_MAX,
                                         lambda low, high: [low + 1, high - 1,
                                                            *(2 ** k for k in range(54))])
    return st.one_of(st.integers(low, min(high, low + 63)), st.integers(low, high),
                     st.sampled_from(special))


def slopes(*, min_value=0.0, max_value=1.0, tiny=True):
    """Negative-side slopes a of leaky ReLU / PReLU: reals in [0, 1].

    a = 0 is ReLU and a = 1 linear.  The library takes a down to 5e-324 (float64 routes
    work with log a where a**2 underflows, below ~1e-154).

    Parameters
    ----------
    min_value, max_value : float
        Bounds, 0 <= min_value <= max_value <= 1.
    tiny : bool, default True
        Draw the library's edges often: 0, 1, 5e-324, 1e-300, 1e-170, 1e-8 and other tiny
        values within the bounds.  With False, nonzero slopes are at least 1e-8, so that a
        float32 simulation applies the same slope as the theory (0 is still drawn when
        min_value is 0).

    Examples
    --------
    >>> from hypothesis import find
    >>> find(slopes(), lambda a: a == 5e-324)
    5e-324
    >>> find(slopes(tiny=False), lambda a: 0 < a < 1e-3) >= 1e-8
    True
    """
    low = _real(min_value, "min_value", 0.0, 1.0)
    high = _real(max_value, "max_value", 0.0, 1.0)
    _ordered(low, high)
    if tiny:
        return reals(low, high, edges=(0.0, 1.0, 1e-8, 0.01, 0.25))
    if 0 < high < _SLOPE_FLOOR:
        raise ValueError(f"max_value must be 0 or >= {_SLOPE_FLOOR:g} with tiny=False, "
                         f"got {max_value!r}")
    parts = [st.just(0.0)] if low == 0 else []
    if high >= _SLOPE_FLOOR:
        floor = max(low, _SLOPE_FLOOR)
        parts += [st.floats(floor, high), st.sampled_from(_edges(floor, high, (0.01, 0.25)))]
    return st.one_of(parts)


def rrelu_intervals(*, min_value=0.0, max_value=1.0, tiny=True):
    """(lower, upper) intervals of randomized leaky ReLU slopes, lower <= upper.

    The domain of ``rrelu_critical_sigma`` and friends: 0 <= lower <= upper <= 1; lower ==
    upper (a fixed slope) is drawn often, and so is torch's default (1/8, 1/3) where it lies
    within the bounds.  The bounds and ``tiny`` are as in :func:`slopes`.

    Examples
    --------
    >>> from hypothesis import find
    >>> find(rrelu_intervals(), lambda pair: pair == (1 / 8, 1 / 3))
    (0.125, 0.3333333333333333)
    >>> find(rrelu_intervals(), lambda pair: pair[0] == pair[1] == 5e-324)
    (5e-324, 5e-324)
    """
    slope = slopes(min_value=min_value, max_value=max_value, tiny=tiny)
    low, high = float(min_value), float(max_value)
    parts = [st.tuples(slope, slope).map(lambda pair: tuple(sorted(pair))),
             slope.map(lambda a: (a, a))]
    if low <= 1 / 8 and high >= 1 / 3:
        parts.append(st.just((1 / 8, 1 / 3)))
    return st.one_of(parts)


def keep_probabilities(*, min_value=0.05, max_value=1.0):
    """Dropout keep probabilities q (``keep_prob``): reals in (0, 1], q = 1 meaning no
    dropout.

    The numerical functions take q in [1e-300, 1] (below it q times a mixture weight is
    subnormal); the symbolic expansions any q in (0, 1].  Bounds: 0 < min_value <= max_value
    <= 1.  Draws are often 1, 0.5, 1e-300 and the bounds.

    Examples
    --------
    >>> from hypothesis import find
    >>> find(keep_probabilities(min_value=1e-300), lambda q: q == 1e-300)
    1e-300
    """
    low = _real(min_value, "min_value", 0.0, 1.0, low_open=True)
    high = _real(max_value, "max_value", 0.0, 1.0, low_open=True)
    _ordered(low, high)
    return reals(low, high, edges=(1e-300, 1e-17, 0.5, 0.9, 1.0))


def matrix_shapes(*, max_side=64, min_side=1, square=False):
    """Weight matrix shapes (d_out, d_in), torch's order (``Linear.weight.shape``).

    For ``hessian_sigma(d_in, d_out)``, ``expected_norm`` and the Wishart moments
    (W an m x n matrix).  Sides are :func:`widths` in [min_side, max_side], 1 <= min_side
    <= max_side <= 2**53; ``square=True`` draws d_out == d_in only.  (``method="exact"``
    of the Hessian functions needs min(d_in, d_out) <= 128.)

    Examples
    --------
    >>> from hypothesis import find
    >>> find(matrix_shapes(), lambda shape: shape == (64, 1))
    (64, 1)
    """
    low = _integer(min_side, "min_side", 1, D_MAX)
    high = _integer(max_side, "max_side", 1, D_MAX)
    _ordered(low, high, "min_side", "max_side")
    side = widths(min_value=low, max_value=high)
    return side.map(lambda n: (n, n)) if square else st.tuples(side, side)


def depths(*, min_value=1, max_value=10):
    """Numbers of layers L: integers in [1, 100000] (``DEPTH_MAX``, the limit of
    ``finite_depth.depth_law``).  ``log_norm_distribution`` takes depths k up to 2**53:
    draw those with :func:`widths`.

    Examples
    --------
    >>> from hypothesis import find
    >>> find(depths(), lambda depth: depth == 10)
    10
    """
    low, high, special = _integer_bounds(min_value, max_value, DEPTH_MAX,
                                         lambda low, high: [low + 1])
    return st.one_of(st.integers(low, high), st.sampled_from(special))


def precisions(*, min_value=15, max_value=50):
    """mpmath precisions ``dps`` (decimal digits): integers in [1, 10000]
    (``initmath._validate.DPS_MAX``).

    The default bounds keep a call fast; high dps with small s or large d may be refused up
    front as over the 30 s budget (a ValueError naming dps).  Draws are often 15-17
    (float64's digits) and the bounds.

    Examples
    --------
    >>> from hypothesis import find
    >>> find(precisions(), lambda dps: dps == 16)
    16
    """
    low, high, special = _integer_bounds(min_value, max_value, DPS_MAX,
                                         lambda low, high: [15, 16, 17])
    return st.one_of(st.integers(low, high), st.sampled_from(special))


_KINDS = ("homogeneous", "any")
# Every registered activation whose default parameters are complete (threshold has none),
# and a few non-default parameter choices that change the function's shape.
_NAMED = [name for name in ACTIVATIONS if name != "threshold"]
_PARAMETRIZED = [("gelu", {"approximate": "tanh"}), ("elu", {"alpha": 0.5}),
                 ("softplus", {"beta": 2.0}), ("hardtanh", {"min_val": -2.0, "max_val": 0.5}),
                 ("threshold", {"threshold": 0.5, "value": -1.0})]


def activations(*, kind="homogeneous"):
    """Activations as :class:`initmath.activations.Activation` objects, which every
    function taking an ``activation`` accepts.

    Parameters
    ----------
    kind : {"homogeneous", "any"}
        ``"homogeneous"``: max(x, a x) for a from :func:`slopes`, the family of the
        critical-variance theory (``.slopes`` is (1, a); named "relu" at a = 0, "identity"
        at a = 1, else "leaky_relu(negative_slope=a)").  ``"any"``: these, every entry of
        :data:`initmath.activations.ACTIVATIONS` with its torch defaults (tanh, gelu, silu,
        ...) and a few with other parameters (GELU's tanh form, Threshold, ...).

    Examples
    --------
    >>> from hypothesis import find
    >>> find(activations(), lambda phi: phi.name == "relu").slopes
    (1.0, 0.0)
    >>> find(activations(kind="any"), lambda phi: phi.name == "tanh").slopes is None
    True
    """
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {', '.join(_KINDS)}, got {kind!r}")
    homogeneous = slopes().map(lambda a: activation("leaky_relu", negative_slope=a))
    if kind == "homogeneous":
        return homogeneous
    return st.one_of(homogeneous, st.sampled_from(_NAMED).map(activation),
                     st.sampled_from(_PARAMETRIZED).map(lambda pair: activation(pair[0],
                                                                                **pair[1])))


@dataclasses.dataclass(frozen=True)
class LayerStack:
    """A stack of fully connected leaky-ReLU layers d_0 -> d_1 -> ... -> d_L, and the moment
    order s to preserve through it.

    ``widths`` holds depth + 1 widths (the input's, then each layer's output width);
    ``slope`` is the leaky-ReLU slope a in [0, 1] of every layer.  For example,
    ``critical_sigmas(stack.s, stack.widths, stack.slope)`` gives one sigma per layer.
    """

    widths: tuple[int, ...]
    slope: float
    s: float

    @property
    def depth(self) -> int:
        """The number of layers L."""
        return len(self.widths) - 1

    @property
    def shapes(self) -> tuple[tuple[int, int], ...]:
        """Each layer's weight shape (d_out, d_in), torch's order."""
        return tuple(zip(self.widths[1:], self.widths[:-1]))


def _given_or_drawn(value, default):
    """A strategy for a parameter given as None (use default), a number, or a strategy."""
    if value is None:
        return default
    if isinstance(value, st.SearchStrategy):
        return value
    return st.just(value)


def layer_stacks(*, min_depth=1, max_depth=4, min_width=2, max_width=64, slope=None, s=None):
    """Whole :class:`LayerStack` s: depths from :func:`depths`, widths from :func:`widths`.

    Parameters
    ----------
    min_depth, max_depth : int
        Bounds of the number of layers, 1 <= min_depth <= max_depth <= 100000.
    min_width, max_width : int
        Bounds of every width, 1 <= min_width <= max_width <= 2**53.
    slope : None, float or SearchStrategy
        The layers' slope: drawn from ``slopes(tiny=False)`` when None, else this value
        (in [0, 1]) or drawn from this strategy.
    s : None, float or SearchStrategy
        The moment order: drawn from :func:`moments` when None, else this value (in
        (0, 1000]) or drawn from this strategy.

    Examples
    --------
    >>> from hypothesis import find
    >>> stack = find(layer_stacks(slope=0.0, s=1.0), lambda stack: stack.depth == 3)
    >>> len(stack.widths), len(stack.shapes), stack.slope, stack.s
    (4, 3, 0.0, 1.0)
    """
    if slope is not None and not isinstance(slope, st.SearchStrategy):
        _real(slope, "slope", 0.0, 1.0)
    if s is not None and not isinstance(s, st.SearchStrategy):
        _real(s, "s", 0.0, S_MAX, low_open=True)
    low = _integer(min_depth, "min_depth", 1, DEPTH_MAX)
    high = _integer(max_depth, "max_depth", 1, DEPTH_MAX)
    _ordered(low, high, "min_depth", "max_depth")
    narrow = _integer(min_width, "min_width", 1, D_MAX)
    wide = _integer(max_width, "max_width", 1, D_MAX)
    _ordered(narrow, wide, "min_width", "max_width")
    width = widths(min_value=narrow, max_value=wide)
    chain = depths(min_value=low, max_value=high).flatmap(
        lambda depth: st.lists(width, min_size=depth + 1, max_size=depth + 1).map(tuple))
    return st.builds(LayerStack, chain, _given_or_drawn(slope, slopes(tiny=False)),
                     _given_or_drawn(s, moments()))


# --------------------------------------------------------------------------- invalid values
def invalid_moments():
    """Values outside the moments' domain (0, 1000]: 0, -5e-324, negatives, 1000 + 1 ulp,
    1e300, nan, +-inf and :func:`not_numbers`.  Every numerical function taking s
    (``moment_factor``, ``critical_sigma``, ``moment_map``, ...) rejects them with a
    ValueError naming s; the symbolic expansions take any s > 0, strings included."""
    return beyond_reals(0.0, S_MAX, low_open=True)


def invalid_widths():
    """Values that are no width in [1, 2**53]: 0, negatives, 2**53 + 1, 2**63, 10**400,
    1.5, nan, +-inf and :func:`not_numbers`; rejected with a ValueError naming the width."""
    return beyond_integers(1, D_MAX)


def invalid_slopes():
    """Values outside the slopes' domain [0, 1]: -5e-324, negatives, 1 + 1 ulp, 2, 1e300,
    nan, +-inf and :func:`not_numbers`; rejected with a ValueError naming a."""
    return beyond_reals(0.0, 1.0)

"""The one validation layer: argument checks and result guards shared by the public functions.

Every check raises ValueError naming the argument and its allowed range, so a bad
input never turns into a silent NaN, a hang or a wrong number.  Values are returned
as numpy arrays (float64 or int64) ready to broadcast, or, on the high-precision
path, as exact mpmath numbers.  The domain limits that several areas share live here
(``D_MAX``, ``DPS_MAX``, ``WORK_BUDGET_S``) and are documented in ``docs/domain.md``.
"""
import math
import numbers
from fractions import Fraction

import mpmath
import numpy as np

__all__ = [
    "DPS_MAX",
    "D_MAX",
    "WORK_BUDGET_S",
    "NotRepresentableError",
    "bound_text",
    "broadcast",
    "choice",
    "dps_or_none",
    "finite_result",
    "integer_scalar",
    "mp_number",
    "positive_integer",
    "real",
    "real_scalar",
    "scalar",
    "shown",
]

# Widths (and other counts) up to 2**53 are exact in float64, which the numerical
# routes use for d; beyond it d + 1 == d in float64 and results would silently stop
# depending on d.
D_MAX = 2 ** 53
DPS_MAX = 10000
# A valid input whose evaluation would take longer than this (seconds, on one core of a
# 2-core machine) takes a faster route or raises saying why and what to do instead.
WORK_BUDGET_S = 30


def bound_text(x):
    """A bound as people write it: 2**53 rather than 9.0072e+15, 1e-300 rather than 1e-300."""
    if isinstance(x, numbers.Integral) and x >= 2 ** 20 and x & (x - 1) == 0:
        return f"2**{int(x).bit_length() - 1}"
    return f"{x:g}"


def _array(value, name):
    if isinstance(value, (bool, np.bool_, str, bytes)):
        raise ValueError(f"{name} must be a real number or an array of them, got {value!r}")
    if isinstance(value, mpmath.mpf):
        value = float(value)
    try:
        array = np.asarray(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{name} must be a real number or an array of them, "
                         f"got {value!r}") from None
    if array.dtype == object:
        try:
            array = np.asarray([_plain(v) for v in array.flat],
                               dtype=float).reshape(array.shape) if all(
                isinstance(v, (numbers.Real, mpmath.mpf)) and not isinstance(v, bool)
                for v in array.flat) else None
        except (TypeError, ValueError, OverflowError):
            array = None
        if array is None:
            raise ValueError(f"{name} must be a real number or an array of them, got {value!r}")
    if array.dtype.kind not in "iuf":
        raise ValueError(f"{name} must be real (not {array.dtype}), got {value!r}")
    return array


def _plain(v):
    """A real scalar as a float, with Python ints too large for float64 mapped to inf
    (so that the range check, not an OverflowError, reports them)."""
    try:
        return float(v)
    except OverflowError:
        return math.inf if v > 0 else -math.inf


def _first_bad(array, ok):
    return array[~ok].flat[0].item()


def _in_range(x, low, high, low_open, high_open):
    return (math.isfinite(x) and (low is None or (x > low if low_open else x >= low))
            and (high is None or (x < high if high_open else x <= high)))


def _interval(low, high, low_open, high_open):
    return (("(" if low_open or low is None else "[")
            + ("-inf" if low is None else bound_text(low)) + ", "
            + ("inf" if high is None else bound_text(high))
            + (")" if high_open or high is None else "]"))


def real(value, name, low=None, high=None, *, low_open=False, high_open=False):
    """value as a float64 array, all finite and within [low, high] (or open ends)."""
    if type(value) in (float, int) and _in_range(value, low, high, low_open, high_open):
        return np.array(float(value))           # fast path for a plain scalar
    array = _array(value, name).astype(float)
    ok = np.isfinite(array)
    if low is not None:
        ok &= (array > low) if low_open else (array >= low)
    if high is not None:
        ok &= (array < high) if high_open else (array <= high)
    if not ok.all():
        raise ValueError(f"{name} must be finite and lie in "
                         f"{_interval(low, high, low_open, high_open)}, "
                         f"got {_first_bad(array, ok)!r}")
    return array


def positive_integer(value, name, high=D_MAX):
    """value as an int64 array of integers in [1, high] (integral floats such as 64.0 are
    accepted; Python ints of any size are compared exactly, never wrapped around)."""
    if type(value) is int and 1 <= value <= high:
        return np.array(value, dtype=np.int64)  # fast path for a plain scalar
    allowed = f"an integer in [1, {bound_text(high)}]"
    if isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be {allowed}, got {shown(value)}")
    array = _array(value, name)
    if array.dtype.kind == "f":
        ok = np.isfinite(array) & (array == np.round(array)) & (array >= 1) & (array <= high)
    else:
        ok = (array >= 1) & (array <= high)
    if not ok.all():
        raise ValueError(f"{name} must be {allowed}, got {_first_bad(array, ok)!r}")
    return array.astype(np.int64)


def shown(value, limit=80):
    """value as an error message shows it: one line, at most about limit characters (a huge
    integer as its leading digits and its length, anything else as a shortened repr)."""
    if isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)):
        text = str(int(value))
        return text if len(text) <= 24 else f"{text[:8]}...({len(text)} digits)"
    text = " ".join(repr(value).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def scalar(value, name):
    """value itself if it is a single number (a 0-d array counts): for the arguments that
    do not broadcast, so an array gets a ValueError instead of a TypeError deep inside."""
    try:
        ndim = np.ndim(value)
    except (TypeError, ValueError):                 # ragged nested lists
        raise ValueError(f"{name} must be a single number, got {value!r:.60}") from None
    if ndim != 0:
        raise ValueError(f"{name} must be a single number, not an array of shape "
                         f"{np.shape(value)}")
    return value.item() if isinstance(value, np.ndarray) else value


def real_scalar(value, name, low=None, high=None, **open_ends):
    """One real number (not an array) within the interval, as a Python float."""
    return float(real(scalar(value, name), name, low, high, **open_ends))


def integer_scalar(value, name, high=D_MAX):
    """One integer (not an array) in [1, high], as a Python int."""
    return int(positive_integer(scalar(value, name), name, high))


def broadcast(**arrays):
    """The named validated arrays broadcast against each other (a list in the given order),
    or a ValueError naming them, not numpy's 'operands could not be broadcast together'."""
    try:
        return np.broadcast_arrays(*arrays.values())
    except ValueError:
        raise ValueError(f"{', '.join(arrays)} must broadcast together, got shapes "
                         + ", ".join(f"{k} {np.shape(a)}" for k, a in arrays.items())) from None


def dps_or_none(dps):
    """None (float64) or the number of significant decimal digits, an int in [1, DPS_MAX]."""
    if dps is None:
        return None
    if isinstance(dps, (bool, np.bool_)) or not isinstance(dps, numbers.Integral) or not (
            1 <= dps <= DPS_MAX):
        raise ValueError(f"dps must be None or an integer in [1, {DPS_MAX}], got {dps!r}")
    return int(dps)


def choice(value, name, allowed):
    """value if it is one of the strings in allowed."""
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}")
    return value


class NotRepresentableError(ValueError):
    """A valid input whose result lies outside float64's range (a ValueError, so callers
    that treat every bad input alike need nothing new; callers that can do better, such as
    a std that is only an intermediate, catch this one)."""


def finite_result(out, what, hint=""):
    """out unchanged if every entry is finite; otherwise a ValueError that says which
    quantity left float64's range (and, in hint, what to do), never a silent nan/inf."""
    values = np.asarray(out, dtype=float)
    if not np.isfinite(values).all():
        raise NotRepresentableError(f"{what} is not representable in float64 for these arguments "
                         f"(got {_first_bad(values, np.isfinite(values))!r})"
                         + (f"; {hint}" if hint else ""))
    return out


def mp_number(value):
    """An already validated real scalar as an exact mpmath number (no decimal rounding:
    a Python float is its binary value, a Fraction or int is exact at any precision)."""
    if isinstance(value, Fraction):
        return mpmath.mpf(value.numerator) / value.denominator
    if isinstance(value, np.generic):
        value = value.item()
    return mpmath.mpf(value)

"""Argument checks shared by the public functions.

Every check raises ValueError naming the argument and its allowed range, so a bad
input never turns into a silent NaN, a hang or a wrong number.  Values are returned
as numpy arrays (float64 or int64) ready to broadcast, or, on the high-precision
path, as exact mpmath numbers.
"""
import math
import numbers
from fractions import Fraction

import mpmath
import numpy as np

__all__ = ["real", "positive_integer", "dps_or_none", "choice", "mp_number"]


def _array(value, name):
    if isinstance(value, (bool, np.bool_, str, bytes)):
        raise ValueError(f"{name} must be a real number or an array of them, got {value!r}")
    if isinstance(value, mpmath.mpf):
        value = float(value)
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number or an array of them, "
                         f"got {value!r}") from None
    if array.dtype == object:
        try:
            array = np.asarray(array.tolist(), dtype=float) if all(
                isinstance(v, (numbers.Real, mpmath.mpf)) and not isinstance(v, bool)
                for v in array.flat) else None
        except (TypeError, ValueError):
            array = None
        if array is None:
            raise ValueError(f"{name} must be a real number or an array of them, got {value!r}")
    if array.dtype.kind not in "iuf":
        raise ValueError(f"{name} must be real (not {array.dtype}), got {value!r}")
    return array


def _first_bad(array, ok):
    return array[~ok].flat[0].item()


def _in_range(x, low, high, low_open, high_open):
    return (math.isfinite(x) and (low is None or (x > low if low_open else x >= low))
            and (high is None or (x < high if high_open else x <= high)))


def real(value, name, low=None, high=None, *, low_open=False, high_open=False):
    """value as a float64 array, all finite and within [low, high] (or open ends)."""
    if type(value) in (float, int) and _in_range(value, low, high, low_open, high_open):
        return np.array(float(value))           # fast path for a plain scalar
    array = _array(value, name).astype(float)
    allowed = (("(" if low_open else "[") + ("-inf" if low is None else f"{low:g}") + ", "
               + ("inf" if high is None else f"{high:g}") + (")" if high_open or high is None
                                                              else "]"))
    ok = np.isfinite(array)
    if low is not None:
        ok &= (array > low) if low_open else (array >= low)
    if high is not None:
        ok &= (array < high) if high_open else (array <= high)
    if not ok.all():
        raise ValueError(f"{name} must be finite and lie in {allowed}, "
                         f"got {_first_bad(array, ok)!r}")
    return array


def positive_integer(value, name):
    """value as an int64 array of integers >= 1 (integral floats such as 64.0 are accepted)."""
    if type(value) is int and 1 <= value < 2 ** 62:
        return np.array(value, dtype=np.int64)  # fast path for a plain scalar
    array = _array(value, name)
    if array.dtype.kind == "f":
        ok = np.isfinite(array) & (array == np.round(array)) & (array < 2.0 ** 62)
        if not ok.all():
            raise ValueError(f"{name} must be an integer >= 1, got {_first_bad(array, ok)!r}")
    array = array.astype(np.int64)
    ok = array >= 1
    if not ok.all():
        raise ValueError(f"{name} must be an integer >= 1, got {_first_bad(array, ok)!r}")
    return array


def dps_or_none(dps):
    """None (float64) or the number of significant decimal digits, an int in [1, 10000]."""
    if dps is None:
        return None
    if isinstance(dps, (bool, np.bool_)) or not isinstance(dps, numbers.Integral) or not (
            1 <= dps <= 10000):
        raise ValueError(f"dps must be None or an integer in [1, 10000], got {dps!r}")
    return int(dps)


def choice(value, name, allowed):
    """value if it is one of the strings in allowed."""
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}")
    return value


def mp_number(value):
    """An already validated real scalar as an exact mpmath number (no decimal rounding:
    a Python float is its binary value, a Fraction or int is exact at any precision)."""
    if isinstance(value, Fraction):
        return mpmath.mpf(value.numerator) / value.denominator
    if isinstance(value, np.generic):
        value = value.item()
    return mpmath.mpf(value)

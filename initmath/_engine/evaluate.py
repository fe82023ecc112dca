"""One way to evaluate a scalar kernel over broadcast arrays, in float64 or at dps digits.

mpmath's discipline: work at ``dps`` plus guard digits, round the result back to ``dps``
on return.  The guard is one rule for every route: a base of GUARD_DIGITS plus the
decimal digits of each amplification factor the computation goes through (a condition
number, a count of summed terms, 1/s in exp(-log(I)/s), ...).
"""
import math
from collections.abc import Callable
from typing import Any

import mpmath
import numpy as np

GUARD_DIGITS = 10


def guard_digits(*amplifications: float) -> int:
    """Guard digits for a computation whose rounding errors are amplified by the factors:
    GUARD_DIGITS + sum of ceil(log10(factor)) over the factors above 1."""
    return GUARD_DIGITS + sum(math.ceil(math.log10(x)) for x in amplifications if x > 1)


def unwrap(out: np.ndarray) -> Any:
    """A 0-d result as its scalar (numpy's convention for ufuncs), an array as it is."""
    return out[()] if out.ndim == 0 else out


def elementwise(kernel: Callable[..., Any], *arrays: Any, dtype: Any = object) -> np.ndarray:
    """kernel(*elements) at every index of the broadcast arrays, as an array of ``dtype``.

    The elements are numpy scalars (or Python objects for object arrays); a kernel that
    needs Python ints or floats converts them itself, where it knows which is which.
    """
    arrays = np.broadcast_arrays(*map(np.asarray, arrays))
    out = np.empty(arrays[0].shape, dtype=dtype)
    for index in np.ndindex(out.shape):
        out[index] = kernel(*(x[index] for x in arrays))
    return out


def at_precision(kernel: Callable[..., Any], dps: int, guard: int, *args: Any) -> Any:
    """kernel(*args) computed with dps + guard digits, rounded to dps digits."""
    with mpmath.workdps(dps + guard):
        value = kernel(*args)
    with mpmath.workdps(dps):
        return +value


def ldexp(mantissa: Any, exponent: Any) -> Any:
    """mantissa * 2**exponent for scalars or arrays, +-inf beyond float64's range and 0
    (or a subnormal) below it: math.ldexp raises on overflow, np.ldexp wants int32.
    A Python number comes back as a Python float (whose arithmetic overflows to inf
    silently, as scalar code expects), numpy input as numpy output."""
    with np.errstate(over="ignore", under="ignore"):
        out = np.ldexp(mantissa, np.clip(exponent, -4000, 4000).astype(np.int32))
    python = isinstance(mantissa, (int, float)) and not isinstance(mantissa, np.generic)
    return float(out) if python else out


def guard_bits(*amplifications: float) -> int:
    """guard_digits in bits, for routes that set mpmath's binary precision (workprec)."""
    return math.ceil(guard_digits(*amplifications) * math.log2(10))

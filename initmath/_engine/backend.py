"""The float64 and mpmath backends: one set of names over two kinds of numbers.

A route written against a backend ``xp`` runs unchanged in float64 (numpy's ufuncs on
float arrays) or at any precision (the same mpmath functions mapped over numpy object
arrays).  Besides the elementary functions a backend carries the few operations the
quadrature plan needs (``where``, ``minimum``, ``maximum``, ``floor``, ``ceil`` and
``integer``), so the plan too is written once.  :data:`SCALAR` is float64 on single Python
floats (libm, for the lean one-row path: numpy's vectorised logarithm can differ from
libm's in the last bit, and a row's nodes must not depend on how it was batched).
"""
import math
from types import SimpleNamespace

import mpmath
import numpy as np
from scipy import special


def _pick(condition, if_true, if_false):
    """where() for a single number."""
    return if_true if condition else if_false


def _float_log_near_one(value, minus_one):
    """log of value from value - 1 (accurate near 1) or value itself (accurate when small)."""
    out = np.log(value)
    np.log1p(minus_one, out=out, where=minus_one > -0.5)
    return out


def _mp_log_near_one(value, minus_one):
    return mpmath.log1p(minus_one) if minus_one > -0.5 else mpmath.log(value)


FLOAT = SimpleNamespace(exp=np.exp, expm1=np.expm1, log=np.log, log1p=np.log1p, sqrt=np.sqrt,
                        loggamma=special.gammaln, gamma=special.gamma,
                        log_near_one=_float_log_near_one, e=math.e, num=float, dtype=float,
                        where=np.where, minimum=np.minimum, maximum=np.maximum,
                        floor=np.floor, ceil=np.ceil, integer=lambda x: x.astype(np.int64))

SCALAR = SimpleNamespace(log=math.log, sqrt=math.sqrt, num=float, where=_pick, minimum=min,
                         maximum=max, floor=math.floor, ceil=math.ceil, integer=int)

MP = SimpleNamespace(**{name: np.frompyfunc(getattr(mpmath, name), 1, 1)
                        for name in ("exp", "expm1", "log", "log1p", "sqrt", "loggamma",
                                     "gamma")},
                     log_near_one=np.frompyfunc(_mp_log_near_one, 2, 1), e=mpmath.e,
                     num=mpmath.mpf, dtype=object, where=_pick, minimum=min, maximum=max,
                     floor=mpmath.floor, ceil=mpmath.ceil, integer=int)

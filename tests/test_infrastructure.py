"""The shared infrastructure: docstring fragments (initmath._docs) and the evaluation
driver (initmath._engine.evaluate)."""
import math

import mpmath
import numpy as np
import pytest

from initmath import _docs
from initmath._engine.evaluate import (
    at_precision,
    elementwise,
    guard_bits,
    guard_digits,
    ldexp,
    unwrap,
)


# --------------------------------------------------------------------------- _docs.fill
def _documented(doc, **overrides):
    def f():
        pass
    f.__doc__ = doc
    return _docs.fill(**overrides)(f).__doc__


def test_fill_indents_every_line_of_a_fragment():
    doc = _documented("Title.\n\n    Parameters\n    ----------\n    %(d)s\n    x : int\n")
    expected = "\n".join("    " + line for line in _docs.DOCDICT["d"].splitlines())
    assert expected in doc and "%(" not in doc and doc.endswith("    x : int\n")


def test_fill_expands_fragments_inside_fragments_and_leaves_percent_alone():
    doc = _documented("Top 95% of it.\n    %(outer)s\n", outer="outer : str\n    %(s)s")
    assert doc.startswith("Top 95% of it.") and "%(" not in doc
    assert "        s : float or array_like" in doc        # inner marker indented twice


def test_fill_refuses_an_unknown_marker():
    with pytest.raises(KeyError, match="nope"):
        _documented("    %(nope)s\n")


# --------------------------------------------------------------------------- evaluate
def test_guard_digits_adds_the_digits_of_each_amplification():
    assert guard_digits() == 10
    assert guard_digits(0.5, 1.0) == 10                   # factors <= 1 add nothing
    assert guard_digits(1e5, 999.0) == 10 + 5 + 3
    assert guard_bits(1e5) == math.ceil(15 * math.log2(10))


def test_elementwise_broadcasts_and_unwrap_gives_scalars():
    out = elementwise(lambda x, y: x * 10 + y, np.arange(3)[:, None], [0, 1], dtype=float)
    assert out.shape == (3, 2) and out[2, 1] == 21.0
    scalar = unwrap(elementwise(lambda x: x + 1, 2.0, dtype=float))
    assert isinstance(scalar, np.floating) and scalar == 3.0
    assert unwrap(np.arange(2)).shape == (2,)


def test_at_precision_rounds_back_to_the_digits_asked_for():
    with mpmath.workdps(15):
        third = at_precision(lambda: mpmath.mpf(1) / 3, 30, 10)
    with mpmath.workdps(60):
        assert abs(third - mpmath.mpf(1) / 3) < mpmath.mpf(10) ** -29
        assert abs(third - mpmath.mpf(1) / 3) > mpmath.mpf(10) ** -45   # not 40 digits


def test_ldexp_saturates_instead_of_raising():
    with pytest.raises(OverflowError):
        math.ldexp(1.0, 5000)                              # why ldexp exists
    assert ldexp(1.0, 5000) == math.inf and isinstance(ldexp(1.0, 5000), float)
    assert ldexp(-1.0, 10 ** 9) == -math.inf and ldexp(1.0, -5000) == 0.0
    assert ldexp(1.0, -1074) == 5e-324                   # the smallest subnormal
    out = ldexp(np.array([1.0, 3.0]), np.array([2, -2]))
    assert isinstance(out, np.ndarray) and out.tolist() == [4.0, 0.75]
    assert isinstance(ldexp(np.float64(1.0), 3), np.floating)

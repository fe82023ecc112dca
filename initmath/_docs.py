"""Shared docstring fragments (scipy's docdict pattern): one text per common parameter.

A public function writes ``%(d)s`` on its own line in the Parameters section and is
decorated with :func:`fill`; the marker's indentation is applied to every line of the
fragment, so the numpydoc layout is kept.  Only the names below are replaced, so a
literal ``%`` elsewhere in a docstring needs no escaping.
"""
import re
from collections.abc import Callable
from typing import Any

DOCDICT = {
    "s": """\
s : float or array_like
    Order of the preserved moment, 0 < s <= 1000 (s = 2 is Kaiming/He).""",
    "d": """\
d : int or array_like
    Layer width, an integer >= 1 (at most 2**53); integral floats such as 64.0 are
    accepted.""",
    "a": """\
a : float or array_like, default 0
    Negative-side slope of the activation, 0 <= a <= 1 (0: ReLU, 1: linear).""",
    "dps": """\
dps : int, optional
    None (default): float64, numpy broadcasting over all arguments.  An int (at most
    10000): mpmath numbers correct to that many significant digits (an mpf for scalar
    input, an object array otherwise); floats are taken at their exact binary value.""",
}

_MARKER = re.compile(r"^(?P<indent>[ \t]*)%\((?P<name>\w+)\)s[ \t]*$", re.MULTILINE)


def _indented(match, fragments):
    text = fragments[match.group("name")]
    return "\n".join(match.group("indent") + line if line else line
                     for line in text.splitlines())


def fill(function: Callable | None = None, **overrides: str) -> Any:
    """Replace the ``%(name)s`` lines of ``function.__doc__`` by DOCDICT's fragments.

    ``@fill`` uses DOCDICT as it is; ``@fill(a="...")`` overrides or adds fragments for
    one function; a fragment may itself hold markers (each on its own line).  A marker
    with no fragment raises KeyError at import time, so a typo cannot reach the rendered
    documentation.
    """
    fragments = {**DOCDICT, **overrides}

    def decorate(f):
        doc = f.__doc__
        while doc and _MARKER.search(doc):      # a fragment may name shared fragments
            doc = _MARKER.sub(lambda m: _indented(m, fragments), doc)
        f.__doc__ = doc
        return f

    return decorate if function is None else decorate(function)

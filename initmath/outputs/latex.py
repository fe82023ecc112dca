r"""Tables for papers: booktabs LaTeX, Markdown, CSV and JSON from one :class:`Table`.

A :class:`Table` holds columns (a plain name and a LaTeX math header) and rows of
entries; an entry is an int, a float (numpy included), an mpmath number (high-precision
results keep their digits), a sympy expression (exported with :func:`sympy.latex`, e.g.
a Wishart moment polynomial), a :class:`Math` LaTeX string (e.g. a step of the KL
derivation) or a plain string (escaped).  Numbers are
printed to a fixed number of significant digits; with ``siunitx=True`` numeric columns
become ``S`` columns and the numbers are left to siunitx to typeset.

Examples
--------
>>> from initmath.outputs.latex import Column, Table, to_latex, to_markdown
>>> table = Table("He check", [Column("d", "d"), Column("sigma", r"\bar\sigma")],
...               [(64, 0.1767766952966369), (1024, 0.04419417382415922)])
>>> print(to_markdown(table, digits=4))
| d | sigma |
|---|---|
| 64 | 0.1768 |
| 1024 | 0.04419 |
>>> print(to_latex(table, digits=4, label="tab:he"))      # doctest: +NORMALIZE_WHITESPACE
\begin{table}[ht]
\centering
\begin{tabular}{rr}
\toprule
$d$ & $\bar\sigma$ \\
\midrule
64 & 0.1768 \\
1024 & 0.04419 \\
\bottomrule
\end{tabular}
\caption{He check}
\label{tab:he}
\end{table}
"""
import csv
import io
import json
import math
import numbers
from typing import NamedTuple

import mpmath

from .. import _docs, _validate

__all__ = [
    "FORMATS",
    "LATEX_PACKAGES",
    "Column",
    "Math",
    "Table",
    "escape",
    "render",
    "to_csv",
    "to_json",
    "to_latex",
    "to_markdown",
]

FORMATS = ("latex", "markdown", "csv", "json")
# The LaTeX packages the output of to_latex needs in the document's preamble: booktabs
# (\toprule, \midrule, \bottomrule), amsmath (\text, \operatorname, \lVert in headers,
# sympy's and the KL derivation's entries), amssymb (symbols of the KL derivation) and
# siunitx (only for siunitx=True: S columns).
LATEX_PACKAGES = ("booktabs", "amsmath", "amssymb", "siunitx")

# The parameters every renderer shares (``%(table_digits)s`` in a docstring).
_TABLE_DIGITS = """\
table : Table
digits : int
    Significant digits of numeric entries, in [1, 10000] (17 or more: a float's
    shortest round-trip form; mpmath numbers keep as many digits as asked for)."""
_FRAGMENTS = {
    "table_digits": _TABLE_DIGITS,
    # the whole signature of a renderer that takes only these two
    "renderer": f"Parameters\n----------\n{_TABLE_DIGITS}\n\nReturns\n-------\nstr",
}
_fill = _docs.fill(**_FRAGMENTS)


class Column(NamedTuple):
    """A column: plain ``name`` (Markdown, CSV, JSON keys) and a LaTeX math ``latex``
    header (typeset inside ``$...$``)."""
    name: str
    latex: str


class Math(str):
    """A LaTeX math string entry: typeset inside ``$...$`` in LaTeX, shown as its source
    elsewhere (e.g. the steps of :func:`initmath.kl.kl_bound_derivation_latex`)."""


class Table(NamedTuple):
    """``title`` (the caption by default), ``columns`` and ``rows`` (sequences of entries,
    one per column)."""
    title: str
    columns: list
    rows: list


def _is_sympy(value):
    return type(value).__module__.startswith("sympy")


def _is_number(value):
    return isinstance(value, (numbers.Number, mpmath.mpf)) and not isinstance(value, bool)


def _number(value, digits):
    """value to `digits` significant digits; integers in full; mpmath numbers with mpmath
    (so that 30-digit results keep 30 digits)."""
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, mpmath.mpf):
        return mpmath.nstr(value, digits, min_fixed=-4, max_fixed=digits + 1)
    value = float(value)
    if not math.isfinite(value) or digits >= 17:    # all a float has: shortest round trip
        return repr(value)
    return f"{value:.{digits}g}"


def _plain(value, digits):
    if isinstance(value, Math):
        return f"${value}$"
    if _is_sympy(value):
        return str(value)
    return _number(value, digits) if _is_number(value) else str(value)


def _check(digits, table=None):
    """digits an int in [1, DPS_MAX] (mpmath prints that many; a float shows all it has
    from 17 on), table a Table whose rows have one entry per column."""
    _validate.positive_integer(_validate.scalar(digits, "digits"), "digits", _validate.DPS_MAX)
    if table is None:
        return
    try:
        title, columns, rows = table
        columns, rows = list(columns), list(rows)
        ok = isinstance(title, str) and all(isinstance(c, Column) for c in columns) and all(
            len(row) == len(columns) for row in rows)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError("table must be an initmath.outputs.latex.Table(title, [Column, ...], "
                         "rows) with one entry per column in every row, got "
                         f"{type(table).__name__}")


def _text_or_none(value, name):
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{name} must be a string or None, got {type(value).__name__}")


@_fill
def to_markdown(table: Table, *, digits: int = 6) -> str:
    """GitHub Markdown table (header of plain column names).

    %(renderer)s

    Examples
    --------
    >>> from initmath.outputs.latex import Column, Table, to_markdown
    >>> print(to_markdown(Table("t", [Column("k", "k"), Column("x", "x")], [(1, 1 / 3)]),
    ...                   digits=3))
    | k | x |
    |---|---|
    | 1 | 0.333 |
    """
    _check(digits, table)
    lines = ["| " + " | ".join(c.name for c in table.columns) + " |",
             "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(_plain(v, digits).replace("|", r"\|") for v in row) + " |"
              for row in table.rows]
    return "\n".join(lines)


@_fill
def to_csv(table: Table, *, digits: int = 6) -> str:
    """CSV with a header row of plain column names.

    %(renderer)s

    Examples
    --------
    >>> from initmath.outputs.latex import Column, Table, to_csv
    >>> print(to_csv(Table("t", [Column("k", "k"), Column("x", "x")], [(1, 2.5)])))
    k,x
    1,2.5
    """
    _check(digits, table)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([c.name for c in table.columns])
    writer.writerows([_plain(v, digits) for v in row] for row in table.rows)
    return out.getvalue().rstrip("\n")


@_fill
def to_json(table: Table, *, digits: int = 6) -> str:
    """JSON: {"title", "columns", "rows": [{name: value}]}; numbers are JSON numbers
    (rounded to `digits` significant digits; high-precision ones as strings), sympy
    expressions as strings.

    %(renderer)s

    Raises
    ------
    ValueError
        If two columns share a name (they would collide as keys).

    Examples
    --------
    >>> import json
    >>> from initmath.outputs.latex import Column, Table, to_json
    >>> json.loads(to_json(Table("t", [Column("k", "k")], [(3,)])))["rows"]
    [{'k': 3}]
    """
    _check(digits, table)
    names = [c.name for c in table.columns]
    if len(set(names)) < len(names):
        raise ValueError(f"to_json needs distinct column names (they become keys); got {names}")

    def value(v):
        if _is_sympy(v) or not _is_number(v):
            return str(v)
        text = _number(v, digits)
        return text if isinstance(v, mpmath.mpf) and digits > 17 else json.loads(
            text if math.isfinite(float(v)) else "null")

    rows = [{c.name: value(v) for c, v in zip(table.columns, row)} for row in table.rows]
    return json.dumps({"title": table.title, "columns": [c.name for c in table.columns],
                       "rows": rows}, indent=1)


_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
            "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
            "^": r"\textasciicircum{}", "|": r"\textbar{}"}


def escape(text: object) -> str:
    r"""Plain text made safe for LaTeX (``&`` -> ``\&``, ``_`` -> ``\_``, ...).

    Parameters
    ----------
    text : str

    Returns
    -------
    str

    Examples
    --------
    >>> print(escape("E||x||^s & 50%"))
    E\textbar{}\textbar{}x\textbar{}\textbar{}\textasciicircum{}s \& 50\%
    """
    return "".join(_SPECIAL.get(c, c) for c in str(text))


def _latex_entry(value, digits, siunitx):
    if isinstance(value, Math):
        return f"${value}$"
    if _is_sympy(value):
        import sympy
        return f"${sympy.latex(value)}$"
    if _is_number(value):
        text = _number(value, digits)
        if siunitx:
            return text
        mantissa, _, exponent = text.partition("e")
        return (f"${mantissa} \\times 10^{{{int(exponent)}}}$" if exponent else text)
    return escape(value)


@_fill
def to_latex(table: Table, *, digits: int = 6, caption: str | None = None,
             label: str | None = None, siunitx: bool = False) -> str:
    r"""A booktabs ``table`` environment: math-mode headers, ``\toprule``/``\midrule``/
    ``\bottomrule``, numbers to `digits` significant digits (``a \times 10^{b}`` for
    exponents, or raw for siunitx ``S`` columns), sympy entries through
    :func:`sympy.latex`.

    Parameters
    ----------
    %(table_digits)s
    caption : str, optional
        LaTeX, used as given; defaults to ``table.title`` (plain text, escaped); pass
        ``""`` for none.
    label : str, optional
        ``\label{...}`` after the caption.
    siunitx : bool
        Numeric columns as siunitx ``S`` columns (needs ``\usepackage{siunitx}``).

    Returns
    -------
    str
        Needs ``\usepackage{booktabs}``, ``\usepackage{amsmath}`` and
        ``\usepackage{amssymb}`` (and ``\usepackage{siunitx}`` with siunitx=True):
        :data:`LATEX_PACKAGES`.

    Examples
    --------
    >>> from initmath.outputs.latex import Column, Table, to_latex
    >>> text = to_latex(Table("t", [Column("x", r"\bar x")], [(2.5e-9,)]), digits=2,
    ...                 caption="", siunitx=True)
    >>> text.splitlines()[2:6]
    ['\\begin{tabular}{S}', '\\toprule', '{$\\bar x$} \\\\', '\\midrule']
    """
    _check(digits, table)
    _text_or_none(caption, "caption")
    _text_or_none(label, "label")
    numeric = [all(_is_number(row[j]) for row in table.rows) and bool(table.rows)
               for j in range(len(table.columns))]
    spec = "".join("S" if siunitx and n else ("r" if n else "l") for n in numeric)
    header = " & ".join(("{$%s$}" if siunitx and n else "$%s$") % c.latex
                        for c, n in zip(table.columns, numeric))
    body = [" & ".join(_latex_entry(v, digits, siunitx) for v in row) + r" \\"
            for row in table.rows]
    caption = escape(table.title) if caption is None else caption
    lines = [r"\begin{table}[ht]", r"\centering", rf"\begin{{tabular}}{{{spec}}}",
             r"\toprule", header + r" \\", r"\midrule", *body, r"\bottomrule",
             r"\end{tabular}"]
    lines += [rf"\caption{{{caption}}}"] if caption else []
    lines += [rf"\label{{{label}}}"] if label else []
    return "\n".join(lines + [r"\end{table}"])


def render(table: Table, fmt: str, *, digits: int = 6, caption: str | None = None,
           label: str | None = None, siunitx: bool = False) -> str:
    """The table in one of :data:`FORMATS` (caption, label and siunitx apply to LaTeX).

    Parameters
    ----------
    table : Table
    fmt : {"latex", "markdown", "csv", "json"}
    digits, caption, label, siunitx
        As in :func:`to_latex`.

    Returns
    -------
    str

    Raises
    ------
    ValueError
        If fmt is not one of FORMATS, digits is not an integer in [1, 10000], table is
        not a Table, or caption or label is not a string.

    Examples
    --------
    >>> from initmath.outputs.latex import Column, Table, render
    >>> print(render(Table("t", [Column("k", "k")], [(3,)]), "csv"))
    k
    3
    """
    _validate.choice(fmt, "format", FORMATS)
    if fmt == "latex":
        return to_latex(table, digits=digits, caption=caption, label=label, siunitx=siunitx)
    return {"markdown": to_markdown, "csv": to_csv, "json": to_json}[fmt](table, digits=digits)

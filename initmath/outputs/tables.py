r"""Tables of every quantity initmath computes, over parameter grids.

:func:`make_table` evaluates one :data:`KINDS` entry on the Cartesian product of its
parameter lists and returns a :class:`initmath.outputs.latex.Table` (one row per grid
point, the parameters first), ready for :func:`initmath.outputs.latex.render`.  Grids are
lists; on the command line an item may also be a range (:func:`parse_grid`).

Examples
--------
>>> from initmath.outputs.tables import make_table
>>> from initmath.outputs.latex import to_markdown
>>> print(to_markdown(make_table("critical-sigma", s=[2.0], d=[64, 1024]), digits=5))
| s | d | a | sigma | sigma^2 | kaiming sigma |
|---|---|---|---|---|---|
| 2 | 64 | 0 | 0.17678 | 0.03125 | 0.17678 |
| 2 | 1024 | 0 | 0.044194 | 0.0019531 | 0.044194 |
"""
import itertools
import math
import sys
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from .. import _validate
from ..critical_variance import critical_sigma, kaiming_sigma, moment_factor
from ..hessian import METHODS as HESSIAN_METHODS
from ..hessian import glorot_sigma, hessian_sigma
from ..ldlt import ldlt_output_variance
from ..lyapunov import log_norm_variance, lyapunov_exponent
from .latex import Column, Math, Table

__all__ = [
    "KINDS",
    "MAX_GRID_POINTS",
    "MAX_ROWS",
    "Kind",
    "Parameter",
    "make_table",
    "parse_grid",
]

# One grid item (a range) expands to at most this many points, and one table has at most
# this many rows (the product of its parameter lists): both are checked from the
# arguments alone, before anything is built or computed.
MAX_GRID_POINTS = 10_000
MAX_ROWS = 10_000


class Parameter(NamedTuple):
    """A grid parameter: ``name`` (keyword of make_table and --option on the command
    line), ``latex`` header, ``kind`` ("float", "int", "int-or-symbol" or "str"),
    ``default`` list, ``help`` and ``check(values, name)``, which raises ValueError
    (naming the parameter) unless every value of the list lies in the parameter's domain."""
    name: str
    latex: str
    kind: str
    default: tuple
    help: str
    check: Callable = None


class Kind(NamedTuple):
    """A table kind: its parameters, output columns, whether it takes ``dps``, and
    ``values(point, dps)`` giving the output values at one grid point (with
    ``many_rows``: a list of such rows)."""
    title: str
    parameters: tuple
    outputs: tuple
    takes_dps: bool
    values: Callable
    many_rows: bool = False


def _critical_sigma(p, dps):
    sigma = critical_sigma(p["s"], p["d"], p["a"], dps=dps)
    with np.errstate(over="ignore"):         # sigma^2 beyond float64: _finite says so
        square = sigma * sigma
    return sigma, square, kaiming_sigma(p["d"], p["a"])


def _hessian_sigma(p, dps):
    a = None if p["a"] == 1 else p["a"]
    return (hessian_sigma(p["d_in"], p["d_out"], a=a, method=p["method"]),
            glorot_sigma(p["d_in"], p["d_out"]))


def _wishart(p, dps):
    from ..wishart import wishart_trace_moment
    m, n = (int(v) if str(v).isdigit() else v for v in (p["m"], p["n"]))
    return (wishart_trace_moment(p["k"], m, n),)


def _kl_bound(p, dps):
    from ..kl import kl_loss_bound, optimal_init_sigma, optimized_loss_bound
    keys = ("lr", "batch_size", "noise_var", "K", "second_moment", "log_C")
    args = {key: p[key] for key in keys}
    return (kl_loss_bound(p["sigma0"], **args),
            optimal_init_sigma(p["second_moment"], p["K"]), optimized_loss_bound(**args))


def _kl_derivation(p, dps):
    from ..kl import kl_bound_derivation_latex
    return [(step, Math(latex)) for step, latex in kl_bound_derivation_latex().items()]


def _reals(low=None, high=None, *, low_open=False, high_open=False):
    def check(values, name):
        for value in values:
            _validate.real(value, name, low, high, low_open=low_open, high_open=high_open)
    return check


def _integers(high=_validate.D_MAX):
    def check(values, name):
        for value in values:
            _validate.positive_integer(value, name, high)
    return check


def _int_or_symbol(values, name):
    """Positive integers or symbol names (such as "m"), for the Wishart dimensions."""
    for value in values:
        if isinstance(value, str) and not value.strip().isdigit():
            if not value.isidentifier():
                raise ValueError(f"{name} must be integers >= 1 or symbol names, got {value!r}")
        else:
            _validate.positive_integer(int(value) if isinstance(value, str) else value, name)


def _choices(allowed):
    def check(values, name):
        for value in values:
            _validate.choice(value, name, allowed)
    return check


_POSITIVE = _reals(0, low_open=True)


def _float(name, latex, default, help, check=_POSITIVE):
    return Parameter(name, latex, "float", tuple(default), help, check)


def _int(name, latex, default, help, high=_validate.D_MAX):
    return Parameter(name, latex, "int", tuple(default), help, _integers(high))


# Default kl-bound parameters: the continuous law of L = |W|^2 / 2 with K = 100, where the
# optimized bound is attained (E_ss[L]/K = tau/2).  second_moment and log_C are
# quadratic_stationary(np.ones(100), lr=0.01, batch_size=100, noise_var=1.0)'s (a test
# checks them), written out so that importing this module computes nothing.
_KL_EXAMPLE = dict(lr=0.01, batch_size=100, noise_var=1.0, K=100, second_moment=0.005,
                   log_C=403.28052430633903)

_S = _float("s", "s", [0.5, 1.0, 2.0], "moment orders s > 0")
_D = _int("d", "d", [16, 64, 256, 1024], "widths, integers in [1, 2**53]")
_A = _float("a", "a", [0.0], "negative slopes in [0, 1]", _reals(0, 1))
_SIGMA = _float("sigma", r"\sigma", [0.1, 0.2, 0.5], "weight standard deviations > 0")

KINDS = {
    "critical-sigma": Kind(
        "Critical sigma preserving the s-th moment", (_S, _D, _A),
        (Column("sigma", r"\bar\sigma_a(s, d)"), Column("sigma^2", r"\bar\sigma_a^2"),
         Column("kaiming sigma", r"\sqrt{2/((1+a^2)d)}")), True, _critical_sigma),
    "moment-factor": Kind(
        "Moment factor I_a(s, d) = E||x_1||^s / (sigma^s ||x_0||^s)", (_S, _D, _A),
        (Column("I", "I_a(s, d)"),), True,
        lambda p, dps: (moment_factor(p["s"], p["d"], p["a"], dps=dps),)),
    "lyapunov": Kind(
        "Lyapunov exponent mu_a(sigma)", (_SIGMA, _D, _A), (Column("mu", r"\mu_a(\sigma)"),),
        True, lambda p, dps: (lyapunov_exponent(p["sigma"], p["d"], p["a"], dps=dps),)),
    "log-norm-variance": Kind(
        "Variance per layer of log||x_k||", (_D, _A), (Column("variance", r"s_a^2(d)"),),
        True, lambda p, dps: (log_norm_variance(p["d"], p["a"], dps=dps),)),
    "wishart": Kind(
        "E tr S^k for S = W W^T, W m x n standard Gaussian",
        (_int("k", "k", [1, 2, 3, 4], "powers k in [1, 40]", high=40),
         Parameter("m", "m", "int-or-symbol", ("m",),
                   "rows of W: integers in [1, 2**53] or a symbol name", _int_or_symbol),
         Parameter("n", "n", "int-or-symbol", ("n",),
                   "columns of W: integers in [1, 2**53] or a symbol name", _int_or_symbol)),
        (Column("moment", r"E\,\mathrm{tr}\,S^k"),), False, _wishart),
    "ldlt-variance": Kind(
        "LDLT layer output variance",
        (_int("m", "m", [16, 64], "rows in [1, 2**53]"),
         _int("n", "n", [16, 64], "columns in [1, 2**53]"),
         _SIGMA), (Column("variance", r"\mathrm{Var}"),), False,
        lambda p, dps: (ldlt_output_variance(p["m"], p["n"], p["sigma"]),)),
    "hessian-sigma": Kind(
        "Hessian-norm sigma with E||J||_2 = 1 beside Glorot's",
        (_int("d_in", "d_{in}", [16, 64, 256], "fan-in, integers in [1, 2**53]"),
         _int("d_out", "d_{out}", [16, 64, 256], "fan-out, integers in [1, 2**53]"),
         _float("a", "a", [1.0], "activation slopes in [0, 1] (1: linear)", _reals(0, 1)),
         Parameter("method", r"\text{method}", "str", ("tracy-widom",),
                   ", ".join(HESSIAN_METHODS), _choices(HESSIAN_METHODS))),
        (Column("sigma", r"\sigma_H"), Column("glorot", r"\sigma_G")), False, _hessian_sigma),
    "kl-bound": Kind(
        "KL bound on E_ss[L]/K (Horii & Has, corrected)",
        (_float("sigma0", r"\sigma_0", [0.01, 0.1, 1.0], "initial std > 0"),
         _float("lr", r"\alpha", [_KL_EXAMPLE["lr"]], "learning rate > 0"),
         _int("batch_size", "b", [_KL_EXAMPLE["batch_size"]], "batch size, in [1, 2**53]"),
         _float("noise_var", r"\sigma^2", [_KL_EXAMPLE["noise_var"]],
                "gradient noise variance > 0"),
         _int("K", "K", [_KL_EXAMPLE["K"]], "number of parameters, in [1, 2**53]"),
         _float("second_moment", r"E\lVert W\rVert^2", [_KL_EXAMPLE["second_moment"]],
                "E_ss||W||^2 > 0; the default is the quadratic example's"),
         _float("log_C", r"\log C", [_KL_EXAMPLE["log_C"]],
                "log of the normaliser C_1,loc, finite; the default is the quadratic "
                "example's", _reals())),
        (Column("bound", r"\text{bound}"), Column("optimal sigma0", r"\sigma_0^*"),
         Column("optimized bound", r"\text{bound}(\sigma_0^*)")), False, _kl_bound),
    "kl-derivation": Kind(
        "The KL bound derived step by step by sympy (Horii & Has, Prop. III.1 - Thm III.3)",
        (), (Column("step", r"\text{step}"), Column("expression", r"\text{expression}")),
        False, _kl_derivation, many_rows=True),
}


def parse_grid(text: str, kind: str) -> list:
    r"""One command-line grid item as a list of values.

    Grammar (spaces separate items on the command line; an item may also hold several
    comma-separated values, ``0.5,1,2``):

    * a number: ``7``, ``0.25``, ``1e-3`` (finite; for an integer parameter an integer
      such as ``64`` or ``1e3``, never ``1.5``);
    * an arithmetic range ``start:stop:step``, inclusive: start, start + step, ... up to
      stop (``step > 0``, ``start <= stop``; integer parameters need integer start, stop
      and step);
    * a geometric range ``start:stop:xF``, inclusive: start, start F, start F^2, ... up
      to stop (``F > 1``, ``0 < start <= stop``; for an integer parameter every point
      must be an integer, e.g. ``16:1024:x2``);
    * for ``kind="str"`` the text itself; for ``kind="int-or-symbol"`` a symbol name
      (such as ``m``) or integers as for ``"int"``.

    One item expands to at most :data:`MAX_GRID_POINTS` (10,000) values; the count is
    computed from start, stop and step before any value is built.

    Parameters
    ----------
    text : str
    kind : {"int", "float", "str", "int-or-symbol"}

    Returns
    -------
    list
        ints for integer parameters, floats for real ones, strings as given.

    Raises
    ------
    ValueError
        If text is not a finite number, a valid range or a comma list of them, an
        integer parameter gets a non-integer, or the item has more than MAX_GRID_POINTS
        values.

    Examples
    --------
    >>> parse_grid("16:128:x2", "int"), parse_grid("0:1:0.25", "float")
    ([16, 32, 64, 128], [0.0, 0.25, 0.5, 0.75, 1.0])
    >>> parse_grid("0.5,1,2", "float")
    [0.5, 1.0, 2.0]
    """
    _validate.choice(kind, "kind", ("int", "float", "str", "int-or-symbol"))
    if not isinstance(text, str):
        raise ValueError(f"a grid item must be a string, got {_show(text)}")
    items = text.split(",")
    if any(not item.strip() for item in items):
        raise ValueError(f"{_show(text)} has an empty value (give values separated by spaces "
                         "or commas)")
    values = []
    if len(items) > MAX_GRID_POINTS:
        raise ValueError(f"{_show(text)} has {len(items)} values; a grid item may have at most "
                         f"{MAX_GRID_POINTS}")
    for item in items:
        values += _grid_item(item.strip(), kind, MAX_GRID_POINTS - len(values))
    return values


def _show(text, limit=40):
    """repr of text, shortened so that an error message stays one short line."""
    shown = repr(text)
    return shown if len(shown) <= limit else f"{shown[:limit - 10]}...' ({len(text)} characters)"


def _too_many(text, count, room):
    if not count <= room:       # also catches a count of nan or inf
        raise ValueError(f"range {_show(text)} has {count:.4g} points; a grid item may have "
                         f"at most {MAX_GRID_POINTS} (use a larger step or factor)")


def _grid_item(text, kind, room):
    if kind == "str" or (kind == "int-or-symbol" and text.isidentifier()):
        return [text]
    integer = kind in ("int", "int-or-symbol")
    parts = text.split(":")
    if len(parts) == 1:
        return [_integer(text) if integer else _number(text)]
    if len(parts) != 3:
        raise ValueError(f"{_show(text)} is neither a number nor start:stop:step or "
                         "start:stop:xF")
    if parts[2].startswith("x"):
        return _geometric(text, parts, integer, room)
    if integer:
        start, stop, step = map(_integer, parts)
        if not (step > 0 and start <= stop):
            raise ValueError(f"range {_show(text)} needs start <= stop and step > 0")
        count = (stop - start) // step + 1
        _too_many(text, count, room)
        return list(range(start, stop + 1, step))
    start, stop, step = map(_number, parts)
    if not (step > 0 and start <= stop):
        raise ValueError(f"range {_show(text)} needs start <= stop and step > 0")
    count = math.floor((stop - start) / step + 1e-9) + 1 if math.isfinite(
        (stop - start) / step) else math.inf
    _too_many(text, count, room)
    return [start] + [_tidy(start + i * step, stop, step) for i in range(1, count)]


def _geometric(text, parts, integer, room):
    start, stop = (_integer(p) if integer else _number(p) for p in parts[:2])
    factor = _number(parts[2][1:])
    if not (factor > 1 and 0 < start <= stop):
        raise ValueError(f"geometric range {_show(text)} needs 0 < start <= stop and factor > 1")
    count = math.floor((math.log(stop) - math.log(start)) / math.log(factor) + 1e-9) + 1 \
        if math.log(factor) > 0 else math.inf
    _too_many(text, count, room)
    if integer and factor == int(factor):
        return [start * int(factor) ** i for i in range(count)]     # exact
    values = [start] + [_tidy(start * factor ** i, stop, stop * 1e-12) for i in range(1, count)]
    if not integer:
        return values
    for value in values:
        if abs(value - round(value)) > 1e-9 * value:
            raise ValueError(f"geometric range {_show(text)} reaches {value:.10g}, not an "
                             "integer (integer options need integer points: use an integer "
                             "factor, or list the values)")
    return [int(round(v)) if not isinstance(v, int) else v for v in values]


def _tidy(value, stop, tolerance):
    """A computed grid point without the float noise of start + i step (0.30000000000000004
    -> 0.3), and exactly stop when it lands there."""
    if abs(value - stop) <= 1e-9 * tolerance:
        return float(stop)
    return float(f"{value:.15g}")


def _number(text):
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{_show(text)} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{_show(text)} is not a finite number")
    return value


def _integer(text):
    """An integer given as 64, +64, 1e3 or 64.0 (exact for long integer literals)."""
    try:
        return int(text)
    except ValueError:
        pass
    value = _number(text)
    if value != math.floor(value):
        raise ValueError(f"{_show(text)} is not an integer")
    return int(value)


def make_table(kind: str, *, dps: int | None = None, progress: bool = False,
               max_seconds: float | None = _validate.WORK_BUDGET_S, **grid: Any) -> Table:
    """Evaluate table ``kind`` (a key of :data:`KINDS`) on the product of the parameter
    lists in ``grid`` (missing parameters take their defaults).

    Every parameter list is checked against the parameter's domain (``initmath table
    KIND --help`` shows it) and the number of rows against :data:`MAX_ROWS` before any
    row is computed.

    Parameters
    ----------
    kind : str
    dps : int, optional
        Decimal digits (1 to 10000) for the kinds that support mpmath evaluation.
    progress : bool
        Show a tqdm progress bar on stderr once the table has taken more than a second.
    max_seconds : float or None, default initmath._validate.WORK_BUDGET_S (30)
        Stop with a ValueError once the rows have taken longer than this, or as soon as
        the rows done so far show that the table would take more than twice as long;
        None: no limit.
    **grid : list
        One list (or a single value) per parameter of the kind, at most MAX_ROWS rows in
        all.

    Returns
    -------
    initmath.outputs.latex.Table

    Raises
    ------
    ValueError
        Unknown kind or parameter, dps for a kind without it, an empty list, a value
        outside its parameter's domain (the message names the parameter), more than
        MAX_ROWS rows, a table that runs past max_seconds, or any value the underlying
        function rejects (its message names the argument and the row).

    Examples
    --------
    >>> from initmath.outputs.tables import make_table
    >>> table = make_table("hessian-sigma", d_in=[16], d_out=[9], method=["gordon"])
    >>> float(table.rows[0][4]) == 1 / 7    # the paper's 1/(sqrt 16 + sqrt 9)
    True
    """
    _validate.choice(kind, "kind", tuple(KINDS))
    spec = KINDS[kind]
    names = [p.name for p in spec.parameters]
    unknown = set(grid) - set(names)
    if unknown:
        raise ValueError(f"table {kind!r} has no parameter {sorted(unknown)[0]!r} "
                         f"(it takes {', '.join(names) or 'none'})")
    if dps is not None and not spec.takes_dps:
        raise ValueError(f"table {kind!r} has no high-precision mode (dps)")
    dps = _validate.dps_or_none(dps)
    if max_seconds is not None:
        _validate.real(_validate.scalar(max_seconds, "max_seconds"), "max_seconds", 0,
                       low_open=True)
    lists = []
    for p in spec.parameters:
        values = grid.get(p.name, p.default)
        values = [values] if isinstance(values, str) or np.ndim(values) == 0 else list(
            np.ravel(values) if isinstance(values, np.ndarray) else values)
        if not values:
            raise ValueError(f"{p.name} must hold at least one value, got an empty list")
        if p.check is not None:
            p.check(values, p.name)
        lists.append(values)
    total = math.prod(map(len, lists))
    if total > MAX_ROWS:
        raise ValueError(f"the grid has {total} points (the product of the numbers of "
                         f"{', '.join(names)}); a table may have at most {MAX_ROWS} rows")
    points = itertools.product(*lists)
    if progress:
        from tqdm import tqdm
        points = tqdm(points, total=total, desc=kind, unit="row", delay=1.0, file=sys.stderr)
    rows = []
    start = time.perf_counter()
    for done, point in enumerate(points):
        at = dict(zip(names, point))
        try:
            values = spec.values(at, dps)
        except ValueError as error:
            where = ", ".join(f"{k}={v}" for k, v in at.items())
            raise ValueError(f"{error} (table row {where})" if where else str(error)) from None
        for row in values if spec.many_rows else [values]:
            row = tuple(v if not isinstance(v, np.ndarray) else v[()] for v in row)
            _finite(row, spec, at, dps)
            rows.append(tuple(point) + row)
        _check_time(start, done + 1, total, max_seconds)
    columns = [Column(p.name, p.latex) for p in spec.parameters] + list(spec.outputs)
    return Table(spec.title, columns, rows)


def _finite(row, spec, at, dps):
    """A ValueError, never a silent nan or inf in a table (e.g. a moment factor beyond
    float64's range: the mpmath route, dps=..., has no such limit)."""
    for column, value in zip(spec.outputs, row):
        if isinstance(value, (float, np.floating)) and not math.isfinite(value):
            where = ", ".join(f"{k}={v}" for k, v in at.items())
            hint = ("; ask for dps=... (--dps on the command line), which has no such limit"
                    if spec.takes_dps and dps is None else "")
            raise ValueError(f"{column.name} is not representable in float64 at {where} "
                             f"(got {value!r}){hint}")


def _check_time(start, done, total, max_seconds):
    if max_seconds is None or done == total:
        return
    elapsed = time.perf_counter() - start
    projected = elapsed / done * total
    if elapsed > max_seconds or (elapsed > 1 and projected > 2 * max_seconds):
        raise ValueError(f"the table would take about {projected:.0f} s ({done} of {total} "
                         f"rows took {elapsed:.1f} s), more than max_seconds={max_seconds:g}: "
                         "use fewer grid points, or max_seconds=None (on the command line "
                         "--max-seconds 0) to wait for it")

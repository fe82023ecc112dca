r"""Tables of every quantity initmath computes, over parameter grids.

:func:`make_table` evaluates one :data:`KINDS` entry on the Cartesian product of its
parameter lists and returns a :class:`initmath.latex.Table` (one row per grid point, the
parameters first), ready for :func:`initmath.latex.render`.  Grids are lists; on the
command line an item may also be a range (:func:`parse_grid`).

Examples
--------
>>> from initmath.tables import make_table
>>> from initmath.latex import to_markdown
>>> print(to_markdown(make_table("critical-sigma", s=[2.0], d=[64, 1024]), digits=5))
| s | d | a | sigma | sigma^2 | kaiming sigma |
|---|---|---|---|---|---|
| 2 | 64 | 0 | 0.17678 | 0.03125 | 0.17678 |
| 2 | 1024 | 0 | 0.044194 | 0.0019531 | 0.044194 |
"""
import itertools
import math
import sys
from typing import Callable, NamedTuple

import numpy as np

from .critical_variance import critical_sigma, kaiming_sigma, moment_factor
from .hessian import glorot_sigma, hessian_sigma
from .kl import kl_loss_bound, optimal_init_sigma, optimized_loss_bound, quadratic_stationary
from .ldlt import ldlt_output_variance
from .lyapunov import log_norm_variance, lyapunov_exponent
from .latex import Column, Math, Table

__all__ = ["KINDS", "Kind", "Parameter", "make_table", "parse_grid"]


class Parameter(NamedTuple):
    """A grid parameter: ``name`` (keyword of make_table and --option on the command
    line), ``latex`` header, ``kind`` ("float", "int" or "str"), ``default`` list, help."""
    name: str
    latex: str
    kind: str
    default: tuple
    help: str


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
    return sigma, sigma * sigma, kaiming_sigma(p["d"], p["a"])


def _hessian_sigma(p, dps):
    a = None if p["a"] == 1 else p["a"]
    return (hessian_sigma(p["d_in"], p["d_out"], a=a, method=p["method"]),
            glorot_sigma(p["d_in"], p["d_out"]))


def _wishart(p, dps):
    from .wishart import wishart_trace_moment
    m, n = (int(v) if str(v).isdigit() else v for v in (p["m"], p["n"]))
    return (wishart_trace_moment(p["k"], m, n),)


def _kl_bound(p, dps):
    keys = ("lr", "batch_size", "noise_var", "K", "second_moment", "log_C")
    args = {key: p[key] for key in keys}
    return (kl_loss_bound(p["sigma0"], **args),
            optimal_init_sigma(p["second_moment"], p["K"]), optimized_loss_bound(**args))


def _kl_derivation(p, dps):
    from .kl import kl_bound_derivation_latex
    return [(step, Math(latex)) for step, latex in kl_bound_derivation_latex().items()]


def _float(name, latex, default, help):
    return Parameter(name, latex, "float", tuple(default), help)


def _int(name, latex, default, help):
    return Parameter(name, latex, "int", tuple(default), help)


# Default kl-bound parameters: the continuous law of L = |W|^2 / 2 with K = 100, where the
# optimized bound is attained (E_ss[L]/K = tau/2).
_KL_EXAMPLE = dict(lr=0.01, batch_size=100, noise_var=1.0, K=100)
_KL_LAW = quadratic_stationary(np.ones(_KL_EXAMPLE["K"]), lr=0.01, batch_size=100, noise_var=1.0)

_S = _float("s", "s", [0.5, 1.0, 2.0], "moment orders s > 0")
_D = _int("d", "d", [16, 64, 256, 1024], "widths d >= 1")
_A = _float("a", "a", [0.0], "negative slopes in [0, 1]")
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
        (_int("k", "k", [1, 2, 3, 4], "powers k in [1, 40]"),
         Parameter("m", "m", "str", ("m",), "rows of W: integers >= 1 or a symbol name"),
         Parameter("n", "n", "str", ("n",), "columns of W: integers >= 1 or a symbol name")),
        (Column("moment", r"E\,\mathrm{tr}\,S^k"),), False, _wishart),
    "ldlt-variance": Kind(
        "LDLT layer output variance",
        (_int("m", "m", [16, 64], "rows >= 1"), _int("n", "n", [16, 64], "columns >= 1"),
         _SIGMA), (Column("variance", r"\mathrm{Var}"),), False,
        lambda p, dps: (ldlt_output_variance(p["m"], p["n"], p["sigma"]),)),
    "hessian-sigma": Kind(
        "Hessian-norm sigma with E||J||_2 = 1 beside Glorot's",
        (_int("d_in", "d_{in}", [16, 64, 256], "fan-in >= 1"),
         _int("d_out", "d_{out}", [16, 64, 256], "fan-out >= 1"),
         _float("a", "a", [1.0], "activation slopes in [0, 1] (1: linear)"),
         Parameter("method", r"\text{method}", "str", ("tracy-widom",),
                   "gordon, tracy-widom or exact")),
        (Column("sigma", r"\sigma_H"), Column("glorot", r"\sigma_G")), False, _hessian_sigma),
    "kl-bound": Kind(
        "KL bound on E_ss[L]/K (Horii & Has, corrected)",
        (_float("sigma0", r"\sigma_0", [0.01, 0.1, 1.0], "initial std > 0"),
         _float("lr", r"\alpha", [_KL_EXAMPLE["lr"]], "learning rate > 0"),
         _int("batch_size", "b", [_KL_EXAMPLE["batch_size"]], "batch size >= 1"),
         _float("noise_var", r"\sigma^2", [_KL_EXAMPLE["noise_var"]],
                "gradient noise variance > 0"),
         _int("K", "K", [_KL_EXAMPLE["K"]], "number of parameters >= 1"),
         _float("second_moment", r"E\lVert W\rVert^2", [float(_KL_LAW.second_moment)],
                "E_ss||W||^2 > 0 (default: the quadratic example)"),
         _float("log_C", r"\log C", [float(_KL_LAW.log_C)],
                "log of the normaliser C_1,loc (default: the quadratic example)")),
        (Column("bound", r"\text{bound}"), Column("optimal sigma0", r"\sigma_0^*"),
         Column("optimized bound", r"\text{bound}(\sigma_0^*)")), False, _kl_bound),
    "kl-derivation": Kind(
        "The KL bound derived step by step by sympy (Horii & Has, Prop. III.1 - Thm III.3)",
        (), (Column("step", r"\text{step}"), Column("expression", r"\text{expression}")),
        False, _kl_derivation, many_rows=True),
}


def parse_grid(text, kind):
    r"""One command-line grid item: a number, or an inclusive range ``start:stop:step``
    (arithmetic) or ``start:stop:xF`` (geometric, factor F > 1); ``kind`` "int", "float"
    or "str" (strings are taken as they are).

    Parameters
    ----------
    text : str
    kind : {"int", "float", "str"}

    Returns
    -------
    list

    Raises
    ------
    ValueError
        If text is not a finite number or a valid range.

    Examples
    --------
    >>> parse_grid("16:128:x2", "int"), parse_grid("0:1:0.25", "float")
    ([16, 32, 64, 128], [0.0, 0.25, 0.5, 0.75, 1.0])
    """
    if kind == "str":
        return [text]
    convert = int if kind == "int" else float
    parts = text.split(":")
    if len(parts) == 1:
        return [convert(_number(text))]
    if len(parts) != 3:
        raise ValueError(f"{text!r} is neither a number nor start:stop:step or start:stop:xF")
    start, stop = _number(parts[0]), _number(parts[1])
    if parts[2].startswith("x"):
        factor = _number(parts[2][1:])
        if not (factor > 1 and 0 < start <= stop):
            raise ValueError(f"geometric range {text!r} needs 0 < start <= stop and factor > 1")
        values = [start * factor ** i for i in range(int(math.log(stop / start, factor)
                                                         + 1e-9) + 1)]
    else:
        step = _number(parts[2])
        if not (step > 0 and start <= stop):
            raise ValueError(f"range {text!r} needs start <= stop and step > 0")
        values = list(np.linspace(start, stop, int(round((stop - start) / step)) + 1))
    return [convert(round(v, 12)) for v in values]


def _number(text):
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a finite number")
    return value


def make_table(kind, *, dps=None, progress=False, **grid):
    """Evaluate table ``kind`` (a key of :data:`KINDS`) on the product of the parameter
    lists in ``grid`` (missing parameters take their defaults).

    Parameters
    ----------
    kind : str
    dps : int, optional
        Decimal digits for the kinds that support mpmath evaluation.
    progress : bool
        Show a tqdm progress bar on stderr once the table has taken more than a second.
    **grid : list
        One list per parameter of the kind.

    Returns
    -------
    initmath.latex.Table

    Raises
    ------
    ValueError
        Unknown kind or parameter, dps for a kind without it, or any value the underlying
        function rejects (its message names the argument).

    Examples
    --------
    >>> from initmath.tables import make_table
    >>> table = make_table("hessian-sigma", d_in=[16], d_out=[9], method=["gordon"])
    >>> float(table.rows[0][4]) == 1 / 7    # the paper's 1/(sqrt 16 + sqrt 9)
    True
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
    spec = KINDS[kind]
    names = [p.name for p in spec.parameters]
    unknown = set(grid) - set(names)
    if unknown:
        raise ValueError(f"table {kind!r} has no parameter {sorted(unknown)[0]!r} "
                         f"(it takes {', '.join(names)})")
    if dps is not None and not spec.takes_dps:
        raise ValueError(f"table {kind!r} has no high-precision mode (dps)")
    lists = [list(grid.get(p.name, p.default)) for p in spec.parameters]
    points = itertools.product(*lists)
    if progress:
        from tqdm import tqdm
        points = tqdm(points, total=math.prod(map(len, lists)), desc=kind, unit="row",
                      delay=1.0, file=sys.stderr)
    rows = []
    for point in points:
        values = spec.values(dict(zip(names, point)), dps)
        for row in values if spec.many_rows else [values]:
            rows.append(tuple(point) + tuple(v if not isinstance(v, np.ndarray) else v[()]
                                             for v in row))
    columns = [Column(p.name, p.latex) for p in spec.parameters] + list(spec.outputs)
    return Table(spec.title, columns, rows)

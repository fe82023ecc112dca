"""The ``initmath`` command (also ``python -m initmath``).

This module is the application layer on top of the library: it is the one place in
initmath that calls into the ``verification`` package, for ``initmath verify`` (forwarded
to ``python -m verification``) and for the simulated points of ``initmath plot``
(``verification.figures.figure_points``, imported inside the command).  The library,
the output layer :mod:`initmath.outputs` included, never imports verification.

Examples::

    initmath sigma --s 0.8 --d 64 --a 0.01 --dps 30
    initmath table critical-sigma --s 0.5 1 2 --d 16:1024:x4 --format latex --digits 5
    initmath table wishart --k 1:4:1 --format latex --label tab:wishart
    initmath table hessian-sigma --d-in 64 --d-out 16:256:x2 --a 0 1 --method exact
    initmath plot gh-figure1 --out fig1.png --quick
    initmath claims --out claims.md    # every claim of the four papers with its status
    initmath verify --quick            # the torch Monte Carlo report (needs the torch extra)
    initmath experiments --quick       # the papers' SGD experiments on bundled digits

Options with two words take a dash or an underscore (--d-in or --d_in); option names are
never abbreviated.  Bad arguments, unreadable or unwritable files and any other error
exit with status 2 and one line on stderr naming the subcommand and the option
(INITMATH_TRACEBACK=1 shows the Python traceback of an unexpected error instead).
"""
import argparse
import contextlib
import importlib
import json
import math
import os
import sys
import threading

from . import __version__, _validate
from ._cli import SEED_MAX, OneLineParser, fail, integer_option, one_value, option_type, writable
from .outputs import latex, tables

# Figure names of initmath.outputs.plots.PLOTS (listed here so that --help needs no
# matplotlib).
_PLOT_NAMES = ("gh-figure1", "gh-figure2", "gh-figure3", "lyapunov", "ldlt-variance",
               "hessian-vs-glorot", "depth-law")
# Terms of the 1/d expansion the sigma command prints beside sigma-bar (a context line;
# initmath.critical_sigma_expansion itself computes up to asymptotics.ORDER_MAX = 60).
ORDER_MAX = 6

_GRID_HELP = """Grid values: numbers separated by spaces or commas (--s 0.5 1 2 or --s 0.5,1,2), or
ranges start:stop:step (arithmetic, inclusive) and start:stop:xF (geometric, factor F > 1,
0 < start); integer options (d, k, m, n, K, ...) take integers only (1e3 is 1000; 1.5 is
an error).  One range gives at most 10,000 values and a table at most 10,000 rows; a
table stops with an error once it would take more than --max-seconds (default 30)."""


# --------------------------------------------------------------------------- option types
def _real_option(name, low=None, high=None, **openness):
    def real(text):
        return float(_validate.real(one_value(text, tables._number), name, low, high,
                                    **openness))
    return option_type(real)


def _grid_option(kind):
    return option_type(lambda text: tables.parse_grid(text, kind))


def _add(parser, name, **options):
    """--name, and when the name has two words both spellings (--d-in shown in the help,
    --d_in accepted too)."""
    dest = options.pop("dest", name.replace("-", "_"))
    shown = name.replace("_", "-")
    parser.add_argument(f"--{shown}", dest=dest, **options)
    if shown != name.replace("-", "_"):
        parser.add_argument(f"--{name.replace('-', '_')}", dest=dest,
                            **{**options, "help": argparse.SUPPRESS})


# --------------------------------------------------------------------------- files
def _write(path, option, text):
    try:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as error:
        raise ValueError(f"{option}: cannot write {path!r}: {error.strerror or error}") from None


# --------------------------------------------------------------------------- subcommands
def _sigma(args):
    """sigma-bar at one (s, d, a), Kaiming beside it, mu there, the 1/d expansion."""
    from .asymptotics import critical_sigma_expansion
    from .asymptotics import d as d_symbol
    from .critical_variance import critical_sigma, kaiming_sigma
    from .lyapunov import lyapunov_exponent
    sigma = critical_sigma(args.s, args.d, args.a, dps=args.dps)
    expansion = float(critical_sigma_expansion(args.s, args.a, order=args.order).subs(
        d_symbol, args.d))
    digits = args.dps or 15
    import mpmath
    import numpy as np
    with np.errstate(over="ignore"):
        square = sigma * sigma
    rows = [("sigma-bar", sigma), ("sigma-bar^2", square),
            ("Kaiming sqrt(2/((1+a^2) d))", kaiming_sigma(args.d, args.a)),
            ("mu at sigma-bar (Lyapunov exponent)", lyapunov_exponent(
                float(sigma), args.d, args.a, dps=args.dps)),
            (f"1/d expansion, {args.order} terms", expansion),
            ("expansion error (relative)", expansion / float(sigma) - 1)]
    print(f"s = {args.s:g}, d = {args.d}, a = {args.a:g}")
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        finite = (mpmath.isfinite(value) if isinstance(value, mpmath.mpf)
                  else math.isfinite(float(value)))
        shown = latex._number(value, digits) if finite else "beyond float64 (--dps gives it)"
        print(f"  {name:<{width}}  {shown}")


def _table(args):
    spec = tables.KINDS[args.kind]
    if args.out:
        writable(args.out, "--out")
    grid = {}
    for parameter in spec.parameters:
        items = getattr(args, parameter.name)
        if items is None:
            continue
        values = [v for item in items for v in item]
        option = "--" + parameter.name.replace("_", "-")
        if len(values) > tables.MAX_ROWS:
            raise ValueError(f"{option}: {len(values)} values; a table may have at most "
                             f"{tables.MAX_ROWS} rows")
        try:
            parameter.check(values, parameter.name)
        except ValueError as error:
            raise ValueError(f"{option}: {error}") from None
        grid[parameter.name] = values
    table = tables.make_table(args.kind, dps=args.dps, progress=True,
                              max_seconds=args.max_seconds or None, **grid)
    text = latex.render(table, args.format, digits=args.digits, caption=args.caption,
                        label=args.label, siunitx=args.siunitx)
    if args.out:
        _write(args.out, "--out", text + "\n")
        print(f"wrote {args.out} ({len(table.rows)} rows)", file=sys.stderr)
    else:
        print(text)


def _claims(args):
    from .papers import claims_report
    writable(args.out, "--out")
    if args.experiments is not None and not os.path.isdir(args.experiments):
        raise ValueError(f"--experiments: {args.experiments!r} is not a folder (give the "
                         "folder written by python -m experiments --out DIR)")
    record = None
    if args.verification is not None:
        try:
            with open(args.verification, encoding="utf-8") as handle:
                record = json.load(handle)
        except OSError as error:
            raise ValueError(f"--verification: cannot read {args.verification!r}: "
                             f"{error.strerror or error}") from None
        except (ValueError, UnicodeDecodeError) as error:
            raise ValueError(f"--verification: {args.verification!r} is not JSON ({error}); "
                             "give the file written by 'initmath verify --json FILE'") from None
    with _working("claims"):
        try:
            text = claims_report(record, experiments_dir=args.experiments)
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            if record is None:
                raise
            raise ValueError(f"--verification: {args.verification!r} is not a record of "
                             f"'initmath verify --json FILE' ({type(error).__name__}: "
                             f"{error})") from None
    _write(args.out, "--out", text)
    print(f"wrote {args.out}", file=sys.stderr)


@contextlib.contextmanager
def _working(description):
    """A progress line on stderr (elapsed time) for work whose length is not known in
    advance, shown only once the work has taken more than a second."""
    from tqdm import tqdm
    done = threading.Event()

    def tick(bar):
        if done.wait(1.0):                  # finished within a second: show nothing
            return
        while not done.wait(0.5):
            bar.refresh()

    with tqdm(desc=description, bar_format="{desc}: {elapsed}", delay=1.0,
              file=sys.stderr) as bar:
        ticker = threading.Thread(target=tick, args=(bar,), daemon=True)
        ticker.start()
        try:
            yield
        finally:
            done.set()
            ticker.join()


def _plot(args):
    from .outputs import plots
    writable(args.out, "--out")
    plots.check_options(args.out)                 # the suffix, before any simulation
    with _working(f"plot {args.name}"):
        points = None
        if not args.no_monte_carlo:
            from verification.figures import figure_points
            points = figure_points(args.name, seed=args.seed, quick=args.quick)
        plots.PLOTS[args.name](args.out, monte_carlo=points, seed=args.seed, quick=args.quick)
    print(f"wrote {args.out}", file=sys.stderr)


# Subcommands that hand their arguments to another package's command line, and the extra
# that installs it.
_FORWARDED = {"verify": ("verification", "torch"), "experiments": ("experiments", "experiments")}


def _forward(command, argv):
    package, extra = _FORWARDED[command]
    prog = f"initmath {command}"
    try:
        forwarded_main = importlib.import_module(f"{package}.__main__").main
    except ImportError as error:
        fail(prog, f"needs the {extra} extra (pip install 'initmath[{extra}]'): {error}",
             "initmath")
    try:
        return forwarded_main(argv, prog=prog)
    except Exception as error:
        if os.environ.get("INITMATH_TRACEBACK"):
            raise
        fail(prog, _message(error))


def _message(error):
    """One line for an exception that reached the command line."""
    if isinstance(error, ValueError):
        return str(error)
    if isinstance(error, OSError):
        return f"{error.strerror or error}" + (f": {error.filename!r}" if error.filename else "")
    if isinstance(error, ImportError):
        return f"needs a package that is not installed: {error}"
    return (f"unexpected {type(error).__name__}: {error} (a bug: please report it; "
            "INITMATH_TRACEBACK=1 shows the traceback)")


def _parser():
    parser = OneLineParser(
        prog="initmath", description=__doc__.splitlines()[0],
        epilog=__doc__.split("Examples::", 1)[1], formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--version", action="version", version=f"initmath {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for add_command in (_sigma_parser, _table_parser, _plot_parser, _claims_parser):
        command = add_command(sub)
        command.set_defaults(_parser=command)
    sub.add_parser("verify", help="run the Monte Carlo verification (python -m verification)",
                   add_help=False)
    sub.add_parser("experiments", help="rerun the papers' training experiments "
                                       "(python -m experiments)", add_help=False)
    return parser


def _dps_argument(parser):
    parser.add_argument("--dps", type=integer_option("dps", 1, _validate.DPS_MAX),
                        help=f"decimal digits (mpmath), in [1, {_validate.DPS_MAX}] "
                             "(default: float64)")


def _sigma_parser(sub):
    sigma = sub.add_parser("sigma", help="critical sigma at one point, with context")
    sigma.add_argument("--s", type=_real_option("s", 0, low_open=True), required=True,
                       help="moment order s > 0")
    sigma.add_argument("--d", type=integer_option("d"), required=True,
                       help="width, an integer in [1, 2**53]")
    sigma.add_argument("--a", type=_real_option("a", 0, 1), default=0.0,
                       help="negative slope in [0, 1] (default: 0)")
    _dps_argument(sigma)
    sigma.add_argument("--order", type=integer_option("order", 1, ORDER_MAX), default=3,
                       help=f"terms of the 1/d expansion, in [1, {ORDER_MAX}] (default: 3)")
    return sigma


def _table_parser(sub):
    table = sub.add_parser("table", help="a table of one quantity over a grid",
                           formatter_class=argparse.RawTextHelpFormatter,
                           description=_GRID_HELP)
    kinds = table.add_subparsers(dest="kind", required=True)
    for name, spec in tables.KINDS.items():
        kind = kinds.add_parser(name, help=spec.title, description=_GRID_HELP,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
        kind.set_defaults(_parser=kind)
        for parameter in spec.parameters:
            _add(kind, parameter.name, dest=parameter.name, nargs="+", metavar="V",
                 type=_grid_option(parameter.kind),
                 help=f"{parameter.help} (default: "
                      f"{' '.join(map(str, parameter.default))})")
        kind.add_argument("--format", choices=latex.FORMATS, default="markdown",
                          help="output format (default: markdown)")
        kind.add_argument("--digits", type=integer_option("digits", 1, _validate.DPS_MAX),
                          default=6, help="significant digits, in [1, 10000] (default: 6)")
        kind.add_argument("--caption", help="LaTeX caption (default: the title)")
        kind.add_argument("--label", help="LaTeX label (default: none)")
        kind.add_argument("--siunitx", action="store_true", help="siunitx S columns")
        kind.add_argument("--out", help="write to this file (default: stdout)")
        _add(kind, "max-seconds", type=_real_option("max-seconds", 0), default=30.0,
             help="stop once the table would take longer than this; 0: no limit "
                  "(default: 30)")
        if spec.takes_dps:
            _dps_argument(kind)
        else:
            kind.set_defaults(dps=None)
    return table


def _plot_parser(sub):
    plot = sub.add_parser("plot", help="a figure from the exact formulas (+ Monte Carlo)")
    plot.add_argument("name", choices=_PLOT_NAMES)
    plot.add_argument("--out", required=True, help="FILE.png or FILE.pdf")
    _add(plot, "no-monte-carlo", action="store_true", help="curves only (no torch needed)")
    plot.add_argument("--seed", type=integer_option("seed", 0, SEED_MAX), default=0,
                      help="seed of the simulations, in [0, 2**63 - 1] (default: 0)")
    plot.add_argument("--quick", action="store_true", help="small simulation budgets")
    return plot


def _claims_parser(sub):
    claims = sub.add_parser("claims", help="the paper-claims report (markdown)")
    claims.add_argument("--out", required=True, help="markdown file to write")
    claims.add_argument("--verification", metavar="JSON",
                        help="results of initmath verify --json FILE, to show each "
                             "backing check's verdict")
    claims.add_argument("--experiments", metavar="DIR",
                        help="the training-experiment tables (python -m experiments --out "
                             "DIR); default: docs/experiments in the current directory")
    return claims


def main(argv: list[str] | None = None) -> int:
    """Run the command line on argv (default sys.argv[1:]); returns 0, or raises
    SystemExit(2) after one line on stderr."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] and argv[0] in _FORWARDED:
        return _forward(argv[0], argv[1:])
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        {"sigma": _sigma, "table": _table, "plot": _plot,
         "claims": _claims}[args.command](args)
    except KeyboardInterrupt:
        fail(args._parser.prog, "interrupted")
    except Exception as error:
        if os.environ.get("INITMATH_TRACEBACK") and not isinstance(error, ValueError):
            raise
        args._parser.error(_message(error))
    return 0


if __name__ == "__main__":
    sys.exit(main())

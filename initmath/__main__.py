"""The ``initmath`` command (also ``python -m initmath``).

Examples::

    initmath sigma --s 0.8 --d 64 --a 0.01 --dps 30
    initmath table critical-sigma --s 0.5 1 2 --d 16:1024:x4 --format latex --digits 5
    initmath table wishart --k 1:4:1 --format latex --label tab:wishart
    initmath table hessian-sigma --d_in 64 --d_out 16:256:x2 --a 0 1 --method exact
    initmath plot gh-figure1 --out fig1.png --quick
    initmath claims --out claims.md    # every claim of the four papers with its status
    initmath verify --quick            # the torch Monte Carlo report (needs the torch extra)
    initmath experiments --quick       # the papers' SGD experiments on bundled digits

Bad arguments exit with status 2 and one line saying what is wrong.
"""
import argparse
import contextlib
import importlib
import sys
import threading

from . import latex, tables

# Figure names of initmath.plots.PLOTS (listed here so that --help needs no matplotlib).
_PLOT_NAMES = ("gh-figure1", "gh-figure2", "gh-figure3", "lyapunov", "ldlt-variance",
               "hessian-vs-glorot")


def _sigma(args):
    """sigma-bar at one (s, d, a), Kaiming beside it, mu there, the 1/d expansion."""
    from .asymptotics import critical_sigma_expansion, d as d_symbol
    from .critical_variance import critical_sigma, kaiming_sigma
    from .lyapunov import lyapunov_exponent
    sigma = critical_sigma(args.s, args.d, args.a, dps=args.dps)
    expansion = float(critical_sigma_expansion(args.s, args.a, order=args.order).subs(
        d_symbol, args.d))
    digits = args.dps or 15
    rows = [("sigma-bar", sigma), ("sigma-bar^2", sigma * sigma),
            ("Kaiming sqrt(2/((1+a^2) d))", kaiming_sigma(args.d, args.a)),
            ("mu at sigma-bar (Lyapunov exponent)", lyapunov_exponent(
                float(sigma), args.d, args.a, dps=args.dps)),
            (f"1/d expansion, {args.order} terms", expansion),
            ("expansion error (relative)", expansion / float(sigma) - 1)]
    print(f"s = {args.s:g}, d = {args.d}, a = {args.a:g}")
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {latex._number(value, digits)}")


def _table(args):
    spec = tables.KINDS[args.kind]
    grid = {}
    for parameter in spec.parameters:
        items = getattr(args, parameter.name)
        if items is not None:
            grid[parameter.name] = [v for item in items
                                    for v in tables.parse_grid(item, parameter.kind)]
    table = tables.make_table(args.kind, dps=args.dps, progress=True, **grid)
    text = latex.render(table, args.format, digits=args.digits, caption=args.caption,
                        label=args.label, siunitx=args.siunitx)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
        print(f"wrote {args.out} ({len(table.rows)} rows)", file=sys.stderr)
    else:
        print(text)


def _claims(args):
    from .claims import claims_report
    with _working("claims"):
        text = claims_report(args.verification)
    with open(args.out, "w", encoding="utf-8") as handle:
        handle.write(text)
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
    from .plots import PLOTS
    with _working(f"plot {args.name}"):
        PLOTS[args.name](args.out, monte_carlo=not args.no_monte_carlo, seed=args.seed,
                         quick=args.quick)
    print(f"wrote {args.out}", file=sys.stderr)


# Subcommands that hand their arguments to another package's command line, and the extra
# that installs it.
_FORWARDED = {"verify": ("verification", "torch"), "experiments": ("experiments", "experiments")}


def _forward(command, argv):
    package, extra = _FORWARDED[command]
    try:
        forwarded_main = importlib.import_module(f"{package}.__main__").main
    except ImportError as error:
        raise SystemExit(f"initmath {command}: needs the {extra} extra "
                         f"(pip install 'initmath[{extra}]'): {error}") from None
    return forwarded_main(argv)


class _Parser(argparse.ArgumentParser):
    """Bad arguments: one line on stderr, exit status 2 (argparse's convention)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _parser():
    parser = _Parser(
        prog="initmath", description=__doc__.splitlines()[0],
        epilog=__doc__.split("Examples::", 1)[1], formatter_class=argparse.RawTextHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    sigma = sub.add_parser("sigma", help="critical sigma at one point, with context")
    sigma.add_argument("--s", type=float, required=True, help="moment order s > 0")
    sigma.add_argument("--d", type=int, required=True, help="width d >= 1")
    sigma.add_argument("--a", type=float, default=0.0, help="negative slope in [0, 1]")
    sigma.add_argument("--dps", type=int, help="decimal digits (mpmath)")
    sigma.add_argument("--order", type=int, default=3, help="terms of the 1/d expansion")

    table = sub.add_parser("table", help="a table of one quantity over a grid",
                           formatter_class=argparse.RawTextHelpFormatter,
                           description="Grid items are numbers or ranges start:stop:step, "
                                       "start:stop:xF (geometric).")
    kinds = table.add_subparsers(dest="kind", required=True)
    for name, spec in tables.KINDS.items():
        kind = kinds.add_parser(name, help=spec.title)
        for parameter in spec.parameters:
            kind.add_argument(f"--{parameter.name}", nargs="+", metavar="V",
                              help=f"{parameter.help} (default: "
                                   f"{' '.join(map(str, parameter.default))})")
        kind.add_argument("--format", choices=latex.FORMATS, default="markdown")
        kind.add_argument("--digits", type=int, default=6, help="significant digits")
        kind.add_argument("--caption", help="LaTeX caption (default: the title)")
        kind.add_argument("--label", help="LaTeX label")
        kind.add_argument("--siunitx", action="store_true", help="siunitx S columns")
        kind.add_argument("--out", help="write to this file instead of stdout")
        if spec.takes_dps:
            kind.add_argument("--dps", type=int, help="decimal digits (mpmath)")
        else:
            kind.set_defaults(dps=None)
    plot = sub.add_parser("plot", help="a figure from the exact formulas (+ Monte Carlo)")
    plot.add_argument("name", choices=_PLOT_NAMES)
    plot.add_argument("--out", required=True, help="FILE.png or FILE.pdf")
    plot.add_argument("--no-monte-carlo", action="store_true",
                      help="curves only (no torch needed)")
    plot.add_argument("--seed", type=int, default=0)
    plot.add_argument("--quick", action="store_true", help="small simulation budgets")
    claims = sub.add_parser("claims", help="the paper-claims report (markdown)")
    claims.add_argument("--out", required=True, help="markdown file to write")
    claims.add_argument("--verification", metavar="JSON",
                        help="results of python -m verification --json, to show each "
                             "backing check's verdict")
    sub.add_parser("verify", help="run the Monte Carlo verification (python -m verification)",
                   add_help=False)
    sub.add_parser("experiments", help="rerun the papers' training experiments "
                                       "(python -m experiments)", add_help=False)
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] and argv[0] in _FORWARDED:
        return _forward(argv[0], argv[1:])
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        {"sigma": _sigma, "table": _table, "plot": _plot,
         "claims": _claims}[args.command](args)
    except ValueError as error:
        parser.error(str(error))
    return 0


if __name__ == "__main__":
    sys.exit(main())

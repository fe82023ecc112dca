"""``python -m experiments``: run the training experiments and write their results.

Examples::

    python -m experiments --quick                         # the smoke test (about 10 s)
    python -m experiments                                 # the full set (about 10 min, 1 core)
    python -m experiments --only gh --data ~/mnist --dataset mnist

Also ``initmath experiments``.  Results (results.md and every table as .md, .tex and
.json, every figure as .png) go to --out, by default results/experiments/ (git-ignored);
the reference copy of a full run is committed in docs/experiments/, the folder the
paper-claims report reads (refresh it with --out docs/experiments).  Progress goes to
stderr: one line per experiment and, at most every 10 s, the number of training runs
done with the elapsed time.  Bad arguments exit with status 2 and one line saying what
is wrong.
"""
import datetime
import os
import platform
import sys
import time

import torch

from initmath._cli import SEED_MAX, OneLineParser, integer_option, option_type
from initmath.nn.device import resolve_device

from . import EXPERIMENTS, train
from .data import DATASETS, load_dataset

DEFAULT_OUT = os.path.join("results", "experiments")
# Seconds between two progress lines while one experiment runs.
PROGRESS_EVERY_S = 10.0

READING_NOTES = """## How to read these tables

* **nan** marks a quantity that is undefined in this run, not a failure: the sigma0 where
  Vbar/sigma0^2 crosses 1 when the ratio does not cross 1 inside the sigma0 grid (then
  the log ratio that uses it is nan too); a paired p value when every paired difference
  is exactly 0 (e.g. every scheme reached the same largest stable learning rate); eta*
  when no learning rate of the grid was stable.  A mean is nan when a run diverged (the
  "diverged" columns count them).
* **lo / hi** are 95% t intervals over seeds, mean +- t s / sqrt(n), not clipped to the
  range of the quantity: with few seeds (the quick run has 2 or 3) they are wide, and a
  lower bound can be negative for an accuracy or for eta* lambda_max / 2 ("edge lo")
  although the quantity itself cannot be.  Only the full run (10 to 20 seeds) supports
  conclusions; the quick run checks that the pipeline works.
"""


def _parser(prog):
    parser = OneLineParser(prog=prog, description=__doc__.splitlines()[0],
                           epilog=__doc__.split("Examples::", 1)[1],
                           formatter_class=__import__("argparse").RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="tiny configuration: checks that the pipeline works, nothing more")
    parser.add_argument("--only", choices=tuple(EXPERIMENTS), action="append",
                        help="run only this experiment (repeatable; default: all)")
    parser.add_argument("--out", default=DEFAULT_OUT,
                        help=f"output folder, created if missing (default: {DEFAULT_OUT})")
    parser.add_argument("--seed", type=integer_option("seed", 0, SEED_MAX), default=0,
                        help="base seed, in [0, 2**63 - 1] (default: 0)")
    parser.add_argument("--device", type=option_type(resolve_device), default="auto",
                        help="'auto' (CUDA when available), 'cpu', 'cuda', 'cuda:1', ... "
                             "(default: auto)")
    parser.add_argument("--threads", type=integer_option("threads", 1, 1024), default=1,
                        help="torch CPU threads, in [1, 1024] (default: 1, the fastest for "
                             "these small models)")
    parser.add_argument("--data", default=None, help="folder with the four IDX files")
    parser.add_argument("--dataset", choices=DATASETS, default=None,
                        help="default: digits, or mnist when --data is given")
    return parser


def _machine(device):
    gpu = f", {torch.cuda.get_device_name(device)}" if device.type == "cuda" else ""
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs visible, "
            f"{torch.get_num_threads()} torch thread(s), device {device}{gpu}; "
            f"Python {platform.python_version()}, torch {torch.__version__}")


def _output_folder(path):
    """Create the output folder (and its parents) before any work; a ValueError if that
    is impossible."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"--out: {path!r} exists and is not a folder")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as error:
        raise ValueError(f"--out: cannot create the folder {path!r}: "
                         f"{error.strerror or error}") from None
    if not os.access(path, os.W_OK):
        raise ValueError(f"--out: cannot write into the folder {path!r}: permission denied")


class _Progress:
    """train.on_run: a line on stderr at most every PROGRESS_EVERY_S seconds."""

    def __init__(self, name):
        self.name, self.runs = name, 0
        self.start = self.last = time.perf_counter()

    def __call__(self, scheme):
        self.runs += 1
        now = time.perf_counter()
        if now - self.last >= PROGRESS_EVERY_S:
            self.last = now
            print(f"{self.name}: {self.runs} training runs done, {now - self.start:.0f} s "
                  f"(last: {scheme})", file=sys.stderr, flush=True)


def run(args):
    """Run the experiments args asks for; return the Markdown report (also written)."""
    if args.seed < 0:
        raise ValueError(f"--seed must be an integer >= 0, got {args.seed}")
    if args.threads < 1:
        raise ValueError(f"--threads must be an integer >= 1, got {args.threads}")
    _output_folder(args.out)
    torch.set_num_threads(args.threads)
    data = load_dataset(args.dataset or ("mnist" if args.data else "digits"), args.data,
                        args.seed)
    names = args.only or list(EXPERIMENTS)
    print(f"experiments: {', '.join(names)} ({'quick' if args.quick else 'full'} run) on "
          f"{args.device}, dataset {data.name}; results go to {args.out}", file=sys.stderr,
          flush=True)
    sections = [f"# Experiment results ({'quick' if args.quick else 'full'} run)\n",
                f"{datetime.date.today().isoformat()}; {_machine(args.device)}; dataset "
                f"{data.name} ({len(data.y_train)} train / {len(data.y_test)} test); "
                f"base seed {args.seed}.\n", READING_NOTES]
    total = time.perf_counter()
    previous = train.on_run
    try:
        for number, name in enumerate(names, 1):
            module = EXPERIMENTS[name]
            print(f"{name} ({number}/{len(names)}): started", file=sys.stderr, flush=True)
            train.on_run = progress = _Progress(name)
            start = time.perf_counter()
            text = module.run_experiment(data, args.out, base_seed=args.seed,
                                         device=args.device,
                                         config=module.QUICK if args.quick else module.FULL)
            seconds = time.perf_counter() - start
            sections.append(f"## {name}\n\n{text}\nWall time: {seconds:.1f} s.\n")
            print(f"{name} ({number}/{len(names)}): done, {progress.runs} training runs in "
                  f"{seconds:.1f} s", file=sys.stderr, flush=True)
    finally:
        train.on_run = previous
    report = "\n".join(sections)
    path = os.path.join(args.out, "results.md")
    with open(path, "w") as f:
        f.write(report)
    print(f"experiments: done in {time.perf_counter() - total:.1f} s; results in {args.out} "
          f"(report: {path})", file=sys.stderr, flush=True)
    return report


def main(argv=None, prog="python -m experiments"):
    """Parse argv and run; bad arguments exit with status 2 and one line on stderr."""
    parser = _parser(prog)
    args = parser.parse_args(argv)
    try:
        run(args)
    except ValueError as error:
        parser.error(str(error))
    except OSError as error:            # e.g. an IDX file that cannot be read
        parser.error(f"{error.strerror or error}"
                     + (f": {error.filename!r}" if error.filename else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m experiments``: run the training experiments and write their results.

Examples::

    python -m experiments --quick --out /tmp/smoke        # the CI smoke test (seconds)
    python -m experiments --out docs/experiments          # the full set (about 15 min, 1 core)
    python -m experiments --only gh --data ~/mnist --dataset mnist

Bad arguments exit with status 2 and one line saying what is wrong.
"""
import argparse
import datetime
import os
import platform
import sys
import time

import torch

from . import EXPERIMENTS
from .data import DATASETS, load_dataset


def _parser():
    parser = argparse.ArgumentParser(prog="python -m experiments", description=__doc__.split(
        "\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="tiny configuration: checks that the pipeline works, nothing more")
    parser.add_argument("--only", choices=tuple(EXPERIMENTS), action="append",
                        help="run only this experiment (repeatable); default: all")
    parser.add_argument("--out", default="experiment-results", help="output folder")
    parser.add_argument("--seed", type=int, default=0, help="base seed (>= 0)")
    parser.add_argument("--device", default="auto",
                        help="'auto' (CUDA when available), 'cpu', 'cuda', 'cuda:1', ...")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (1 is fastest for these small models)")
    parser.add_argument("--data", default=None, help="folder with the four IDX files")
    parser.add_argument("--dataset", choices=DATASETS, default=None,
                        help="default: digits, or mnist when --data is given")
    return parser


def _device(name):
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise ValueError(f"--device: {error}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda asked for, but CUDA is not available")
    return str(device)


def _machine(device):
    gpu = f", {torch.cuda.get_device_name(device)}" if device.startswith("cuda") else ""
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs visible, "
            f"{torch.get_num_threads()} torch thread(s), device {device}{gpu}; "
            f"Python {platform.python_version()}, torch {torch.__version__}")


def run(args):
    """Run the experiments args asks for; return the Markdown report (also written)."""
    if args.seed < 0 or args.threads < 1:
        raise ValueError("--seed must be >= 0 and --threads >= 1")
    device = _device(args.device)
    torch.set_num_threads(args.threads)
    data = load_dataset(args.dataset or ("mnist" if args.data else "digits"), args.data,
                        args.seed)
    os.makedirs(args.out, exist_ok=True)
    sections = [f"# Experiment results ({'quick' if args.quick else 'full'} run)\n",
                f"{datetime.date.today().isoformat()}; {_machine(device)}; dataset "
                f"{data.name} ({len(data.y_train)} train / {len(data.y_test)} test); "
                f"base seed {args.seed}.\n"]
    for name in args.only or EXPERIMENTS:
        module = EXPERIMENTS[name]
        start = time.perf_counter()
        text = module.run_experiment(data, args.out, base_seed=args.seed, device=device,
                                     config=module.QUICK if args.quick else module.FULL)
        seconds = time.perf_counter() - start
        sections.append(f"## {name}\n\n{text}\nWall time: {seconds:.1f} s.\n")
        print(f"{name}: {seconds:.1f} s", file=sys.stderr, flush=True)
    report = "\n".join(sections)
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(report)
    return report


def main(argv=None):
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        run(args)
    except ValueError as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")


if __name__ == "__main__":
    main()

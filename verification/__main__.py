"""python -m verification: run the Monte Carlo checks and print the verdict table.

Also ``initmath verify``.  Bad arguments (and output files that cannot be written,
checked before any check runs) exit with status 2 and one line on stderr.
"""
import datetime
import platform
import re
import sys

import torch
from tqdm import tqdm

from initmath._cli import SEED_MAX, OneLineParser, integer_option, writable
from initmath.nn.device import resolve_device

from . import all_checks, distributed, report
from .core import ALPHA, POWER, ok, run_check


def _parser(prog):
    parser = OneLineParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="auto: cuda when available (default: auto)")
    parser.add_argument("--quick", action="store_true",
                        help="small budgets (~40 s on an idle 2-core CPU)")
    parser.add_argument("--seed", type=integer_option("seed", 0, SEED_MAX), default=0,
                        help="base seed, in [0, 2**63 - 1] (default: 0)")
    parser.add_argument("--only", metavar="PATTERN",
                        help="run the checks whose name matches this regular expression "
                             "(case-insensitive)")
    parser.add_argument("--json", metavar="PATH", help="write the full record as JSON")
    parser.add_argument("--markdown", metavar="PATH", help="write the table as Markdown")
    return parser


def main(argv=None, prog="python -m verification"):
    """Run the checks argv asks for; 0 when every check behaved as it must, else 1."""
    parser = _parser(prog)
    args = parser.parse_args(argv)
    try:
        for option in ("json", "markdown"):
            if getattr(args, option):
                writable(getattr(args, option), f"--{option}")
        pattern = re.compile(args.only, re.IGNORECASE) if args.only else None
    except re.error as error:
        parser.error(f"--only: {args.only!r} is not a regular expression ({error})")
    except ValueError as error:
        parser.error(str(error))
    try:
        device = resolve_device(args.device)
    except ValueError as error:
        parser.error(f"--device: {error}")
    if device.type == "cuda" and distributed.init_from_environment(device):
        torch.cuda.set_device(torch.distributed.get_rank() % torch.cuda.device_count())
    else:
        distributed.init_from_environment(device)
    chunks, reduce = distributed.partition(device)
    main_process = distributed.is_main_process()

    checks = all_checks()
    if pattern is not None:
        checks = [c for c in checks if pattern.search(c.name)]
        if not checks:
            parser.error(f"--only {args.only!r} matches no check")
    results = []
    for check in tqdm(checks, desc="verification", unit="check", disable=not main_process):
        results.append(run_check(check, seed=args.seed, device=device, quick=args.quick,
                                 chunks=chunks, reduce=reduce))
    if not main_process:
        return 0 if all(map(ok, results)) else 1

    good = sum(map(ok, results))
    print(report.text_table(results))
    print(f"\n{good}/{len(results)} checks behaved as they must (passes pass, negative "
          f"controls rejected); threshold two-sided alpha = {ALPHA:g}, power {POWER:g}.")
    name = torch.cuda.get_device_name() if device.type == "cuda" else platform.processor()
    metadata = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "device": str(device), "device_name": name or platform.machine(),
        "torch": torch.__version__, "seed": args.seed, "quick": args.quick,
        "alpha": ALPHA, "power": POWER, "all_ok": good == len(results),
        "processes": torch.distributed.get_world_size()
        if torch.distributed.is_initialized() else 1,
    }
    if args.json:
        with open(args.json, "w") as f:
            f.write(report.json_record(results, metadata))
    if args.markdown:
        header = (f"Verification run {metadata['date']} on {device} ({metadata['device_name']}), "
                  f"torch {torch.__version__}, seed {args.seed}"
                  f"{', quick budgets' if args.quick else ''}: {good}/{len(results)} as expected.")
        with open(args.markdown, "w") as f:
            f.write(report.markdown_table(results, header))
    return 0 if good == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())

"""The error rates of initmath.testing, measured at scale (the numbers of docs/testing.md).

Usage::

    python benchmarks/calibrate_testing.py [--quick] [--torch-runs N] [--json PATH]

1. False-alarm rate of the moment test on correct code, at levels 1e-3 to 1e-6, on the most
   skewed layer (width 1: ||x_1||^2 = 0 half the time) and a typical one (width 8), by
   exact batch means (initmath.testing.calibration), with exact 99.9% intervals.
2. Power at the stated discrepancy (sigma 1% off, per-call level 1e-8).
3. The family-wise rate of a 100-example property test at the default budget 1e-6: runs
   without a false alarm, out of 100,000.
4. The real torch path: ``--torch-runs`` seeds of assert_moment_preserved on a correct
   init (false alarms at 1e-6 and the rate at 1e-2), and the power on the three classic
   bugs (sigma 1.2% low at d = 8; sigma = 0 from an overflowing hyp2f1 sum at d = 199;
   Kaiming's gain with a leaky slope 0.3).
"""
import math
import sys
import time
from pathlib import Path

import torch
from _common import setup, write_json

from initmath import critical_sigma
from initmath.testing import StatisticalAssertionError, assert_moment_preserved
from initmath.testing.calibration import _rate, family_rate, moment_test_rate

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import test_testing_example as example

CONFIGS = [(8, 0.0), (16, 0.2), (2, 0.0), (64, 1.0), (4, 0.5)] * 20    # 100 examples


# The three bugs of the issue, as tests/test_testing_example.py plugs them into the ten-line test.
BUGS = {
    "sigma 1.2% low, s = 1, d = 8": (example._one_percent_small, 1.0, 8, 0.0),
    "naive hyp2f1 sum, s = 1, d = 199": (example._naive_formula, 1.0, 199, 0.0),
    "Kaiming gain with slope 0.3, s = 2, d = 64": (example._kaiming, 2.0, 64, 0.3),
}


def rejections(init, runs, **kwargs):
    count = 0
    for seed in range(runs):
        try:
            assert_moment_preserved(init, seed=seed, **kwargs)
        except StatisticalAssertionError:
            count += 1
    return count


def main(argv=None):
    args, info = setup(__doc__.splitlines()[0], argv,
                       quick={"action": "store_true", "help": "10x fewer replicates"},
                       **{"torch-runs": {"type": int, "default": 1000}})
    scale = 10 if args.quick else 1
    out = {"machine": info, "null": [], "power": [], "family": {}, "torch": {}}
    print("\n1. false-alarm rate on correct code (exact batch means, s = 2)")
    for width in (1, 8):
        for level, replicates in ((1e-3, 200_000), (1e-4, 2_000_000), (1e-5, 4_000_000),
                                  (1e-6, 20_000_000)):
            start = time.perf_counter()
            # a seed per row: with the same one, near-normal rows share their draws
            rate = moment_test_rate(2.0, width, false_alarm=level,
                                    replicates=replicates // scale,
                                    seed=100 * width + round(-math.log10(level)))
            print(f"  width {width:>2}  level {level:.0e}: {rate.rejections:>5} / "
                  f"{rate.trials:>10,} = {rate.rate:.3g}  [{rate.lower:.3g}, {rate.upper:.3g}]"
                  f"  ({rate.samples:,} networks per test, {time.perf_counter() - start:.0f} s)")
            out["null"].append({"width": width, **vars(rate)})
    print("\n2. power at the stated discrepancy (sigma 1% low, level 1e-8)")
    for width in (1, 8, 64):
        rate = moment_test_rate(2.0, width, sigma_ratio=0.99, false_alarm=1e-8,
                                replicates=100_000 // scale, seed=12 + width)
        print(f"  width {width:>2}: {rate.rate:.4f}  [{rate.lower:.4f}, {rate.upper:.4f}]  "
              f"({rate.samples:,} networks)")
        out["power"].append({"width": width, **vars(rate)})
    print("\n3. a 100-example property test at the default budget 1e-6")
    runs = 100_000 // scale
    start = time.perf_counter()
    rate, alarms = family_rate(CONFIGS, runs, total=1e-6, seed=13)
    print(f"  {runs:,} runs, {runs * len(CONFIGS):,} assertions: {alarms} false alarms, "
          f"{rate.rejections} failed runs; failing-run rate <= {rate.upper:.2g} (99.9%)  "
          f"({time.perf_counter() - start:.0f} s)")
    out["family"] = {"runs": runs, "alarms": alarms, **vars(rate)}
    print(f"\n4. torch path, {args.torch_runs} seeds each")
    std = float(critical_sigma(2.0, 64))
    good = lambda w: torch.nn.init.normal_(w, std=std)
    for level in (1e-6, 1e-2):
        start = time.perf_counter()
        count = rejections(good, args.torch_runs, s=2.0, width=64, false_alarm=level)
        rate = _rate(count, args.torch_runs, 0, level)
        print(f"  correct init, level {level:.0e}: {count} / {args.torch_runs} rejected "
              f"[{rate.lower:.3g}, {rate.upper:.3g}]  ({time.perf_counter() - start:.0f} s)")
        out["torch"][f"correct {level:.0e}"] = vars(rate)
    for name, (bug, s, d, a) in BUGS.items():
        runs = max(10, args.torch_runs // 10)
        start = time.perf_counter()
        count = rejections(lambda w, bug=bug, s=s, a=a: bug(w, s, a), runs, s=s, width=d,
                           slope=a)
        rate = _rate(count, runs, 0, 1e-6)
        print(f"  {name}: caught {count} / {runs}  [{rate.lower:.3g}, {rate.upper:.3g}]  "
              f"({time.perf_counter() - start:.0f} s)")
        out["torch"][name] = vars(rate)
    write_json(out, args.json)


if __name__ == "__main__":
    main()

"""Speed of initmath.critical_sigma against the targets of docs/benchmarks.md.

Usage::

    python benchmarks/bench_critical_sigma.py [--quick] [--json PATH]

1. float64 scalar ``critical_sigma(1.0, d, 0.01)`` for d = 1 ... 10^9 (target <= 100 us).
2. vectorized: one call over a mixed grid of N = 10^5 points, s uniform in [0.05, 4],
   d log-uniform integers in [1, 10^6], a uniform in [0, 1] (target >= 10^5 per second).
3. ``dps=30`` for d = 10 ... 10^6 (target <= 0.2 s per value).
"""

import numpy as np
from _common import setup, time_calls, write_json

from initmath import critical_sigma

SCALAR_D = [1, 10, 100, 10**3, 10**4, 10**5, 10**6, 10**7, 10**8, 10**9]
DPS_D = [10, 100, 10**3, 10**4, 10**5, 10**6]


def mixed_grid(n, seed=0):
    rng = np.random.default_rng(seed)
    s = rng.uniform(0.05, 4.0, n)
    d = np.rint(10 ** rng.uniform(0, 6, n)).astype(np.int64)
    a = rng.uniform(0.0, 1.0, n)
    return s, d, a


def main(argv=None):
    args, info = setup(__doc__.splitlines()[0], argv,
                       quick={"action": "store_true", "help": "fewer repetitions"})
    repeat = 20 if args.quick else 200
    report = {"machine": info, "scalar_us": {}, "dps30_s": {}}

    print("1. float64 scalar critical_sigma(1.0, d, 0.01), best of", repeat)
    for d in SCALAR_D:
        _, t = time_calls(lambda: critical_sigma(1.0, d, 0.01), repeat)
        report["scalar_us"][d] = t["best_s"] * 1e6
        print(f"   d = {d:>10d}: {t['best_s'] * 1e6:7.1f} us (median {t['median_s'] * 1e6:.1f})")

    n = 10**4 if args.quick else 10**5
    s, d, a = mixed_grid(n)
    _, t = time_calls(lambda: critical_sigma(s, d, a), 3)
    report["vectorized_per_s"] = n / t["best_s"]
    print(f"2. vectorized, N = {n}: {t['best_s']:.3f} s, {n / t['best_s']:,.0f} evaluations/s")

    print("3. dps = 30, critical_sigma(1.0, d, 0.01, dps=30)")
    for d in DPS_D:
        _, t = time_calls(lambda: critical_sigma(1.0, d, 0.01, dps=30), 1 if args.quick else 3)
        report["dps30_s"][d] = t["best_s"]
        print(f"   d = {d:>10d}: {t['best_s']:.3f} s")

    write_json(report, args.json)
    return report


if __name__ == "__main__":
    main()

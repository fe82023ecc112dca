"""Speed of the Lyapunov-exponent functions against the targets of docs/benchmarks.md.

Usage::

    python benchmarks/bench_lyapunov.py [--json PATH]

1. float64 scalar ``lyapunov_exponent(0.1, d, 0.01)`` for d = 1 ... 10^9 (target <= 200 us).
2. the exact CDF of log||x_k|| at 1000 points, k = 1 ... 10^4 (target <= 0.5 s), including
   building the law (``log_norm_distribution``).
"""

import numpy as np
from _common import setup, time_calls, write_json

from initmath import log_norm_distribution, lyapunov_exponent

SCALAR_D = [1, 10, 100, 10**3, 10**4, 10**6, 10**9]
DEPTHS = [1, 10, 100, 1000, 10**4]


def exact_cdf(k, d, a):
    law = log_norm_distribution(k, 0.2, d, a)
    sd = np.sqrt(law.variance)
    return law.cdf(np.linspace(law.mean - 6 * sd, law.mean + 6 * sd, 1000))


def main(argv=None):
    args, info = setup(__doc__.splitlines()[0], argv)
    report = {"machine": info, "scalar_us": {}, "cdf_s": {}}
    print("1. float64 scalar lyapunov_exponent(0.1, d, 0.01), best of 200")
    for d in SCALAR_D:
        _, t = time_calls(lambda: lyapunov_exponent(0.1, d, 0.01), 200)
        report["scalar_us"][d] = t["best_s"] * 1e6
        print(f"   d = {d:>10d}: {t['best_s'] * 1e6:7.1f} us")
    print("2. exact CDF at 1000 points (law built inside), d = 64, a = 0 and a = 0.3")
    for a in (0.0, 0.3):
        for k in DEPTHS:
            _, t = time_calls(lambda: exact_cdf(k, 64, a), 3)
            report["cdf_s"][f"a={a},k={k}"] = t["best_s"]
            print(f"   a = {a}, k = {k:>6d}: {t['best_s']:.3f} s")
    write_json(report, args.json)
    return report


if __name__ == "__main__":
    main()

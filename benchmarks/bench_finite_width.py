"""Speed of initmath.finite_width against the target of docs/benchmarks.md.

Usage::

    python benchmarks/bench_finite_width.py [--quick] [--json PATH]

1. float64 ``moment_map(s, d, phi, c)`` for s in {0.5, 1, 3} (the Laplace-transform
   route), c in {0.3, 1, 3}, d in {2, 16, 256, 1024}, per activation: the median and the
   largest of the per-value times (best of a few calls each; target <= 1 ms a value).
2. float64 ``moment_map`` for s in {2, 4} (the power recurrence), per activation.
3. one call over N sigma values against N scalar calls (GELU, s = 1, d = 16).
4. ``moment_preserving_sigma`` and ``fixed_point_norm`` for s = 1 (GELU, tanh; d = 16).
5. ``dps=30``: ``moment_map`` for s = 1 (the Laplace route at mpmath precision) and s = 2.
"""

import numpy as np
from _common import setup, time_calls, write_json

from initmath.finite_width import fixed_point_norm, moment_map, moment_preserving_sigma

ACTIVATIONS = ["gelu", "silu", "tanh", "selu", "elu", "softplus", "mish", "hardswish",
               "sigmoid", "relu", "softshrink"]
WIDTHS = [2, 16, 256, 1024]
ORDERS = [0.5, 1.0, 3.0]
SCALES = [0.3, 1.0, 3.0]


def per_value_ms(calls, repeat):
    """Best-of-``repeat`` milliseconds of each call."""
    return [time_calls(call, repeat)[1]["best_s"] * 1e3 for call in calls]


def main(argv=None):
    args, info = setup(__doc__.splitlines()[0], argv,
                       quick={"action": "store_true", "help": "fewer cases and repetitions"})
    repeat = 2 if args.quick else 5
    widths = [16] if args.quick else WIDTHS
    report = {"machine": info, "fractional_ms": {}, "integer_ms": {}}

    print(f"1. float64 moment_map, s in {ORDERS}, c in {SCALES}, d in {widths}: ms a value")
    for name in ACTIVATIONS:
        times = per_value_ms([lambda s=s, d=d, c=c: moment_map(s, d, name, c)
                              for s in ORDERS for d in widths for c in SCALES], repeat)
        report["fractional_ms"][name] = {"median": float(np.median(times)), "max": max(times)}
        print(f"   {name:>10s}: median {np.median(times):6.2f}  max {max(times):6.2f}")

    print("2. float64 moment_map, s in {2, 4}: ms a value")
    for name in ACTIVATIONS:
        times = per_value_ms([lambda s=s, d=d: moment_map(s, d, name, 1.0)
                              for s in (2.0, 4.0) for d in widths], repeat)
        report["integer_ms"][name] = float(np.median(times))
        print(f"   {name:>10s}: median {np.median(times):6.3f}")

    n = 20 if args.quick else 100
    sigmas = np.geomspace(0.1, 10, n)
    _, vector = time_calls(lambda: moment_map(1.0, 16, "gelu", sigmas), 1)
    _, scalar = time_calls(lambda: [moment_map(1.0, 16, "gelu", x) for x in sigmas], 1)
    report["vector_ms_per_value"] = vector["best_s"] / n * 1e3
    report["scalar_ms_per_value"] = scalar["best_s"] / n * 1e3
    print(f"3. GELU, s = 1, d = 16, {n} sigmas: one call {vector['best_s'] / n * 1e3:.2f} ms "
          f"a value, scalar calls {scalar['best_s'] / n * 1e3:.2f} ms a value")

    print("4. roots, s = 1, d = 16 (s)")
    for name in ("gelu", "tanh"):
        _, root = time_calls(lambda: moment_preserving_sigma(1.0, 16, name, r=0.7,
                                                             sigma_b=0.1), 1)
        _, fixed = time_calls(lambda: fixed_point_norm(1.0, 16, name, 0.2, 0.1), 1)
        report[f"preserving_sigma_s_{name}"] = root["best_s"]
        report[f"fixed_point_norm_s_{name}"] = fixed["best_s"]
        print(f"   {name:>10s}: moment_preserving_sigma {root['best_s']:.3f}  "
              f"fixed_point_norm {fixed['best_s']:.3f}")

    print("5. dps = 30 moment_map (s)")
    cases = [(1.0, 16, "tanh"), (2.0, 16, "gelu")] if args.quick else [
        (1.0, 2, "gelu"), (1.0, 16, "tanh"), (0.5, 256, "silu"), (3.0, 16, "relu"),
        (2.0, 16, "gelu")]
    for s, d, name in cases:
        try:
            _, t = time_calls(lambda: moment_map(s, d, name, 1.0, dps=30), 1)
        except ValueError as error:         # an older checkout refuses fractional s there
            print(f"   s = {s:g}, d = {d:>4d}, {name:>5s}: refused ({error})")
            continue
        report[f"dps30_s_{name}_{s:g}_{d}"] = t["best_s"]
        print(f"   s = {s:g}, d = {d:>4d}, {name:>5s}: {t['best_s']:.2f}")

    write_json(report, args.json)
    return report


if __name__ == "__main__":
    main()

"""Timings of initmath.hessian: Tracy-Widom (vectorised) and exact sigma per shape.

Run ``python benchmarks/bench_hessian.py [--quick]``; prints JSON.  Exact results are
cached per shape, so each exact timing clears the cache first (cost of a new shape).
"""
import json
import time

import _common
import numpy as np

from initmath import _spectral_norm, hessian


def bench_tracy_widom():
    _spectral_norm.tw1_quadrature()              # one-off TW_1 table, timed separately
    _spectral_norm.tw1_quadrature.cache_clear()
    start = time.perf_counter()
    _spectral_norm.tw1_quadrature()
    setup = time.perf_counter() - start
    d = np.arange(1, 1025)
    a, b = np.meshgrid(d[::8], d[::8])
    rows = {"table_setup_s": setup}
    for label, args in {"scalar (64, 64)": (64, 64),
                        f"grid {a.size} shapes": (a, b)}.items():
        _, t = _common.time_calls(lambda: hessian.hessian_sigma(*args, method="tracy-widom"),
                                  repeat=20)
        shapes = np.broadcast(*args).size
        rows[label] = {**t, "per_shape_us": 1e6 * t["best_s"] / shapes}
    return rows


def _new_shape_seconds(call):
    """Best of 3 of a call on a fresh cache (the exact values are cached per shape)."""
    best = float("inf")
    for _ in range(3):
        _spectral_norm.exact_norm.cache_clear()
        start = time.perf_counter()
        value = call()
        best = min(best, time.perf_counter() - start)
    return float(value), best


def bench_exact(quick):
    shapes = [(64, 1), (64, 2), (8, 3), (64, 3), (8, 8), (64, 8), (16, 16), (64, 16), (32, 32),
              (64, 32), (64, 64), (128, 128)]
    if quick:
        shapes = shapes[:5]
    rows = {}
    for n, p in shapes:
        value, seconds = _new_shape_seconds(lambda: hessian.hessian_sigma(n, p, method="exact"))
        rows[f"({n}, {p})"] = {"sigma": value, "new_shape_s": seconds}
    worst = max(rows[f"({n}, {p})"]["new_shape_s"] for n, p in shapes if n <= 64)
    rows["worst d_in, d_out <= 64"] = worst
    return rows


def bench_slopes(quick):
    """sigma for a ReLU / leaky-ReLU layer (a = 0 exact mixes one exact value per likely
    number of active units)."""
    rows = {}
    cases = [(8, 8, 0.0, "exact"), (64, 64, 0.0, "exact"), (64, 64, 0.0, "tracy-widom"),
             (64, 64, 0.01, "tracy-widom"), (1024, 1024, 0.01, "tracy-widom")]
    for d_in, d_out, a, method in cases[:3] if quick else cases:
        value, seconds = _new_shape_seconds(
            lambda: hessian.hessian_sigma(d_in, d_out, a=a, method=method))
        rows[f"({d_in}, {d_out}) a={a} {method}"] = {"sigma": value, "seconds": seconds}
    return rows


def main(argv=None):
    args, info = _common.setup(__doc__.splitlines()[0], argv,
                               quick={"action": "store_true", "help": "fewer sizes"})
    report = {"machine": info, "tracy_widom": bench_tracy_widom(),
              "exact": bench_exact(args.quick), "slopes": bench_slopes(args.quick)}
    print(json.dumps(report, indent=1))
    _common.write_json(report, args.json)


if __name__ == "__main__":
    main()

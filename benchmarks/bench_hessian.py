"""Timings of initmath.hessian: Tracy-Widom (vectorised) and exact sigma per shape.

Run ``python benchmarks/bench_hessian.py [--quick]``; prints JSON.  Exact results are
cached per shape, so each exact timing clears the cache first (cost of a new shape).
"""
import json
import sys
import time

import _common  # noqa: F401  (puts the repository root on sys.path)
import numpy as np

from initmath import hessian


def bench_tracy_widom():
    hessian._tw1_quadrature()                    # one-off TW_1 table, timed separately
    hessian._tw1_quadrature.cache_clear()
    start = time.perf_counter()
    hessian._tw1_quadrature()
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


def bench_exact(quick):
    shapes = [(64, 1), (64, 2), (8, 3), (64, 3), (8, 8), (64, 8), (16, 16), (64, 16), (64, 32)]
    if quick:
        shapes = shapes[:5]
    rows = {}
    for n, p in shapes:
        hessian._exact_general.cache_clear()
        hessian._exact_p2.cache_clear()
        start = time.perf_counter()
        value = hessian.hessian_sigma(n, p, method="exact")
        rows[f"({n}, {p})"] = {"sigma": float(value), "new_shape_s": time.perf_counter() - start}
    return rows


def main():
    quick = "--quick" in sys.argv
    print(json.dumps({"machine": _common.machine_info(),
                      "tracy_widom": bench_tracy_widom(),
                      "exact": bench_exact(quick)}, indent=1))


if __name__ == "__main__":
    main()

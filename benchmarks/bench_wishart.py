"""Speed of the exact Wishart moments (initmath.wishart).

Usage::

    python benchmarks/bench_wishart.py [--json PATH]

1. ``wishart_trace_moment(k, m, n)`` as a sympy polynomial in symbols m, n, from cold
   caches, k = 5, 10, 15, 20, 30, 40 (targets: k = 10 <= 0.5 s, k = 20 <= 10 s).
2. ``wishart_mixed_moment((k/2, k/2), m, n)``, cold: the general zonal expansion, whose
   Jack table costs ~p(k)^2, k = 10, 16, 20, 24.
"""
import sympy
from _common import setup, time_calls, write_json

from initmath import wishart

TRACE_K = [5, 10, 15, 20, 30, 40]
MIXED_K = [10, 16, 20, 24]
CACHES = (wishart._partitions, wishart._raisings, wishart._jack_monomial_table,
          wishart._power_sum_weights, wishart._moment_coefficients)
M, N = sympy.symbols("m n")


def cold(function, *args):
    """function(*args) after emptying every table cache of initmath.wishart and sympy's."""
    for cache in CACHES:
        cache.cache_clear()
    sympy.core.cache.clear_cache()
    return function(*args)


def main(argv=None):
    args, info = setup(__doc__.splitlines()[0], argv)
    report = {"machine": info, "trace_s": {}, "mixed_s": {}}
    print("1. wishart_trace_moment(k, m, n), symbolic, cold caches, best of 3")
    for k in TRACE_K:
        poly, t = time_calls(lambda: cold(wishart.wishart_trace_moment, k, M, N), 3)
        report["trace_s"][k] = t["best_s"]
        print(f"   k = {k:>2d}: {t['best_s']:8.4f} s  ({len(poly.args)} terms)")
    print("2. wishart_mixed_moment((k/2, k/2), m, n), symbolic, cold caches, best of 2")
    for k in MIXED_K:
        _, t = time_calls(lambda: cold(wishart.wishart_mixed_moment, (k // 2, k // 2), M, N), 2)
        report["mixed_s"][k] = t["best_s"]
        print(f"   k = {k:>2d}: {t['best_s']:8.4f} s")
    write_json(report, args.json)
    return report


if __name__ == "__main__":
    main()

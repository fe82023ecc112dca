"""Time the paper's printed series against initmath's fast method at s = 1, d = 1024, a = 0.01.

Usage::

    python benchmarks/bench_series_speedup.py [--repeat N] [--json PATH]

Times ``initmath._series.series_moment_factor(1.0, 1024, 0.01, rtol=1e-13)`` (float64)
and ``initmath.moment_factor(1.0, 1024, 0.01)``; prints both
times (best and median of N calls after one warm-up call), their relative difference,
the speed-up, and the machine and date, and optionally writes all of it as JSON.
"""
import argparse

from _common import machine_info, print_machine, time_calls, write_json

from initmath import moment_factor
from initmath._series import series_moment_factor

S, D, A = 1.0, 1024, 0.01
SERIES_RTOL = 1e-13


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20, help="timed calls per method")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)

    report = {
        "machine": machine_info(),
        "case": {"s": S, "d": D, "a": A, "series_rtol": SERIES_RTOL},
    }
    series_value, series_time = time_calls(
        lambda: series_moment_factor(S, D, A, rtol=SERIES_RTOL), args.repeat)
    report["series"] = {"value": series_value, **series_time}

    fast_value, fast_time = time_calls(lambda: moment_factor(S, D, A), args.repeat)
    report["fast"] = {"value": float(fast_value), **fast_time}
    report["rel_diff"] = abs(float(fast_value) / series_value - 1)
    report["speedup"] = series_time["best_s"] / fast_time["best_s"]

    print_machine(report["machine"])
    print(f"case     I_a(s={S}, d={D}, a={A})")
    print(f"series   {series_value!r:<22} best {series_time['best_s'] * 1e3:9.3f} ms, "
          f"median {series_time['median_s'] * 1e3:9.3f} ms (rtol {SERIES_RTOL:g})")
    fast = report["fast"]
    print(f"fast     {fast['value']!r:<22} best {fast['best_s'] * 1e3:9.3f} ms, "
          f"median {fast['median_s'] * 1e3:9.3f} ms")
    print(f"rel diff {report['rel_diff']:.3e}")
    print(f"speed-up {report['speedup']:.3g}x (series best / fast best)")

    write_json(report, args.json)
    return report


if __name__ == "__main__":
    main()

"""Time the paper's printed series against initmath's fast method at s = 1, d = 1024, a = 0.01.

Usage::

    python benchmarks/bench_series_speedup.py [--repeat N] [--json PATH]

Times ``initmath._series.series_moment_factor(1.0, 1024, 0.01, rtol=1e-13)`` (float64)
and, when it can be imported, ``initmath.moment_factor(1.0, 1024, 0.01)``; prints both
times (best and median of N calls after one warm-up call), their relative difference,
the speed-up, and the machine and date, and optionally writes all of it as JSON.
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

# Run from a checkout without installing: make the repository root importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import scipy  # noqa: E402

from initmath._series import series_moment_factor  # noqa: E402

S, D, A = 1.0, 1024, 0.01
SERIES_RTOL = 1e-13


def time_calls(function, repeat):
    """Value of function() and the wall times of ``repeat`` calls after a warm-up."""
    value = function()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return value, {"best_s": min(times), "median_s": statistics.median(times),
                   "repeat": repeat}


def machine_info():
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20, help="timed calls per method")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)

    report = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "case": {"s": S, "d": D, "a": A, "series_rtol": SERIES_RTOL},
    }
    series_value, series_time = time_calls(
        lambda: series_moment_factor(S, D, A, rtol=SERIES_RTOL), args.repeat)
    report["series"] = {"value": series_value, **series_time}

    try:
        from initmath import moment_factor
    except ImportError as error:
        report["fast"] = None
        report["fast_unavailable"] = str(error)
    else:
        fast_value, fast_time = time_calls(lambda: moment_factor(S, D, A), args.repeat)
        report["fast"] = {"value": float(fast_value), **fast_time}
        report["rel_diff"] = abs(float(fast_value) / series_value - 1)
        report["speedup"] = series_time["best_s"] / fast_time["best_s"]

    info = report["machine"]
    print(f"date     {report['date']}")
    print(f"machine  {info['platform']}, {info['processor']}, {info['cpu_count']} CPUs, "
          f"Python {info['python']}, numpy {info['numpy']}, scipy {info['scipy']}")
    print(f"case     I_a(s={S}, d={D}, a={A})")
    print(f"series   {series_value!r:<22} best {series_time['best_s'] * 1e3:9.3f} ms, "
          f"median {series_time['median_s'] * 1e3:9.3f} ms (rtol {SERIES_RTOL:g})")
    if report["fast"] is None:
        print(f"fast     not available ({report['fast_unavailable']})")
    else:
        fast = report["fast"]
        print(f"fast     {fast['value']!r:<22} best {fast['best_s'] * 1e3:9.3f} ms, "
              f"median {fast['median_s'] * 1e3:9.3f} ms")
        print(f"rel diff {report['rel_diff']:.3e}")
        print(f"speed-up {report['speedup']:.3g}x (series best / fast best)")

    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote    {args.json}")
    return report


if __name__ == "__main__":
    main()

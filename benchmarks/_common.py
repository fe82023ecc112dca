"""Timing and machine description shared by the benchmark scripts."""
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


def time_calls(function, repeat):
    """Value of function() and the wall times of ``repeat`` calls after a warm-up."""
    value = function()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return value, {"best_s": min(times), "median_s": statistics.median(times), "repeat": repeat}


def machine_info():
    import numpy
    import scipy
    import mpmath
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "mpmath": mpmath.__version__,
        "mpmath_backend": mpmath.libmp.BACKEND,
    }


def print_machine(info):
    print(f"date     {info['date']}")
    print(f"machine  {info['platform']}, {info['processor']}, {info['cpu_count']} CPUs, "
          f"Python {info['python']}, numpy {info['numpy']}, scipy {info['scipy']}, "
          f"mpmath {info['mpmath']} ({info['mpmath_backend']})")


def write_json(report, path):
    """Write the report as JSON when a path was given on the command line."""
    if path:
        Path(path).write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote    {path}")

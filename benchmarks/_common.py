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
    import mpmath
    import numpy
    import scipy
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


def setup(description, argv, **options):
    """A benchmark's command line: --json PATH, plus ``options`` (name -> argparse keywords
    of --name).  Parse argv, print the machine; return (args, machine info)."""
    import argparse
    parser = argparse.ArgumentParser(description=description)
    for name, keywords in options.items():
        parser.add_argument(f"--{name}", **keywords)
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args(argv)
    info = machine_info()
    print_machine(info)
    return args, info


def torch_rate(function, units, device, seconds=1.0, rounds=3):
    """units per second of function() on a torch device: the best of ``rounds`` rounds of
    ~``seconds`` each (synchronising CUDA around every round), after one warm-up call."""
    import torch
    function()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    best = 0.0
    for _ in range(rounds):
        sync()
        start, count = time.perf_counter(), 0
        while time.perf_counter() - start < seconds:
            function()
            count += 1
        sync()
        best = max(best, units * count / (time.perf_counter() - start))
    return best


def torch_setup(description, argv):
    """The torch benchmarks' command line (--device auto|cpu|cuda|cuda:N, --json PATH): parse
    it, resolve the device, print the machine; return (args, torch.device, machine info)."""
    import torch

    from initmath._cli import option_type
    from initmath.nn.device import resolve_device
    args, info = setup(description, argv, device={
        "type": option_type(resolve_device), "default": "auto",
        "help": "'auto' (CUDA when available), 'cpu', 'cuda', 'cuda:1', ... (default: auto)"})
    device = args.device
    info["device"] = (torch.cuda.get_device_name(device) if device.type == "cuda"
                      else info["processor"])
    info["torch_threads"] = torch.get_num_threads()
    print(f"device   {device} ({info['device']}), torch {torch.__version__}, "
          f"{info['torch_threads']} threads")
    return args, device, info


def write_json(report, path):
    """Write the report as JSON when a path was given on the command line."""
    if path:
        Path(path).write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote    {path}")

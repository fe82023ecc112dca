"""Throughput of verification.kl's batched SGD chains (diagonal quadratic, float64).

Usage::

    python benchmarks/bench_sgd_chains.py [--device auto|cpu|cuda] [--json PATH]

For K in {10, 100, 1000} parameters and 1e3, 1e4, 1e5 parallel chains: chain-steps per
second of ``verification.kl.quadratic_sgd``'s step (one chain-step = one update
W <- W - lr (A W + xi) of one chain, K fresh normals), with the generator's own rate
(torch.randn of the same shape into a preallocated buffer) as the bound: each
chain-step needs K normals.  States above 1e7 entries (80 MB) are skipped.
"""
import argparse
import time

import numpy as np
import torch
from _common import machine_info, print_machine, write_json

from verification.kl import quadratic_sgd

DIMENSIONS = (10, 100, 1000)
CHAINS = (1_000, 10_000, 100_000)
MAX_ENTRIES = 10_000_000


def rate(function, units, device, seconds=0.5, rounds=3):
    """units per second of function(): the best of ``rounds`` rounds of ~``seconds``."""
    function()
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args(argv)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" \
        else args.device
    info = machine_info()
    info["device"] = torch.cuda.get_device_name() if device == "cuda" else info["processor"]
    info["torch_threads"] = torch.get_num_threads()
    print_machine(info)
    print(f"device   {device} ({info['device']}), torch {torch.__version__}, "
          f"{info['torch_threads']} threads")
    generator = torch.Generator(device=device).manual_seed(0)
    report = {"machine": info, "torch_device": device, "runs": []}
    for K in DIMENSIONS:
        problem = quadratic_sgd(np.geomspace(1.0, 2.0, K), lr=0.05, batch_size=8,
                                noise_var=2.0, device=device)
        for n in CHAINS:
            if n * K > MAX_ENTRIES:
                continue
            w = torch.randn(n, K, generator=generator, device=device, dtype=torch.float64)
            buffer = torch.empty_like(w)
            steps = rate(lambda: problem.step(w, generator), n, device)
            normals = rate(lambda: torch.randn(buffer.shape, generator=generator,
                                               out=buffer), n * K, device)
            report["runs"].append({"K": K, "chains": n, "chain_steps_per_s": steps,
                                   "normals_per_s": normals,
                                   "fraction": steps * K / normals})
            print(f"K = {K:5d}, {n:7d} chains: {steps:14,.0f} chain-steps/s "
                  f"({steps * K / 1e6:7.1f} M coordinate-steps/s; randn {normals / 1e6:6.1f} "
                  f"M/s: {100 * steps * K / normals:3.0f}% of the generator bound)")
    write_json(report, args.json)
    return report


if __name__ == "__main__":
    main()

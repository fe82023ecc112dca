"""Throughput of verification.kl's batched SGD chains (diagonal quadratic, float64).

Usage::

    python benchmarks/bench_sgd_chains.py [--device auto|cpu|cuda|cuda:N] [--json PATH]

For K in {10, 100, 1000} parameters and 1e3, 1e4, 1e5 parallel chains: chain-steps per
second of ``verification.kl.quadratic_sgd``'s step (one chain-step = one update
W <- W - lr (A W + xi) of one chain, K fresh normals), with the generator's own rate
(torch.randn of the same shape into a preallocated buffer) as the bound: each
chain-step needs K normals.  States above 1e7 entries (80 MB) are skipped.
"""
import numpy as np
import torch
from _common import torch_rate, torch_setup, write_json

from verification.kl import quadratic_sgd

DIMENSIONS = (10, 100, 1000)
CHAINS = (1_000, 10_000, 100_000)
MAX_ENTRIES = 10_000_000
SECONDS = 0.5                   # per timing round


def main(argv=None):
    args, device, info = torch_setup(__doc__.splitlines()[0], argv)
    generator = torch.Generator(device=device).manual_seed(0)
    report = {"machine": info, "torch_device": str(device), "runs": []}
    for K in DIMENSIONS:
        problem = quadratic_sgd(np.geomspace(1.0, 2.0, K), lr=0.05, batch_size=8,
                                noise_var=2.0, device=device)
        for n in CHAINS:
            if n * K > MAX_ENTRIES:
                continue
            w = torch.randn(n, K, generator=generator, device=device, dtype=torch.float64)
            buffer = torch.empty_like(w)
            steps = torch_rate(lambda: problem.step(w, generator), n, device, SECONDS)
            normals = torch_rate(lambda: torch.randn(buffer.shape, generator=generator,
                                                     out=buffer), n * K, device, SECONDS)
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

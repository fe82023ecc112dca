"""Throughput of the verification layer's network simulation, against the device's bound.

Usage::

    python benchmarks/bench_simulation.py [--device auto|cpu|cuda|cuda:N] [--json PATH]

For d in {64, 256, 1024}: layer-samples per second of
``verification.simulate.norm_ratios`` (one layer-sample = drawing one d x d Gaussian
matrix and applying it and the activation to one state vector).  Every layer-sample must
generate d^2 normals and write 4 d^2 bytes of W, so the device bound is
min(normals/s, (write bytes/s) / 4) / d^2, measured here with torch.randn into a
preallocated buffer (the generator alone) and a plain fill of the same buffer (the write
bandwidth).  The fraction of the bound achieved is printed.
"""
import torch
from _common import torch_rate, torch_setup, write_json

from verification import simulate

WIDTHS = (64, 256, 1024)
LAYERS = 4


def main(argv=None):
    args, device, info = torch_setup(__doc__.splitlines()[0], argv)
    generator = torch.Generator(device=device).manual_seed(0)
    report = {"machine": info, "torch_device": str(device), "widths": {}}
    for d in WIDTHS:
        batch = max(1, simulate.MEMORY_BYTES[device.type] // (4 * d * d))
        buffer = torch.empty(batch, d, d, device=device)
        normals = torch_rate(lambda: torch.randn(buffer.shape, generator=generator,
                                                 out=buffer), buffer.numel(), device)
        write_bytes = torch_rate(lambda: buffer.fill_(1.0), 4 * buffer.numel(), device)
        bound = min(normals, write_bytes / 4) / (d * d)
        achieved = torch_rate(lambda: simulate.norm_ratios(
            [d] * (LAYERS + 1), [1.0] * LAYERS, batch, generator,
            simulate.leaky_relu(0.0)), batch * LAYERS, device)
        report["widths"][d] = {"layer_samples_per_s": achieved, "bound": bound,
                               "normals_per_s": normals, "write_bytes_per_s": write_bytes,
                               "fraction": achieved / bound}
        print(f"d = {d:5d}: {achieved:12,.0f} layer-samples/s; bound {bound:12,.0f} "
              f"(randn {normals / 1e6:,.0f} M/s, write {write_bytes / 1e9:,.1f} GB/s); "
              f"{100 * achieved / bound:.0f}% of the bound")
    write_json(report, args.json)
    return report


if __name__ == "__main__":
    main()

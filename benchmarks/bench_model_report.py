"""Time of a whole-model init_model_ report (initialization, graph reading, predictions).

Usage::

    python benchmarks/bench_model_report.py [--json PATH]

Cases: a 100-layer MLP of width 256 (Linear + GELU, the non-homogeneous route: the
log-normal moment closure at every layer) and the same with ReLU (the closed-form
route), both read as nn.Sequential chains; a residual MLP of 50 blocks
x + fc2(gelu(fc1(x))) (100 layers, traced by torch.fx); an nn.TransformerEncoderLayer
(d_model 256, 8 heads) with and without an example batch of 4 x 64 tokens (the batch
adds the attention prediction and the measured values).
The target is a 100-layer MLP report in at most 1 s on one CPU core; torch runs on one
thread here.  The first call of a case is timed apart: it also fills the caches of the
per-shape stds (the finite-width root searches) that later calls reuse.
"""
import time

import torch
from _common import setup, time_calls, write_json
from torch import nn

from initmath.nn import init_model_

WIDTH, DEPTH = 256, 100


class _Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(WIDTH, WIDTH), nn.Linear(WIDTH, WIDTH)

    def forward(self, x):
        return x + self.fc2(nn.functional.gelu(self.fc1(x)))


def mlp(activation):
    return nn.Sequential(*[m for _ in range(DEPTH) for m in (nn.Linear(WIDTH, WIDTH),
                                                             activation())],
                         nn.Linear(WIDTH, 10))


def main(argv=None):
    args, info = setup(__doc__.splitlines()[0], argv,
                       repeat={"type": int, "default": 5, "help": "timed calls per case"})
    torch.set_num_threads(1)
    generator = torch.Generator().manual_seed(0)
    transformer = nn.TransformerEncoderLayer(256, 8, 1024, batch_first=True)
    batch = torch.randn(4, 64, 256, generator=generator)
    cases = {
        f"{DEPTH}-layer MLP, GELU": (mlp(nn.GELU), {}),
        f"{DEPTH}-layer MLP, ReLU": (mlp(nn.ReLU), {}),
        f"{DEPTH // 2}-block residual GELU MLP": (nn.Sequential(*[_Block() for _ in
                                                                range(DEPTH // 2)]), {}),
        "TransformerEncoderLayer": (transformer, {}),
        "TransformerEncoderLayer + batch": (transformer, {"example_input": batch}),
    }
    report = {"machine": info, "torch_threads": 1, "cases": {}}
    for name, (model, options) in cases.items():
        def call(model=model, options=options):
            return init_model_(model, generator=generator, **options)
        start = time.perf_counter()
        call()          # the first call also fills the caches of the stds and moments
        first = time.perf_counter() - start
        _, times = time_calls(call, args.repeat)
        report["cases"][name] = dict(times, first_s=first)
        print(f"{name:34s} first {first * 1e3:8.1f} ms, then best {times['best_s'] * 1e3:8.1f}"
              f" ms, median {times['median_s'] * 1e3:8.1f} ms")
    write_json(report, args.json)
    return report


if __name__ == "__main__":
    main()

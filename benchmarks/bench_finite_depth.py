"""Speed of ``depth_law`` (100 layers) against the 1 s target of docs/benchmarks.md.

Usage::

    python benchmarks/bench_finite_depth.py [--json PATH]

100 layers at d = 16, 64, 256, 1024, sigma = gain(phi) / sqrt(d), r0 = sqrt(d) (q_0 = 1),
with and without a bias (sigma_b = 0.3), for ReLU (the convolution path, with a bias the
shifted exact law) and the non-homogeneous activations of the target (the interpolated
one-step law); best of ``--repeat`` calls after a warm-up.
"""

import math

from _common import setup, time_calls, write_json

from initmath.finite_depth import depth_law
from initmath.mean_field import gain

ACTIVATIONS = ["relu", "tanh", "gelu", "silu", "selu", "elu", "softplus", "sigmoid"]
WIDTHS = [16, 64, 256, 1024]


def main(argv=None):
    args, info = setup(__doc__.splitlines()[0], argv,
                       repeat={"type": int, "default": 1, "help": "timed calls (default 1)"})
    report = {"machine": info, "seconds": {}}
    for act in ACTIVATIONS:
        for sigma_b in (0.0, 0.3):
            for d in WIDTHS:
                sigma = gain(act) / math.sqrt(d)
                law, t = time_calls(lambda: depth_law(100, d, act, sigma, sigma_b,
                                                      r0=math.sqrt(d)), args.repeat)
                key = f"{act},sigma_b={sigma_b},d={d}"
                report["seconds"][key] = t["best_s"]
                print(f"   {key:30s} {t['best_s']:6.2f} s  ({len(law.centres)} cells)")
    write_json(report, args.json)
    return report


if __name__ == "__main__":
    main()

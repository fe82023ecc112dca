"""Output variance of the LDLT / Cholesky layer against sigma for several shapes:
exact (initmath), the 3-term small-sigma series inside its radius, the Marchenko-Pastur
limit, and Monte Carlo through a torch layer built with a Cholesky factorisation.

Run from the repository root:  python docs/figures/ldlt_variance.py  (needs matplotlib, torch)
"""
import math
import os
import sys

sys.path.insert(0, os.getcwd())

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from initmath import ldlt_output_variance, ldlt_series_radius  # noqa: E402
from verification.wishart import _ldlt_layer  # noqa: E402

SHAPES = [(8, 8), (32, 32), (16, 4), (4, 16)]
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ldlt_variance.png")


def main():
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for (m, n), colour in zip(SHAPES, plt.rcParams["axes.prop_cycle"].by_key()["color"]):
        sigma = np.logspace(-2.5, 0.5, 120)
        ax.plot(sigma * math.sqrt(n), ldlt_output_variance(m, n, sigma), color=colour,
                label=f"{m}×{n} exact")
        ax.plot(sigma * math.sqrt(n), ldlt_output_variance(m, n, sigma, method="asymptotic"),
                color=colour, ls=":", lw=1)
        inside = sigma ** 2 < ldlt_series_radius(m, n)
        ax.plot(sigma[inside] * math.sqrt(n),
                ldlt_output_variance(m, n, sigma[inside], method="series"), color=colour,
                ls="--", lw=1)
        points = np.logspace(-2, 0.3, 7)
        estimates = [float(_ldlt_layer(m, n, s, 1.0, 1.0)(torch.Generator().manual_seed(7),
                                                           4000, "cpu").mean())
                     for s in points]
        ax.plot(points * math.sqrt(n), estimates, "o", color=colour, ms=4)
    ax.set_xscale("log")
    ax.set_xlabel(r"$\sigma\sqrt{n}$")
    ax.set_ylabel(r"Var$[y_i]$  ($\alpha = \gamma = 1$)")
    ax.set_title("LDLT layer: exact (solid), 3-term series (dashed), MP limit (dotted), MC (dots)",
                 fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(OUT, dpi=110)
    print(f"wrote {OUT} ({os.path.getsize(OUT) // 1024} kB)")


if __name__ == "__main__":
    main()

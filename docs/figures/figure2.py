"""Reproduce Figure 2 of Gurbuzbalaban & Hu (AISTATS 2021): the pdf and cdf of
R_k = log||x_k|| for a ReLU network of width d = 64 and depth k = 100 (||x_0|| = 1), under
Kaiming's sigma^2 = 2/d and the s ~ 1 scheme sigma^2 = 2/d + 5/(2 d^2).

The curves are initmath's exact finite-k law (log_norm_distribution, Gil-Pelaez
inversion); the histograms and empirical CDFs are 2000 simulated networks per sigma
(verification.simulate.norm_ratios: fresh Gaussian weights, batched matmul, fixed seed).
The larger sigma shifts the whole law right by k log(sigma_2 / sigma_1) (Remark 6).

Run from the repository root:  python docs/figures/figure2.py  (needs matplotlib, torch)
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

from initmath.lyapunov import log_norm_distribution, stochastic_dominance  # noqa: E402
from verification import simulate  # noqa: E402

D, K, NETWORKS, SEED = 64, 100, 2000, 2021
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "figure2.png")


def simulated_log_norms(sigma, seed):
    generator = torch.Generator().manual_seed(seed)
    ratios = simulate.norm_ratios([D] * (K + 1), [sigma] * K, NETWORKS, generator, "cpu",
                                  simulate.leaky_relu(0.0))
    alive = (ratios > 0).all(dim=1)
    return torch.log(ratios[alive]).sum(dim=1).numpy()


def main():
    cases = [(r"Kaiming $\sigma^2 = 2/d$", math.sqrt(2 / D), "tab:blue"),
             (r"$\sigma^2 = 2/d + 5/(2d^2)$", math.sqrt(2 / D + 5 / (2 * D * D)), "tab:red")]
    laws = [log_norm_distribution(K, sigma, D) for _, sigma, _ in cases]
    spread = 4 * math.sqrt(laws[0].variance)
    means = [law.mean for law in laws]
    r = np.linspace(min(means) - spread, max(means) + spread, 400)
    fig, (ax_pdf, ax_cdf) = plt.subplots(1, 2, figsize=(9, 3.6), dpi=90)
    for i, ((label, sigma, color), law) in enumerate(zip(cases, laws)):
        samples = simulated_log_norms(sigma, SEED + i)
        ax_pdf.hist(samples, bins=40, density=True, color=color, alpha=0.3,
                    label=f"simulated ({samples.size} networks)")
        ax_pdf.plot(r, law.pdf(r), color=color, lw=2, label=f"exact law, {label}")
        ax_pdf.plot(r, law.normal_pdf(r), color=color, lw=1, ls=":")
        grid = np.sort(samples)
        ax_cdf.step(grid, np.arange(1, grid.size + 1) / grid.size, where="post", color=color,
                    alpha=0.35, lw=4, label=f"empirical, {label}")
        ax_cdf.plot(r, law.cdf(r), color=color, lw=1.2, ls="--", label=f"exact, {label}")
    shift = stochastic_dominance(K, cases[0][1], cases[1][1], D)["shift"]
    ax_pdf.set(xlabel=r"$R_k = \log\|x_k\|$", ylabel="density",
               title=f"pdf, d = {D}, k = {K}, ReLU (dotted: normal)")
    ax_cdf.set(xlabel=r"$R_k = \log\|x_k\|$", ylabel=r"$P(R_k \leq r)$",
               title=f"cdf (shift k log(σ₂/σ₁) = {shift:.3f})")
    ax_pdf.legend(fontsize=7, loc="upper left")
    ax_cdf.legend(fontsize=7, loc="upper left")
    for ax in (ax_pdf, ax_cdf):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(OUT, dpi=90)
    print(f"wrote {OUT} ({os.path.getsize(OUT) / 1024:.0f} kB)")


if __name__ == "__main__":
    main()

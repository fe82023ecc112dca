"""The KL bound of Horii & Has (Proposition III.1) against sigma0 for a quadratic loss
(K = 10, eigenvalues 1 ... 2, batch size 8, noise variance 2), at lr lambda_max = 0.1
and 1.0: the bound evaluated at the exact E_ss||W||^2 of the SGD recursion and at the
continuous-time one, the exact stationary E_ss[L]/K of both laws, and simulated SGD
chains (verification.kl) at each sigma0: E_ss[L]/K and the bound at the simulated
E_ss||W||^2, with +-2 standard errors.  The optimal sigma0* = sqrt(E_ss||W||^2 / K) is
marked.  At lr lambda_max = 1 the simulated loss exceeds the bound around sigma0*.

Run from the repository root:  python docs/figures/kl_bound.py  (needs matplotlib, torch)
"""
import os
import sys

sys.path.insert(0, os.getcwd())

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch

from initmath.kl import kl_loss_bound
from verification.kl import LARGE, NOISE, SMALL, _Quadratic, _window, window_means

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kl_bound.png")
CHAINS = 2000
SIGMA0_FACTORS = np.geomspace(0.1, 10, 9)


def simulate(quadratic, sigma0, seed):
    """Per-chain window means of (L/K, ||W||^2) after the burn-in from sigma0."""
    burn_in = quadratic.burn_in(np.ones(quadratic.K), sigma0,
                                1e-3 * quadratic.discrete.second_moment)
    generator = torch.Generator().manual_seed(seed)
    problem = quadratic.problem("cpu")
    means = window_means(problem, lambda w: torch.stack([problem.loss(w) / quadratic.K,
                                                         (w * w).sum(dim=1)], dim=1),
                         n=CHAINS, sigma0=sigma0, starts=[burn_in],
                         window=_window(burn_in), generator=generator)[0].numpy()
    return means[:, 0], means[:, 1]


def panel(ax, lr_lam_max):
    quadratic = _Quadratic.at(lr_lam_max)
    K, star = quadratic.K, quadratic.sigma0_star
    args = dict(lr=quadratic.lr, K=K, log_C=quadratic.continuous.log_C, **NOISE)
    sigma0 = star * np.geomspace(0.08, 12, 300)
    for law, style, label in ((quadratic.discrete, "-", "SGD recursion (exact)"),
                              (quadratic.continuous, "--", "continuous-time law")):
        _line, = ax.plot(sigma0, kl_loss_bound(sigma0, second_moment=law.second_moment,
                                              **args), style, color="C0",
                        label=f"bound, E||W||² of the {label}")
        ax.axhline(law.mean_loss, ls=style, color="C3", lw=1,
                   label=f"E_ss[L]/K of the {label}")
    exact_bound = kl_loss_bound(sigma0, second_moment=quadratic.discrete.second_moment, **args)
    violated = exact_bound < quadratic.discrete.mean_loss
    if violated.any():
        ax.axvspan(sigma0[violated][0], sigma0[violated][-1], color="C1", alpha=0.2,
                   label="bound violated by the SGD recursion")
    points = star * SIGMA0_FACTORS
    for seed, s0 in enumerate(points):
        loss, square_norm = simulate(quadratic, s0, seed)
        bound = kl_loss_bound(s0, second_moment=square_norm, **args)
        for values, colour, marker, label in (
                (loss, "C3", "o", "simulated E_ss[L]/K"),
                (bound, "C0", "s", "bound at the simulated E||W||²")):
            ax.errorbar(s0, values.mean(), yerr=2 * values.std(ddof=1) / np.sqrt(CHAINS),
                        fmt=marker, color=colour, ms=4, capsize=2,
                        label=label if seed == 0 else None)
    ax.axvline(star, color="k", lw=0.8, ls=":")
    ax.annotate("σ₀*", (star, ax.get_ylim()[1]), xytext=(3, -12),
                textcoords="offset points", fontsize=9)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("σ₀")
    ax.set_title(f"α λ_max = {lr_lam_max:g} (α = {quadratic.lr:g})", fontsize=10)
    ax.grid(alpha=0.3, which="both")


def main():
    fig, axes = plt.subplots(1, 2, figsize=(11, 5.2))
    for ax, lr_lam_max in zip(axes, (SMALL, LARGE)):
        panel(ax, lr_lam_max)
    axes[0].set_ylabel("E_ss[L]/K  and its KL bound")
    handles, labels = axes[1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.suptitle("KL bound (Prop. III.1) vs σ₀: quadratic loss, K = 10, λ ∈ [1, 2], b = 8, "
                 f"σ² = 2; points: {CHAINS} SGD chains (±2 s.e.); σ₀* = √(E||W||²/K) dotted",
                 fontsize=10)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.savefig(OUT, dpi=110)
    print(f"wrote {OUT} ({os.path.getsize(OUT) // 1024} kB)")


if __name__ == "__main__":
    main()

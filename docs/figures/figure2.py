"""Reproduce Figure 2 of Gurbuzbalaban & Hu (AISTATS 2021): the pdf and cdf of
R_k = log||x_k|| for a ReLU network of width d = 64 and depth k = 100, under Kaiming's
sigma^2 = 2/d and sigma^2 = 2/d + 5/(2 d^2).  The figure is
initmath.outputs.plots.gh_figure2 (exact law, 2000 simulated networks per sigma from
verification.figures), drawn by ``initmath plot gh-figure2``; see docs/figures.md.

Run from the repository root:  python docs/figures/figure2.py  (needs matplotlib, torch)
"""
from _plot import write  # this folder is on the path of a script run from it

if __name__ == "__main__":
    write("gh-figure2", "figure2.png")

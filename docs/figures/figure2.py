"""Reproduce Figure 2 of Gurbuzbalaban & Hu (AISTATS 2021): the pdf and cdf of
R_k = log||x_k|| for a ReLU network of width d = 64 and depth k = 100, under Kaiming's
sigma^2 = 2/d and sigma^2 = 2/d + 5/(2 d^2).  The figure is initmath.plots.gh_figure2
(exact law, 2000 simulated networks per sigma); see docs/figures.md.

Run from the repository root:  python docs/figures/figure2.py  (needs matplotlib, torch)
"""
import os
import sys

sys.path.insert(0, os.getcwd())

from initmath.plots import gh_figure2

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "figure2.png")

if __name__ == "__main__":
    gh_figure2(OUT)
    print(f"wrote {OUT}")

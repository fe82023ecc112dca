"""Output variance of the LDLT / Cholesky layer against sigma for several shapes: exact,
the 3-term series, the Marchenko-Pastur limit and Monte Carlo through a torch layer.
The figure is initmath.plots.ldlt_variance_figure; see docs/figures.md.

Run from the repository root:  python docs/figures/ldlt_variance.py  (needs matplotlib, torch)
"""
import os
import sys

sys.path.insert(0, os.getcwd())

from initmath.plots import ldlt_variance_figure

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ldlt_variance.png")

if __name__ == "__main__":
    ldlt_variance_figure(OUT)
    print(f"wrote {OUT}")

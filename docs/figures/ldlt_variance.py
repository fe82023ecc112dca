"""Output variance of the LDLT / Cholesky layer against sigma for several shapes: exact,
the 3-term series, the Marchenko-Pastur limit and Monte Carlo through a torch layer.
The figure is initmath.outputs.plots.ldlt_variance_figure (points from
verification.figures), drawn by ``initmath plot ldlt-variance``; see docs/figures.md.

Run from the repository root:  python docs/figures/ldlt_variance.py  (needs matplotlib, torch)
"""
from _plot import write  # this folder is on the path of a script run from it

if __name__ == "__main__":
    write("ldlt-variance", "ldlt_variance.png")

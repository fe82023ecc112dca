"""The output layer: initmath's exact values as tables, LaTeX and figures.

:mod:`initmath.outputs.tables`
    :func:`~initmath.outputs.tables.make_table`: one quantity over a parameter grid.
:mod:`initmath.outputs.latex`
    :class:`~initmath.outputs.latex.Table` rendered as booktabs LaTeX, Markdown, CSV or JSON.
:mod:`initmath.outputs.plots`
    The papers' theory figures (needs matplotlib).  A figure draws the exact curves and
    overlays Monte Carlo points given to it as data
    (:class:`~initmath.outputs.plots.MonteCarloPoints`, computed by
    ``verification.figures.figure_points``): the output layer never simulates, and
    imports neither torch nor the ``verification`` package.

Importing :mod:`initmath` imports none of these modules; each imports only initmath's
numerical modules (and matplotlib, inside the figure functions).
"""

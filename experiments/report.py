"""Writing results: each table as Markdown, booktabs LaTeX and JSON (full precision, read
by the paper-claims report), each figure as PNG.

Tables are :class:`initmath.outputs.latex.Table` objects rendered by
:mod:`initmath.outputs.latex`, so the experiments' tables look like the library's.
"""
import os

from initmath.outputs.latex import Column, Table, to_json, to_latex, to_markdown

__all__ = ["DIGITS", "make_table", "new_figure", "save_figure", "write_table"]

DIGITS = 4


def make_table(title, columns, rows):
    """A Table from (plain name, LaTeX header) pairs and rows of entries."""
    return Table(title, [Column(name, latex) for name, latex in columns], rows)


def write_table(table, out, stem):
    """Write ``stem.md``, ``stem.tex`` and ``stem.json`` into the folder ``out``; return
    the Markdown."""
    markdown = f"**{table.title}**\n\n" + to_markdown(table, digits=DIGITS) + "\n"
    with open(os.path.join(out, stem + ".md"), "w") as f:
        f.write(markdown)
    with open(os.path.join(out, stem + ".tex"), "w") as f:
        f.write(to_latex(table, digits=DIGITS, label=f"tab:{stem}") + "\n")
    with open(os.path.join(out, stem + ".json"), "w") as f:
        f.write(to_json(table, digits=17) + "\n")
    return markdown


def new_figure(panels):
    """A row of ``panels`` axes (matplotlib imported here only: Agg, no display needed)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, panels, figsize=(5.2 * panels, 4.0), squeeze=False)
    return fig, axes[0]


def save_figure(fig, out, stem):
    """Save as ``stem.png`` in ``out`` (fixed dpi, no timestamp metadata) and close it."""
    import matplotlib.pyplot as plt
    fig.tight_layout()
    fig.savefig(os.path.join(out, stem + ".png"), dpi=110, metadata={"Software": None})
    plt.close(fig)

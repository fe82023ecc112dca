"""The papers' training experiments, rerun on local data with statistics over seeds.

``python -m experiments [--quick] [--only NAME] [--out DIR] [--seed N] [--device D]
[--data PATH --dataset mnist|fashion-mnist]`` runs them and writes Markdown and LaTeX
tables and PNG figures into the output folder (default ``results/experiments/``,
git-ignored; docs/experiments.md discusses the full run committed in docs/experiments/).

Modules: :mod:`.data` (digits, IDX files), :mod:`.train` (the one training loop),
:mod:`.stats` (intervals over seeds), :mod:`.report` (tables, figures), one module per
experiment: :mod:`.horii`, :mod:`.gh_mnist`, :mod:`.skorski_lr`.
"""
from . import gh_mnist, horii, skorski_lr

__all__ = ["EXPERIMENTS"]

# name -> module with FULL, QUICK and run_experiment(data, out, base_seed=, device=, config=)
EXPERIMENTS = {"horii": horii, "gh": gh_mnist, "skorski": skorski_lr}

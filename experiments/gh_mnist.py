r"""Gurbuzbalaban & Hu (2021), Section 5 / Figure 5: a deep ReLU MLP under five schemes.

Width 64, depth 20 (19 hidden ReLU layers of width 64 and a linear readout), plain SGD for
``epochs`` epochs, ``seeds`` seeds, the same seeds (data order and normal draws) for every
scheme: Xavier, Kaiming, random walk (Sussillo & Abbott), the paper's two-term
:math:`\sigma^2 = 2/d + 3/d^2` ("s = 0.8"), and the exact :math:`\bar\sigma_0(0.8, 64)`
(``initmath.critical_sigma(0.8, 64)``, through ``initmath.nn.init_model_``).

Reported: final train/test loss and accuracy, mean and standard deviation over seeds as
in the paper's table, with t intervals; each scheme minus Kaiming, paired over seeds
(paired t), Holm-adjusted over the four schemes separately for each metric.
"""
from typing import NamedTuple

import numpy as np

from . import report, stats
from .train import derive_seed, run

__all__ = ["FULL", "QUICK", "SCHEMES", "Config", "run_experiment"]

NAME = "gh"
# label -> (train.SCHEMES name, parameters)
SCHEMES = {"Xavier": ("xavier", {}), "Random walk": ("random-walk", {}),
           "Kaiming": ("kaiming", {}), "2/d+3/d^2 (s~0.8)": ("two-term", {}),
           "exact sigma_0(0.8, 64)": ("fractional-moment", {"s": 0.8})}
BASELINE = "Kaiming"
METRICS = ("train_loss", "test_loss", "train_acc", "test_acc")


class Config(NamedTuple):
    width: int
    depth: int
    epochs: int
    lr: float
    batch_size: int
    seeds: int


# lr and batch fixed by a one-seed pilot on the training loss (Kaiming and Xavier only)
FULL = Config(width=64, depth=20, epochs=30, lr=0.01, batch_size=32, seeds=20)
QUICK = Config(width=16, depth=4, epochs=1, lr=0.01, batch_size=64, seeds=3)


def _runs(data, config, scheme, params, base_seed, device):
    widths = [data.x_train.shape[1]] + [config.width] * (config.depth - 1) + [data.classes]
    return [run(widths, scheme, data, seed=derive_seed(base_seed, NAME, i), lr=config.lr,
                epochs=config.epochs, batch_size=config.batch_size, device=device, **params)
            for i in range(config.seeds)]


def _summary_table(final, config):
    rows = []
    for label, values in final.items():
        row = [label]
        for metric in METRICS:
            v = values[metric] * (100 if metric.endswith("acc") else 1)
            ci = stats.t_interval(v)
            row += [ci.estimate, float(np.std(v, ddof=1)), ci.low, ci.high]
        rows.append(row + [int(np.sum(~np.isfinite(values["train_loss"])))])
    columns = [("scheme", r"\text{scheme}")]
    for metric in METRICS:
        name = metric.replace("_", " ") + (" (%)" if metric.endswith("acc") else "")
        columns += [(name, r"\text{" + name.replace("%", r"\%") + "}"), (f"{name} std", "s"),
                    (f"{name} lo", "-"), (f"{name} hi", "+")]
    return report.make_table(
        f"Gurbuzbalaban & Hu Figure 5 analogue: width {config.width}, depth {config.depth}, "
        f"{config.epochs} epochs, {config.seeds} seeds (mean, std, 95% t interval)",
        columns + [("diverged", r"\text{diverged}")], rows)


def _paired_table(final, config):
    rows = []
    for metric in METRICS:
        scale = 100 if metric.endswith("acc") else 1
        tests = [(label, stats.paired(values[metric] * scale, final[BASELINE][metric] * scale))
                 for label, values in final.items() if label != BASELINE]
        adjusted = stats.holm([d.p_value for _, d in tests])
        rows += [(label, metric, d.estimate, d.low, d.high, d.p_value, p)
                 for (label, d), p in zip(tests, adjusted)]
    return report.make_table(
        f"Gurbuzbalaban & Hu: scheme minus Kaiming, paired over {config.seeds} seeds "
        "(accuracies in percentage points; Holm over the four schemes per metric)",
        [("scheme", r"\text{scheme}"), ("metric", r"\text{metric}"), ("difference", r"\Delta"),
         ("lo", "-"), ("hi", "+"), ("p", "p"), ("p Holm", r"p_{\mathrm{Holm}}")], rows)


def _figure(histories, out):
    fig, axes = report.new_figure(2)
    for label, runs in histories.items():
        epochs = runs[0].epochs
        for ax, metric in zip(axes, ("train_loss", "test_acc")):
            curves = [getattr(h, metric) for h in runs if len(h.epochs) == len(epochs)]
            ax.plot(epochs, np.mean(curves, axis=0), label=label)
    axes[0].set(xlabel="epoch", ylabel="train loss (mean over seeds)", yscale="log",
                title="Figure 5 analogue: train loss")
    axes[1].set(xlabel="epoch", ylabel="test accuracy (mean over seeds)",
                title="Figure 5 analogue: test accuracy")
    axes[1].legend(fontsize=8)
    report.save_figure(fig, out, "gh_figure5")


def run_experiment(data, out, *, base_seed=0, device="cpu", config=FULL):
    """Run the experiment, write its tables and figure into ``out``; return the Markdown."""
    histories = {label: _runs(data, config, scheme, params, base_seed, device)
                 for label, (scheme, params) in SCHEMES.items()}
    final = {label: {m: np.array([getattr(h, m)[-1] for h in runs]) for m in METRICS}
             for label, runs in histories.items()}
    _figure(histories, out)
    return "\n".join([report.write_table(_summary_table(final, config), out, "gh_summary"),
                      report.write_table(_paired_table(final, config), out, "gh_vs_kaiming")])

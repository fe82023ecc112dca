r"""Horii & Has (2025), Section IV: final loss, weight variance and :math:`\sigma_0`.

A three-layer ReLU MLP (input, two hidden layers, softmax output), every weight
:math:`N(0, \sigma_0^2)`, plain SGD with batch 100, over a grid of :math:`\sigma_0` with
``seeds`` seeds each, plus He-normal.  Recorded per run: :math:`\bar V(W, t) =
\lVert W\rVert^2/K` over training, the final training loss, the test accuracy.

Estimates (each with a percentile bootstrap over seeds):

* :math:`\sigma_\times`: where the seed-mean ratio :math:`\bar V(W)/\sigma_0^2` first
  crosses 1 from above, linear interpolation of :math:`\log` ratio on
  :math:`\log\sigma_0`;
* :math:`\sigma_{\min}`: the minimiser of the seed-mean final training loss, the vertex
  of the parabola in :math:`\log\sigma_0` through the grid minimum and its neighbours
  (the grid end when the minimum is at an end);
* :math:`\log(\sigma_{\min}/\sigma_\times)` on the same resamples: the two are compatible
  when its interval contains 0.

"Beats He-normal" is tested on ``heldout_seeds`` fresh seeds, so that picking the best
:math:`\sigma_0` on the first seeds does not bias the comparison: the grid value with the
lowest mean loss and the grid value nearest to :math:`\sigma_\times` (log scale) are rerun
against He on the held-out seeds; paired t intervals, Holm over the four tests.
"""
from typing import NamedTuple

import numpy as np

from . import report, stats
from .train import derive_seed, run

__all__ = ["FULL", "QUICK", "Config", "run_experiment"]

NAME = "horii"


class Config(NamedTuple):
    sigmas: tuple
    hidden: tuple
    epochs: int
    lr: float
    batch_size: int
    seeds: int
    heldout_seeds: int
    record_every: int


# lr * steps = 0.01 * 400 * 13 = 52, the paper's 1e-4 * 1000 * 600 = 60 (same SDE time)
FULL = Config(sigmas=(0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0), hidden=(128, 128),
              epochs=400, lr=0.01, batch_size=100, seeds=10, heldout_seeds=10, record_every=10)
QUICK = Config(sigmas=(0.05, 0.15, 0.5), hidden=(16, 16), epochs=2, lr=0.01, batch_size=100,
               seeds=3, heldout_seeds=3, record_every=1)
_FINAL = ("train_loss", "train_acc", "test_loss", "test_acc", "weight_msq")


def _runs(data, config, scheme, seeds, base_seed, device, **params):
    widths = [data.x_train.shape[1], *config.hidden, data.classes]
    return [run(widths, scheme, data, seed=derive_seed(base_seed, NAME, i), lr=config.lr,
                epochs=config.epochs, batch_size=config.batch_size, device=device,
                record_every=config.record_every, **params) for i in seeds]


def _final(histories):
    """metric -> array over seeds of the last recorded value."""
    return {m: np.array([getattr(h, m)[-1] for h in histories]) for m in _FINAL}


def _crossing(log_sigma, ratio):
    """log sigma where the log ratio first falls through 0 (NaN if it never does)."""
    log_ratio = np.log(ratio)
    down = np.flatnonzero((log_ratio[:-1] > 0) & (log_ratio[1:] <= 0))
    if not len(down):
        return float("nan")
    i = down[0]
    return float(np.interp(0.0, log_ratio[[i + 1, i]], log_sigma[[i + 1, i]]))


def _minimiser(log_sigma, loss):
    i = int(np.nanargmin(loss)) if np.isfinite(loss).any() else -1
    if i in (-1, 0, len(loss) - 1):
        return float(log_sigma[i]) if i != -1 else float("nan")
    a, b, _ = np.polyfit(log_sigma[i - 1:i + 2], loss[i - 1:i + 2], 2)
    return float(-b / (2 * a))


def _selection_stats(final, sigmas, base_seed):
    log_sigma = np.log(sigmas)
    ratio = final["weight_msq"] / sigmas[:, None] ** 2
    n = ratio.shape[1]

    def cross(i):
        return _crossing(log_sigma, ratio[:, i].mean(axis=1))

    def minimum(i):
        return _minimiser(log_sigma, final["train_loss"][:, i].mean(axis=1))

    def best_acc(i):
        return float(log_sigma[np.argmax(final["test_acc"][:, i].mean(axis=1))])

    seed = derive_seed(base_seed, NAME, "bootstrap")
    est = {name: stats.bootstrap_interval(n, f, seed=seed) for name, f in (
        ("crossing", cross), ("min_loss", minimum), ("max_test_acc", best_acc),
        ("log_min_over_crossing", lambda i: minimum(i) - cross(i)))}
    return ratio, est


def _per_sigma_table(final, ratio, he, config):
    rows = []
    for j, sigma in enumerate(config.sigmas):
        r, loss, acc = (stats.t_interval(v[j]) for v in (ratio, final["train_loss"],
                                                          final["test_acc"]))
        rows.append((sigma, float(np.mean(final["weight_msq"][j])), r.estimate, r.low, r.high,
                     loss.estimate, loss.low, loss.high, acc.estimate, acc.low, acc.high))
    loss, acc = stats.t_interval(he["train_loss"]), stats.t_interval(he["test_acc"])
    rows.append(("He", float(np.mean(he["weight_msq"])), "", "", "", loss.estimate, loss.low,
                 loss.high, acc.estimate, acc.low, acc.high))
    return report.make_table(
        f"Horii & Has Section IV on {config.seeds} seeds: final values after {config.epochs} "
        f"epochs (mean and 95% t interval over seeds)",
        [("sigma0", r"\sigma_0"), ("Vbar", r"\bar V(W)"), ("Vbar/sigma0^2", r"\bar V/\sigma_0^2"),
         ("ratio lo", "-"), ("ratio hi", "+"), ("train loss", r"L_{\mathrm{train}}"),
         ("train loss lo", "-"), ("train loss hi", "+"),
         ("test acc", r"\mathrm{acc}_{\mathrm{test}}"), ("test acc lo", "-"),
         ("test acc hi", "+")],
        rows)


def _summary_table(est):
    labels = {"crossing": ("sigma0 where Vbar/sigma0^2 = 1", True),
              "min_loss": ("sigma0 of minimum mean train loss", True),
              "max_test_acc": ("sigma0 of maximum mean test accuracy", True),
              "log_min_over_crossing": ("log(sigma_min / sigma_cross)", False)}
    rows = []
    for key, (label, exponentiate) in labels.items():
        e = est[key]
        values = np.exp([e.estimate, e.low, e.high]) if exponentiate else [e.estimate, e.low,
                                                                          e.high]
        rows.append((label, *map(float, values)))
    return report.make_table("Horii & Has: location estimates with 95% bootstrap-over-seeds "
                             "intervals", [("quantity", r"\text{quantity}"),
                                           ("estimate", r"\hat\theta"), ("lo", "-"),
                                           ("hi", "+")], rows)


def _heldout(data, config, est, final, base_seed, device):
    sigmas = np.array(config.sigmas)
    candidates = {"min-loss sigma0": sigmas[np.argmin(final["train_loss"].mean(axis=1))]}
    if np.isfinite(est["crossing"].estimate):
        candidates["crossing sigma0"] = sigmas[np.argmin(np.abs(np.log(sigmas)
                                                              - est["crossing"].estimate))]
    seeds = range(config.seeds, config.seeds + config.heldout_seeds)
    he = _final(_runs(data, config, "kaiming", seeds, base_seed, device))
    tests = []
    for label, sigma in candidates.items():
        runs = _final(_runs(data, config, "normal", seeds, base_seed, device, sigma=float(sigma)))
        tests += [(label, float(sigma), metric, stats.paired(runs[metric], he[metric]))
                  for metric in ("train_loss", "test_acc")]
    adjusted = stats.holm([t[3].p_value for t in tests])
    rows = [(label, sigma, metric, d.estimate, d.low, d.high, d.p_value, p)
            for (label, sigma, metric, d), p in zip(tests, adjusted)]
    return report.make_table(
        f"Horii & Has: sigma0 minus He-normal on {config.heldout_seeds} held-out seeds "
        "(paired t, Holm-adjusted over the rows)",
        [("choice", r"\text{choice}"), ("sigma0", r"\sigma_0"), ("metric", r"\text{metric}"),
         ("difference", r"\Delta"), ("lo", "-"), ("hi", "+"), ("p", "p"),
         ("p Holm", r"p_{\mathrm{Holm}}")], rows)


def _figures(histories, he_histories, final, ratio, he, est, config, out):
    import matplotlib
    colors = matplotlib.colormaps["viridis"](np.linspace(0, 1, len(config.sigmas)))
    fig, (ax2, ax5) = report.new_figure(2)
    for sigma, runs, c in zip(config.sigmas, histories, colors):
        epochs = runs[0].epochs
        ax2.plot(epochs, np.mean([h.weight_msq for h in runs], axis=0), color=c,
                 label=f"σ0={sigma:g}")
        ax2.axhline(sigma ** 2, color=c, ls=":", lw=0.8)
        ax5.plot(epochs, np.mean([h.test_acc for h in runs], axis=0), color=c,
                 label=f"σ0={sigma:g}")
    ax5.plot(he_histories[0].epochs, np.mean([h.test_acc for h in he_histories], axis=0),
             "k--", label="He normal")
    ax2.set(yscale="log", xlabel="epoch", ylabel="V̄(W, t) (dotted: σ0²)",
            title="Fig. 2 analogue: weight variance")
    ax5.set(xlabel="epoch", ylabel="test accuracy", title="Fig. 5 analogue: test accuracy",
            ylim=(max(0.0, float(np.min(final["test_acc"])) - 0.05), 1.0))
    ax5.legend(fontsize=7, ncol=2)
    report.save_figure(fig, out, "horii_fig2_fig5")
    fig, (ax3, ax4) = report.new_figure(2)
    mean_ratio = ratio.mean(axis=1)
    points = ax3.scatter(final["weight_msq"].mean(axis=1), final["train_loss"].mean(axis=1),
                         c=np.log10(mean_ratio), cmap="coolwarm")
    ax3.plot(np.mean(he["weight_msq"]), np.mean(he["train_loss"]), "k*", ms=12, label="He")
    ax3.set(xscale="log", yscale="log", xlabel="V̄(W) final", ylabel="final train loss",
            title="Fig. 3 analogue")
    ax3.legend()
    fig.colorbar(points, ax=ax3, label="log10 V̄/σ0²")
    half = [stats.t_interval(r) for r in ratio]
    ax4.errorbar(config.sigmas, mean_ratio, yerr=[[m - c.low for m, c in zip(mean_ratio, half)],
                                                  [c.high - m for m, c in zip(mean_ratio, half)]],
                 fmt="o-", capsize=3)
    ax4.axhline(1.0, color="k", lw=0.8)
    if np.isfinite(est["crossing"].low):
        ax4.axvspan(np.exp(est["crossing"].low), np.exp(est["crossing"].high), alpha=0.2,
                    label="σ× 95% bootstrap CI")
        ax4.legend()
    ax4.set(xscale="log", yscale="log", xlabel="σ0", ylabel="V̄(W)/σ0²",
            title="Fig. 4 analogue")
    report.save_figure(fig, out, "horii_fig3_fig4")


def run_experiment(data, out, *, base_seed=0, device="cpu", config=FULL):
    """Run the experiment, write its tables and figures into ``out``; return the Markdown."""
    selection = range(config.seeds)
    histories = [_runs(data, config, "normal", selection, base_seed, device, sigma=s)
                 for s in config.sigmas]
    he_histories = _runs(data, config, "kaiming", selection, base_seed, device)
    per_sigma = [_final(h) for h in histories]
    final = {m: np.array([f[m] for f in per_sigma]) for m in _FINAL}
    he = _final(he_histories)
    ratio, est = _selection_stats(final, np.array(config.sigmas), base_seed)
    _figures(histories, he_histories, final, ratio, he, est, config, out)
    diverged = sum(h.diverged for runs in histories + [he_histories] for h in runs)
    return "\n".join([
        report.write_table(_per_sigma_table(final, ratio, he, config), out, "horii_per_sigma"),
        report.write_table(_summary_table(est), out, "horii_summary"),
        report.write_table(_heldout(data, config, est, final, base_seed, device), out,
                           "horii_vs_he"),
        f"Diverged runs: {diverged}.\n"])

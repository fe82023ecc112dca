r"""Skorski (2020): does the Hessian-norm initialization allow a larger constant step?

For each network (the Horii three-layer MLP and the Gurbuzbalaban-Hu depth-20 MLP), each
scheme (Hessian-norm :math:`E\lVert D_0 W\rVert_2 = 1`, Glorot, Kaiming) and each seed:

* the sharpness at initialization :math:`\lambda_{\max}(H)`, H the Hessian of the mean
  cross-entropy over the whole training set with respect to *all* parameters, by
  ``scipy.sparse.linalg.eigsh`` (largest algebraic eigenvalue) on Hessian-vector
  products; and, with the library's per-layer tool
  :func:`initmath.nn.layer_hessian_norm`, :math:`\max_k \lVert H_{w^{(k)}}\rVert_2`
  over the weight blocks (a lower bound of :math:`\lVert H\rVert_2`);
* the largest stable constant learning rate :math:`\eta^*`: on the geometric grid
  :math:`\eta_j = \eta_0 2^{j/2}`, the largest :math:`\eta_j` for which plain SGD (the
  seed's minibatch order, batch ``batch_size``, ``epochs`` epochs) never produces a
  non-finite minibatch loss and ends with a whole-training-set loss strictly below the
  loss at initialization.  The grid is scanned downwards and the first stable value is
  taken.  If the top of the grid is stable, :math:`\eta^*` is censored (reported as the
  grid top and counted); if no value is stable, it is NaN.

Quadratic theory says gradient descent on a quadratic is stable iff
:math:`\eta < 2/\lambda_{\max}`, so the table reports :math:`\eta^*\lambda_{\max}/2`.
Schemes are compared by the paired difference of :math:`\log_2\eta^*` over seeds, Holm over
all comparisons.
"""
from typing import NamedTuple

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator, eigsh
from torch import nn

from initmath.nn import layer_hessian_norm

from . import report, stats
from .train import derive_seed, initialized_mlp, run

__all__ = [
    "FULL",
    "QUICK",
    "SCHEMES",
    "Config",
    "largest_stable_lr",
    "run_experiment",
    "sharpness",
]

NAME = "skorski"
SCHEMES = {"Hessian-norm": "hessian", "Glorot": "xavier", "Kaiming": "kaiming"}
_EIGSH_TOL = 1e-4


class Config(NamedTuple):
    networks: dict          # label -> hidden widths
    seeds: int
    lr_min: float
    lr_count: int
    epochs: int
    batch_size: int


FULL = Config(networks={"3-layer 128-128": (128, 128), "depth 20, width 64": (64,) * 19},
              seeds=5, lr_min=1e-3, lr_count=30, epochs=8, batch_size=100)
QUICK = Config(networks={"3-layer 16-16": (16, 16)}, seeds=2, lr_min=0.1, lr_count=6,
               epochs=1, batch_size=100)


def lr_grid(config):
    """The geometric grid eta_0 2^(j/2), j = 0 .. lr_count - 1."""
    return config.lr_min * 2.0 ** (np.arange(config.lr_count) / 2)


def sharpness(model, x, y, *, seed):
    r"""Largest eigenvalue of the Hessian of the mean cross-entropy over all parameters.

    ``eigsh`` (implicitly restarted Lanczos, ARPACK) on Hessian-vector products in the
    model's dtype, start vector seeded by ``seed``, relative tolerance 1e-4.

    Examples
    --------
    A linear softmax model at zero weights: the Hessian block is
    :math:`(\mathrm{diag}(p) - pp^T) \otimes x x^T` with p uniform over 2 classes, so for
    one input x = (1, 0) and no bias it is 1/4 on two entries, -1/4 off-diagonal: 1/2.

    >>> lin = nn.Linear(2, 2, bias=False)
    >>> _ = nn.init.zeros_(lin.weight)
    >>> round(sharpness(lin, torch.tensor([[1., 0.]]), torch.tensor([0]), seed=0), 6)
    0.5
    """
    params = [p for p in model.parameters() if p.requires_grad]
    loss = nn.functional.cross_entropy(model(x), y)
    grads = torch.autograd.grad(loss, params, create_graph=True)
    flat_grad = torch.cat([g.reshape(-1) for g in grads])
    n = flat_grad.numel()
    dtype = flat_grad.dtype

    def hvp(v):
        v = torch.as_tensor(np.ravel(v), dtype=dtype, device=flat_grad.device)
        out = torch.autograd.grad(flat_grad, params, v, retain_graph=True)
        return torch.cat([o.reshape(-1) for o in out]).double().cpu().numpy()

    start = np.random.default_rng(seed).standard_normal(n)
    value = eigsh(LinearOperator((n, n), matvec=hvp, dtype=np.float64), k=1, which="LA",
                  v0=start, tol=_EIGSH_TOL, return_eigenvectors=False)
    return float(value[0])


def _max_layer_norm(model, x, y, seed):
    generator = torch.Generator().manual_seed(seed)
    return max(layer_hessian_norm(model, nn.functional.cross_entropy, (x, y), layer,
                                  tol=1e-4, generator=generator).norm
               for layer in model.modules() if isinstance(layer, nn.Linear))


def largest_stable_lr(train_at, grid):
    """(largest stable lr of the grid or NaN, censored) scanning the grid downwards.

    ``train_at(lr)`` returns a :class:`experiments.train.History`.
    """
    for j in range(len(grid) - 1, -1, -1):
        h = train_at(float(grid[j]))
        if not h.diverged and np.isfinite(h.train_loss[-1]) and h.train_loss[-1] < h.train_loss[0]:
            return float(grid[j]), j == len(grid) - 1
    return float("nan"), False


def _one_seed(data, widths, scheme, seed, config, device):
    x, y = (torch.as_tensor(a) for a in (data.x_train, data.y_train))
    model = initialized_mlp(widths, scheme, seed=seed)
    full = sharpness(model, x, y, seed=derive_seed(seed, "eigsh"))
    layer = _max_layer_norm(model, x, y, derive_seed(seed, "lanczos"))
    eta, censored = largest_stable_lr(
        lambda lr: run(widths, scheme, data, seed=seed, lr=lr, epochs=config.epochs,
                       batch_size=config.batch_size, device=device,
                       record_every=config.epochs), lr_grid(config))
    return full, layer, eta, censored


def _results(data, config, base_seed, device):
    """(network, scheme) -> arrays over seeds of (lambda_max, max layer norm, eta*, censored)."""
    results = {}
    for net, hidden in config.networks.items():
        widths = [data.x_train.shape[1], *hidden, data.classes]
        for label, scheme in SCHEMES.items():
            rows = [_one_seed(data, widths, scheme, derive_seed(base_seed, NAME, i), config,
                              device) for i in range(config.seeds)]
            results[net, label] = [np.array(c) for c in zip(*rows)]
    return results


def _summary_table(results, config):
    rows = []
    for (net, label), (lam, layer, eta, censored) in results.items():
        log_eta = stats.t_interval(np.log2(eta))
        edge = stats.t_interval(eta * lam / 2)
        rows.append((net, label, stats.t_interval(lam).estimate, float(np.mean(layer)),
                     float(np.exp(np.mean(np.log(2 / lam)))), 2 ** log_eta.estimate,
                     2 ** log_eta.low, 2 ** log_eta.high, edge.estimate, edge.low, edge.high,
                     int(censored.sum()), int(np.isnan(eta).sum())))
    return report.make_table(
        f"Skorski: sharpness at initialization and largest stable constant learning rate "
        f"({config.seeds} seeds; eta* geometric mean with 95% t interval on log2 eta*)",
        [("network", r"\text{network}"), ("scheme", r"\text{scheme}"),
         ("lambda_max(H)", r"\lambda_{\max}(H)"), ("max_k ||H_k||", r"\max_k\|H_k\|"),
         ("2/lambda_max", r"2/\lambda_{\max}"), ("eta*", r"\eta^*"), ("eta* lo", "-"),
         ("eta* hi", "+"), ("eta* lambda_max / 2", r"\eta^*\lambda_{\max}/2"),
         ("edge lo", "-"), ("edge hi", "+"),
         ("censored", r"\text{censored}"), ("none stable", r"\text{none}")], rows)


def _paired_table(results, config):
    tests = []
    for net in config.networks:
        eta_h = np.log2(results[net, "Hessian-norm"][2])
        tests += [(net, other, stats.paired(eta_h, np.log2(results[net, other][2])))
                  for other in ("Glorot", "Kaiming")]
    adjusted = stats.holm([d.p_value for *_, d in tests])
    rows = [(net, f"Hessian-norm - {other}", d.estimate, d.low, d.high, d.p_value, p)
            for (net, other, d), p in zip(tests, adjusted)]
    return report.make_table(
        "Skorski: paired difference of log2 eta* over seeds (Holm over the rows)",
        [("network", r"\text{network}"), ("comparison", r"\text{comparison}"),
         ("difference", r"\Delta\log_2\eta^*"), ("lo", "-"), ("hi", "+"), ("p", "p"),
         ("p Holm", r"p_{\mathrm{Holm}}")], rows)


def _figure(results, out):
    fig, (ax,) = report.new_figure(1)
    for (net, label), (lam, _, eta, _) in results.items():
        ax.scatter(2 / lam, eta, label=f"{net}: {label}", marker="os"[net.startswith("depth")])
    values = np.concatenate([np.r_[2 / lam, eta] for lam, _, eta, _ in results.values()])
    values = values[np.isfinite(values) & (values > 0)]
    line = np.geomspace(values.min(), values.max(), 10)
    ax.plot(line, line, "k--", lw=0.8, label="η* = 2/λmax")
    ax.set(xscale="log", yscale="log", xlabel="2 / λmax(H) at initialization",
           ylabel="largest stable lr η*", title="Skorski: stability edge vs sharpness")
    ax.legend(fontsize=6)
    report.save_figure(fig, out, "skorski_lr")


def run_experiment(data, out, *, base_seed=0, device="cpu", config=FULL):
    """Run the experiment, write its tables and figure into ``out``; return the Markdown."""
    results = _results(data, config, base_seed, device)
    _figure(results, out)
    return "\n".join([report.write_table(_summary_table(results, config), out, "skorski_summary"),
                      report.write_table(_paired_table(results, config), out, "skorski_paired")])

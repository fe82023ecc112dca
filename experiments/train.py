r"""The one training loop of the experiments: an MLP, an initialization scheme, plain SGD.

Determinism: a run is fixed by its seed.  :func:`derive_seed` turns (base seed, labels)
into independent 64-bit seeds; a run uses one seed for the initial weights and one for the
minibatch order, and the experiments give every scheme of one seed index the *same* two
seeds, so schemes are compared on the same data order and the same standard normal draws
(common random numbers: the paired differences are then free of that noise).  Weights are
drawn on the CPU and the model is moved to the device afterwards, so the initial weights do
not depend on the device; the minibatch permutations are drawn on the CPU as well.

Initialization schemes (:data:`SCHEMES`; every bias is set to zero):

``normal``        :math:`N(0, \sigma_0^2)` for every weight (parameter ``sigma``), Horii & Has.
``kaiming``       He normal, :math:`\sqrt{2/\mathrm{fan\_in}}`
                  (:func:`initmath.nn.init_model_`, equal to ``kaiming_normal_``).
``xavier``        Glorot normal, :math:`\sqrt{2/(\mathrm{fan\_in}+\mathrm{fan\_out})}`.
``fractional-moment``  Gurbuzbalaban & Hu's exact :math:`\bar\sigma_0(s, d)` (parameter
                  ``s``; per-neuron convention, so a square ``d x d`` layer gets exactly
                  ``initmath.critical_sigma(s, d)``).
``two-term``      The paper's approximation :math:`\sigma^2 = 2/d + 3/d^2`, d = fan_in.
``random-walk``   Sussillo & Abbott (2014) for ReLU:
                  :math:`\sigma = g/\sqrt{d}`,
                  :math:`g = \sqrt 2\, e^{1.2/(\max(d, 6) - 2.4)}`, d = fan_in.
``hessian``       Skorski's spectral-norm scale with the ReLU mask,
                  :math:`E\lVert D_0 W\rVert_2 = 1` (:func:`initmath.nn.hessian_normal_`).
"""
import itertools
import math
import zlib
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from initmath import _validate
from initmath.nn import init_model_

__all__ = [
    "ACTIVATIONS",
    "SCHEMES",
    "History",
    "build_mlp",
    "derive_seed",
    "evaluate",
    "initialize_",
    "initialized_mlp",
    "run",
    "train",
    "weight_mean_square",
]

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "linear": nn.Identity}
# scheme -> the parameters it takes
SCHEMES = {"normal": ("sigma",), "kaiming": (), "xavier": (), "fractional-moment": ("s",),
           "two-term": (), "random-walk": (), "hessian": ()}
_EVAL_CHUNK = 8192          # rows per forward pass when evaluating a whole split


class History(NamedTuple):
    r"""Metrics of one run at the recorded epochs (epoch 0 is the initialization).

    ``weight_msq`` is Horii & Has's averaged weight variance
    :math:`\bar V(W, t) = \lVert W\rVert^2 / K` over the K weight entries (biases
    excluded).  ``diverged`` is True when a minibatch loss became non-finite; training
    stops there and the last row holds the metrics at that point (non-finite).
    """
    epochs: np.ndarray
    train_loss: np.ndarray
    train_acc: np.ndarray
    test_loss: np.ndarray
    test_acc: np.ndarray
    weight_msq: np.ndarray
    diverged: bool


def derive_seed(base, *labels):
    """A 63-bit seed determined by a base seed and labels (strings or ints).

    Examples
    --------
    >>> derive_seed(0, "horii", 3) == derive_seed(0, "horii", 3) != derive_seed(0, "horii", 4)
    True
    """
    words = [int(base)] + [zlib.crc32(str(label).encode()) for label in labels]
    return int(np.random.SeedSequence(words).generate_state(1, np.uint64)[0] >> np.uint64(1))


def build_mlp(widths, activation="relu"):
    """``nn.Sequential`` of ``Linear(widths[i], widths[i+1])`` with the activation between
    consecutive layers (none after the last: it outputs logits).

    Raises
    ------
    ValueError
        If fewer than two widths are given, a width is not a positive integer, or the
        activation is unknown.

    Examples
    --------
    >>> net = build_mlp([64, 32, 10])
    >>> [type(m).__name__ for m in net]
    ['Linear', 'ReLU', 'Linear']
    """
    widths = [int(w) for w in np.atleast_1d(_validate.positive_integer(widths, "widths"))]
    if len(widths) < 2:
        raise ValueError(f"widths must list at least an input and an output width, got {widths}")
    act = ACTIVATIONS[_validate.choice(activation, "activation", tuple(ACTIVATIONS))]
    layers = []
    for fan_in, fan_out in itertools.pairwise(widths):
        layers += [nn.Linear(fan_in, fan_out), act()]
    return nn.Sequential(*layers[:-1])


def _linears(model):
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


def _random_walk_std(fan_in):
    return math.sqrt(2.0) * math.exp(1.2 / (max(fan_in, 6) - 2.4)) / math.sqrt(fan_in)


def _two_term_std(fan_in):
    return math.sqrt(2.0 / fan_in + 3.0 / fan_in ** 2)


# schemes that are one std per layer from the fan-in, filled with torch.nn.init.normal_
_FAN_IN_STDS = {"random-walk": _random_walk_std, "two-term": _two_term_std}
# schemes handed to initmath.nn.init_model_ (its scheme name, fixed parameters). The
# papers' schemes use the ReLU scale on every layer, whatever follows it (the output layer,
# tanh in the comparison networks), so the slope is an explicit override of what
# init_model_ would read from the model.
_INITMATH = {"kaiming": ("kaiming", {"override_a": 0.0}), "xavier": ("xavier", {}),
             "fractional-moment": ("fractional-moment", {"override_a": 0.0}),
             "hessian": ("hessian", {"override_a": 0.0})}


def initialize_(model, scheme, generator, **params):
    """Initialize every ``nn.Linear`` of ``model`` in place (biases zero); return the stds.

    Parameters
    ----------
    model : nn.Module
        On the CPU (the generator is a CPU generator).
    scheme : str
        One of :data:`SCHEMES` (module docstring).
    generator : torch.Generator
    **params
        ``sigma`` for ``normal``, ``s`` for ``fractional-moment``.

    Returns
    -------
    list of float
        The standard deviation of each layer's weights.

    Raises
    ------
    ValueError
        For an unknown scheme or parameter, or a value the scheme rejects.

    Examples
    --------
    >>> import torch
    >>> net = build_mlp([64, 64, 64, 10])
    >>> stds = initialize_(net, "two-term", torch.Generator().manual_seed(0))
    >>> math.isclose(stds[0] ** 2, 2 / 64 + 3 / 64 ** 2)
    True
    """
    _validate.choice(scheme, "scheme", tuple(SCHEMES))
    if set(params) != set(SCHEMES[scheme]):
        raise ValueError(f"scheme {scheme!r} takes exactly the parameters "
                         f"{list(SCHEMES[scheme])}, got {sorted(params)}")
    if scheme in _INITMATH:
        name, fixed = _INITMATH[scheme]
        return [r.std for r in init_model_(model, name, generator=generator, **fixed, **params)]
    if scheme == "normal":
        sigma = float(_validate.real(params["sigma"], "sigma", 0, None, low_open=True))
        stds = [sigma] * len(_linears(model))
    else:
        stds = [_FAN_IN_STDS[scheme](m.in_features) for m in _linears(model)]
    with torch.no_grad():
        for layer, std in zip(_linears(model), stds):
            nn.init.normal_(layer.weight, 0.0, std, generator=generator)
            nn.init.zeros_(layer.bias)
    return stds


def weight_mean_square(model):
    r""":math:`\lVert W\rVert^2 / K` over all ``nn.Linear`` weights of the model."""
    weights = [m.weight.detach() for m in _linears(model)]
    return float(sum(w.double().square().sum() for w in weights)
                 / sum(w.numel() for w in weights))


def evaluate(model, x, y):
    """(mean cross-entropy, accuracy) of the model on all of (x, y), in float64."""
    loss, correct = 0.0, 0
    with torch.no_grad():
        for xb, yb in zip(torch.split(x, _EVAL_CHUNK), torch.split(y, _EVAL_CHUNK)):
            logits = model(xb)
            loss += float(nn.functional.cross_entropy(logits, yb, reduction="sum"))
            correct += int((logits.argmax(dim=1) == yb).sum())
    return loss / len(y), correct / len(y)


def _tensors(data, device):
    return [torch.as_tensor(a, device=device) for a in
            (data.x_train, data.y_train, data.x_test, data.y_test)]


def _checked_positive(value, name):
    return int(_validate.positive_integer(value, name))


def train(model, data, *, lr, epochs, batch_size, seed, device="cpu", record_every=1):
    r"""Train ``model`` on ``data`` with plain minibatch SGD; return its :class:`History`.

    Each epoch draws a permutation of the training set from a CPU generator seeded with
    ``seed`` and steps through it in minibatches of ``batch_size`` (the last one may be
    smaller), :math:`w \leftarrow w - \eta\, \nabla \frac1b \sum_{i\in B}
    \mathrm{CE}(f_w(x_i), y_i)`: no momentum, no weight decay.  Metrics are computed on
    the whole train and test sets at epoch 0, every ``record_every`` epochs, and at the
    last epoch.

    Parameters
    ----------
    model : nn.Module
        Already initialized; it is moved to ``device`` and trained in place.
    data : experiments.data.Dataset
    lr : float
        Learning rate, > 0.
    epochs, batch_size, record_every : int
        Positive integers.
    seed : int
        Seed of the minibatch order.
    device : str or torch.device

    Returns
    -------
    History

    Raises
    ------
    ValueError
        For a non-positive learning rate, epoch count, batch size or record interval.

    Examples
    --------
    >>> import torch
    >>> from experiments.data import load_digits
    >>> data = load_digits()
    >>> net = build_mlp([64, 32, 10])
    >>> _ = initialize_(net, "kaiming", torch.Generator().manual_seed(0))
    >>> h = train(net, data, lr=0.1, epochs=3, batch_size=100, seed=0)
    >>> h.epochs.tolist(), bool(h.train_loss[-1] < h.train_loss[0])
    ([0, 1, 2, 3], True)
    """
    lr = float(_validate.real(lr, "lr", 0, None, low_open=True))
    epochs, batch_size, record_every = (_checked_positive(v, n) for v, n in (
        (epochs, "epochs"), (batch_size, "batch_size"), (record_every, "record_every")))
    model.to(device)
    x_train, y_train, x_test, y_test = _tensors(data, device)
    order = torch.Generator().manual_seed(int(seed))
    rows, diverged = [], False

    def record(epoch):
        rows.append((epoch, *evaluate(model, x_train, y_train), *evaluate(model, x_test, y_test),
                     weight_mean_square(model)))

    record(0)
    for epoch in range(1, epochs + 1):
        for batch in torch.randperm(len(y_train), generator=order).to(device).split(batch_size):
            loss = nn.functional.cross_entropy(model(x_train[batch]), y_train[batch])
            if not torch.isfinite(loss):
                diverged = True
                break
            model.zero_grad(set_to_none=True)
            loss.backward()
            with torch.no_grad():
                for p in model.parameters():
                    p.add_(p.grad, alpha=-lr)
        if diverged or epoch % record_every == 0 or epoch == epochs:
            record(epoch)
        if diverged:
            break
    columns = [np.array(c) for c in zip(*rows)]
    return History(columns[0].astype(int), *columns[1:], diverged)


def initialized_mlp(widths, scheme, *, seed, activation="relu", **params):
    """The MLP of :func:`run` at initialization (on the CPU): same seed, same weights."""
    model = build_mlp(widths, activation)
    initialize_(model, scheme, torch.Generator().manual_seed(derive_seed(seed, "init")), **params)
    return model


def run(widths, scheme, data, *, seed, lr, epochs, batch_size, device="cpu", record_every=1,
        activation="relu", **params):
    """Build, initialize (seeded by ``seed``) and train one MLP; return its History.

    The initial weights and the minibatch order come from two seeds derived from ``seed``,
    so runs of different schemes with the same ``seed`` are paired (module docstring).

    Examples
    --------
    >>> from experiments.data import load_digits
    >>> data = load_digits()
    >>> a = run([64, 16, 10], "normal", data, seed=1, lr=0.1, epochs=1, batch_size=50, sigma=0.1)
    >>> b = run([64, 16, 10], "normal", data, seed=1, lr=0.1, epochs=1, batch_size=50, sigma=0.1)
    >>> bool((a.train_loss == b.train_loss).all())                 # deterministic
    True
    """
    model = initialized_mlp(widths, scheme, seed=seed, activation=activation, **params)
    history = train(model, data, lr=lr, epochs=epochs, batch_size=batch_size,
                    seed=derive_seed(seed, "order"), device=device, record_every=record_every)
    if on_run is not None:
        on_run(scheme)
    return history


# Called with the scheme after every training run of :func:`run` (``python -m experiments``
# sets it to print progress lines on stderr); None: silent.
on_run = None

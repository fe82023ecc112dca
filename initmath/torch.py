r"""The torch namespace of initmath: ``torch.nn.init``-style initializers and torch tools.

``import initmath`` does not import torch; ``import initmath.torch`` does.  Inside this
module ``import torch`` is an absolute import of PyTorch, not of this file.

Initializers (fill in place under ``torch.no_grad()``, return the tensor, like
``torch.nn.init``):

fractional_moment_normal_
    :math:`N(0, \sigma^2)` with the fractional-moment critical scale of Gurbuzbalaban & Hu
    (2021), which preserves :math:`E\lVert x\rVert^s` through (leaky) ReLU layers
    (:func:`initmath.critical_sigmas`).
hessian_normal_
    :math:`N(0, \sigma^2)` with Skorski's (2020) spectral-norm scale, :math:`E\lVert
    D_a W\rVert_2 = 1` (:func:`initmath.hessian_sigma`).
init_model_
    Walk the ``nn.Linear`` / ``nn.Conv1d/2d/3d`` layers of a model, fill the weights, zero
    the biases and return what was done.

The scales themselves are :func:`fractional_moment_std` and :func:`hessian_std` (floats,
no sampling).  Fans are torch's own (``torch.nn.init._calculate_fan_in_and_fan_out``): a
weight of shape ``[out, in, *receptive]`` has ``fan_in = in * prod(receptive)`` and
``fan_out = out * prod(receptive)``.

Conv layers (an approximation): the theory is for dense Gaussian layers.  The receptive-
field fan treats one conv output unit as a dense unit over its receptive field: at one
position the ``out`` pre-activations, given the input patch ``p``, are iid
:math:`N(0, \sigma^2\lVert p\rVert^2)`, exactly as for a dense layer with ``fan_in``
inputs, so the moment of one output channel's pre-activation at one position is exact.
The s-th moment of the whole feature map's norm is not: units at different positions
share weights and see overlapping patches, so they are not the iid outputs of a dense
``fan_in -> fan_out`` layer that the formula assumes (at s = 2, by linearity of the second
moment, the formula is exact for stride 1 and circular padding).

Torch tools re-exported from :mod:`initmath.torch_tools` (see there):
:func:`jacobian_spectral_norm`, :func:`layer_hessian_norm`,
:func:`factorized_hessian_form`, :func:`hessian_calibrate_`, :class:`SpectralEstimate`.
"""
import math
import warnings
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from . import _validate
from ._spectral_norm import EXACT_MAX_MIN_WIDTH
from .critical_variance import S_MAX, critical_sigmas
from .hessian import METHODS as _HESSIAN_SIGMA_METHODS
from .hessian import glorot_sigma, hessian_sigma
from .torch_tools import (SpectralEstimate, factorized_hessian_form, hessian_calibrate_,
                          jacobian_spectral_norm, layer_hessian_norm, layer_maps)

__all__ = ["fractional_moment_std", "fractional_moment_normal_", "hessian_std",
           "hessian_normal_", "init_model_", "InitRecord", "SpectralEstimate",
           "jacobian_spectral_norm", "layer_hessian_norm", "factorized_hessian_form",
           "hessian_calibrate_", "layer_maps"]

MODES = ("fan_in", "fan_out")
# mode -> initmath.critical_sigmas convention (docs/critical-variance.md, section 6)
_CONVENTION = {"fan_in": "per-neuron", "fan_out": "norm"}
HESSIAN_METHODS = ("auto",) + _HESSIAN_SIGMA_METHODS
# "auto" takes the exact law only where one new shape costs at most ~0.7 s: the ReLU law
# mixes one exact Wishart value per likely number of active rows, so its cost grows with
# fan_out (21 s at 128 x 128), while Tracy-Widom is already within 0.1% of it there.
_AUTO_EXACT_RELU_MAX_FAN_OUT = 64
SCHEMES = ("fractional-moment", "hessian", "kaiming", "xavier")
LAYER_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


class InitRecord(NamedTuple):
    """What :func:`init_model_` did to one layer.

    Attributes
    ----------
    name : str
        The module's name in ``model.named_modules()``.
    shape : tuple of int
        The weight's shape.
    std : float
        The standard deviation its weights were drawn with.
    """
    name: str
    shape: tuple
    std: float


# --------------------------------------------------------------------------- arguments
def _real_scalar(value, name, low, high, **open_ends):
    if np.ndim(value) != 0:
        raise ValueError(f"{name} must be a scalar, got {value!r}")
    return float(_validate.real(value, name, low, high, **open_ends))


def _shape(tensor_or_shape):
    if isinstance(tensor_or_shape, torch.Tensor):
        return tuple(tensor_or_shape.shape)
    try:
        shape = tuple(tensor_or_shape)
    except TypeError:
        raise ValueError(f"expected a tensor or a shape (sequence of ints), got "
                         f"{tensor_or_shape!r}") from None
    if not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 0
               for n in shape):
        raise ValueError(f"a shape must be a sequence of integers >= 0, got {tensor_or_shape!r}")
    return tuple(int(n) for n in shape)


def _fans(tensor_or_shape):
    """(fan_in, fan_out) exactly as torch.nn.init computes them (on a meta tensor: free)."""
    shape = _shape(tensor_or_shape)
    fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(torch.empty(shape, device="meta"))
    if fan_in < 1 or fan_out < 1:
        raise ValueError(f"shape {shape} has a zero-sized dimension (fan_in = {fan_in}, "
                         f"fan_out = {fan_out}); no scale exists")
    return fan_in, fan_out


def _fractional_args(s, a, mode):
    return (_real_scalar(s, "s", 0, S_MAX, low_open=True), _real_scalar(a, "a", 0, 1),
            _validate.choice(mode, "mode", MODES))


def _hessian_args(a, method):
    return (None if a is None else _real_scalar(a, "a", 0, 1),
            _validate.choice(method, "method", HESSIAN_METHODS))


def _is_empty(tensor):
    if not isinstance(tensor, torch.Tensor):
        raise ValueError(f"tensor must be a torch.Tensor, got {type(tensor).__name__}")
    if tensor.numel() == 0:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=3)
        return True
    return False


def _fill(tensor, std, generator):
    with torch.no_grad():
        return tensor.normal_(0.0, std, generator=generator)


# --------------------------------------------------------------------------- fractional moment
def fractional_moment_std(tensor_or_shape, s=1.0, a=0.0, mode="fan_in"):
    r"""Fractional-moment critical standard deviation for a weight of the given shape.

    A layer :math:`x \mapsto \phi_a(W x)`, :math:`W` of shape ``[fan_out, fan_in]`` with
    iid :math:`N(0, \sigma^2)` entries, multiplies :math:`E\lVert x\rVert^s` by
    :math:`\sigma^s I_a(s, \mathrm{fan\_out})` (:func:`initmath.moment_factor`): the
    moment factor always depends on the fan-out.  ``mode`` says which moment is kept:

    * ``"fan_out"``: the norm, :math:`E\lVert x_{k+1}\rVert^s = E\lVert x_k\rVert^s`,

      .. math:: \sigma = I_a(s, \mathrm{fan\_out})^{-1/s}

      (the paper's convention, ``critical_sigmas(..., convention="norm")``);
    * ``"fan_in"`` (default): the typical unit,
      :math:`E[(\lVert x_{k+1}\rVert/\sqrt{\mathrm{fan\_out}})^s] =
      E[(\lVert x_k\rVert/\sqrt{\mathrm{fan\_in}})^s]`,

      .. math:: \sigma = \sqrt{\mathrm{fan\_out}/\mathrm{fan\_in}}\;
                I_a(s, \mathrm{fan\_out})^{-1/s}

      (``convention="per-neuron"``).

    At s = 2, :math:`I_a(2, d) = d(1+a^2)/2`, so ``mode`` gives
    :math:`\sqrt{2/((1+a^2)\,\mathrm{fan})}` with fan = fan_in or fan_out: exactly
    ``torch.nn.init.kaiming_normal_(tensor, a, mode)``.  For a square layer the two modes
    coincide.

    Parameters
    ----------
    tensor_or_shape : torch.Tensor or sequence of int
        A weight (or its shape) with at least 2 dimensions, ``[out, in, *receptive]``; fans
        as torch computes them (see the module docstring, also for the conv approximation).
    s : float, default 1
        Order of the preserved moment, 0 < s <= 1000.
    a : float, default 0
        Negative-side slope of the activation, 0 <= a <= 1 (0: ReLU, 1: linear).
    mode : {"fan_in", "fan_out"}
        Which moment is preserved (above).

    Returns
    -------
    float

    Raises
    ------
    ValueError
        If the tensor has fewer than 2 dimensions or a zero-sized one, s is outside
        (0, 1000], a is outside [0, 1], or mode is unknown.

    Notes
    -----
    Conv weights use the receptive-field fans: exact for the moment of one output channel's
    pre-activation at one position, an approximation for the whole feature map's norm at
    s != 2 (module docstring).

    References
    ----------
    .. [1] M. Gurbuzbalaban and Y. Hu, "Fractional moment-preserving initialization
       schemes for training deep neural networks", AISTATS 2021, Theorem 1, Remark 3.

    Examples
    --------
    >>> import math
    >>> from initmath.torch import fractional_moment_std
    >>> math.isclose(fractional_moment_std((256, 128), s=2.0), math.sqrt(2 / 128),
    ...              rel_tol=1e-13)                          # Kaiming, fan_in
    True
    >>> math.isclose(fractional_moment_std((256, 128), s=2.0, mode="fan_out"),
    ...              math.sqrt(2 / 256), rel_tol=1e-13)      # Kaiming, fan_out
    True
    >>> fractional_moment_std((64, 64), s=1.0) > fractional_moment_std((64, 64), s=2.0)
    True
    """
    s, a, mode = _fractional_args(s, a, mode)
    fan_in, fan_out = _fans(tensor_or_shape)
    return float(critical_sigmas(s, [fan_in, fan_out], a, convention=_CONVENTION[mode])[0])


def fractional_moment_normal_(tensor, s=1.0, a=0.0, mode="fan_in", generator=None):
    r"""Fill ``tensor`` in place with :math:`N(0, \sigma^2)`,
    :math:`\sigma` = :func:`fractional_moment_std` ``(tensor, s, a, mode)``.

    Like ``torch.nn.init.kaiming_normal_``, which it equals at s = 2: runs under
    ``torch.no_grad()`` (a leaf that requires grad stays a leaf), draws with
    ``tensor.normal_(0, std, generator=generator)``, warns and does nothing for a
    zero-element tensor, and returns the tensor.

    Parameters
    ----------
    tensor : torch.Tensor
        Floating point, at least 2 dimensions, ``[out, in, *receptive]``.
    s, a, mode
        As in :func:`fractional_moment_std`.
    generator : torch.Generator, optional
        Source of the random numbers (on the tensor's device).

    Returns
    -------
    torch.Tensor
        ``tensor`` itself.

    Raises
    ------
    ValueError
        As :func:`fractional_moment_std`, or if tensor is not a tensor.

    Examples
    --------
    >>> import torch
    >>> from initmath.torch import fractional_moment_normal_, fractional_moment_std
    >>> w = torch.empty(512, 256)
    >>> fractional_moment_normal_(w, s=1.0, generator=torch.Generator().manual_seed(0)) is w
    True
    >>> abs(w.std().item() / fractional_moment_std(w, s=1.0) - 1) < 0.01   # s.e. 0.002
    True
    """
    s, a, mode = _fractional_args(s, a, mode)
    if _is_empty(tensor):
        return tensor
    return _fill(tensor, fractional_moment_std(tensor, s, a, mode), generator)


# --------------------------------------------------------------------------- Hessian
def _auto_hessian_method(fan_in, fan_out, a):
    narrow = min(fan_in, fan_out)
    exact = (narrow == 1 or (a in (None, 1.0) and narrow <= EXACT_MAX_MIN_WIDTH)
             or (a == 0.0 and fan_out <= _AUTO_EXACT_RELU_MAX_FAN_OUT))
    return "exact" if exact else "tracy-widom"


def hessian_std(tensor_or_shape, a=None, method="auto"):
    r"""Spectral-norm ("Hessian") standard deviation for a weight of the given shape.

    :math:`\sigma = 1/E\lVert D_a G\rVert_2` for a ``[fan_out, fan_in]`` standard Gaussian
    matrix G (:func:`initmath.hessian_sigma` with ``d_in = fan_in``,
    ``d_out = fan_out``), so that the layer Jacobian :math:`D_a W` has
    :math:`E\lVert D_a W\rVert_2 = 1` (Skorski 2020, Corollary 2).

    Parameters
    ----------
    tensor_or_shape : torch.Tensor or sequence of int
        A weight (or its shape) with at least 2 dimensions; torch's fans.  For a conv
        weight the ``[fan_out, fan_in]`` Gaussian matrix is the receptive-field
        approximation of the module docstring (the conv Jacobian is block Toeplitz).
    a : None or float, optional
        Negative-side slope in [0, 1] (0: ReLU); None (or 1): linear Jacobian.
    method : {"auto", "exact", "tracy-widom", "gordon"}
        As in :func:`initmath.hessian_sigma`; ``"exact"`` raises where it does.
        ``"auto"`` is ``"exact"`` where the exact law exists and one shape costs at most
        ~0.7 s: min(fan_in, fan_out) = 1; a linear Jacobian with min(fan_in, fan_out) <= 128;
        ReLU (a = 0) with fan_out <= 64.  Otherwise ``"tracy-widom"`` (within 0.1% of exact
        wherever both exist outside those ranges and were compared).

    Returns
    -------
    float

    Raises
    ------
    ValueError
        If the tensor has fewer than 2 dimensions or a zero-sized one, a is outside [0, 1],
        method is unknown, or method="exact" outside its range.

    References
    ----------
    .. [1] M. Skorski, "Revisiting initialization of neural networks" (2020), Cor. 2.

    Examples
    --------
    A weight of shape [16, 9] is a 16 x 9 matrix; Gordon's :math:`1/(\sqrt 9 + \sqrt{16})`:

    >>> from initmath import hessian_sigma
    >>> from initmath.torch import hessian_std
    >>> hessian_std((16, 9), method="gordon") == 1 / 7
    True
    >>> hessian_std((16, 9)) == float(hessian_sigma(9, 16, method="exact"))
    True
    """
    a, method = _hessian_args(a, method)
    fan_in, fan_out = _fans(tensor_or_shape)
    if method == "auto":
        method = _auto_hessian_method(fan_in, fan_out, a)
    return float(hessian_sigma(fan_in, fan_out, a=a, method=method))


def hessian_normal_(tensor, a=None, method="auto", generator=None):
    r"""Fill ``tensor`` in place with :math:`N(0, \sigma^2)`,
    :math:`\sigma` = :func:`hessian_std` ``(tensor, a, method)``.

    Under ``torch.no_grad()``; a zero-element tensor warns and is left alone.

    Parameters
    ----------
    tensor : torch.Tensor
        Floating point, at least 2 dimensions, ``[out, in, *receptive]``.
    a, method
        As in :func:`hessian_std`.
    generator : torch.Generator, optional
        Source of the random numbers.

    Returns
    -------
    torch.Tensor
        ``tensor`` itself.

    Raises
    ------
    ValueError
        As :func:`hessian_std`, or if tensor is not a tensor.

    Examples
    --------
    The largest singular value of the filled matrix is near 1:

    >>> import torch
    >>> from initmath.torch import hessian_normal_
    >>> w = hessian_normal_(torch.empty(100, 50, dtype=torch.float64),
    ...                     generator=torch.Generator().manual_seed(0))
    >>> abs(torch.linalg.matrix_norm(w, ord=2).item() - 1) < 0.05
    True
    """
    a, method = _hessian_args(a, method)
    if _is_empty(tensor):
        return tensor
    return _fill(tensor, hessian_std(tensor, a, method), generator)


# --------------------------------------------------------------------------- whole models
def _kaiming_std(tensor_or_shape, a=0.0, mode="fan_in"):
    a = _real_scalar(a, "a", 0, 1)
    fan_in, fan_out = _fans(tensor_or_shape)
    fan = fan_in if _validate.choice(mode, "mode", MODES) == "fan_in" else fan_out
    return nn.init.calculate_gain("leaky_relu", a) / math.sqrt(fan)   # as kaiming_normal_


def _xavier_std(tensor_or_shape, gain=1.0):
    gain = _real_scalar(gain, "gain", 0, None, low_open=True)
    return gain * float(glorot_sigma(*_fans(tensor_or_shape)))


# scheme -> (std of a weight, the keyword parameters it takes)
_SCHEMES = {"fractional-moment": (fractional_moment_std, ("s", "a", "mode")),
            "hessian": (hessian_std, ("a", "method")),
            "kaiming": (_kaiming_std, ("a", "mode")),
            "xavier": (_xavier_std, ("gain",))}


def _layers(model):
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be an nn.Module, got {type(model).__name__}")
    layers = [(name, m) for name, m in model.named_modules() if isinstance(m, LAYER_TYPES)]
    if not layers:
        raise ValueError("model contains no nn.Linear or nn.Conv1d/2d/3d layer")
    for name, m in layers:
        if nn.parameter.is_lazy(m.weight):
            raise ValueError(f"layer {name!r} is lazy (its weight has no shape yet); "
                             "run one forward pass before init_model_")
    return layers


def init_model_(model, scheme="fractional-moment", *, generator=None, **params):
    r"""Initialize every ``nn.Linear`` / ``nn.Conv1d/2d/3d`` of ``model`` in place.

    Each weight is drawn :math:`N(0, \sigma^2)` with the scheme's :math:`\sigma` for its
    shape, each bias is set to zero (the theory's layers have none), layers in
    ``model.named_modules()`` order.  All scales are computed (and all arguments checked)
    before anything is changed.  Other modules (``nn.ConvTranspose*``, normalization,
    embeddings) are left alone.

    Parameters
    ----------
    model : nn.Module
    scheme : {"fractional-moment", "hessian", "kaiming", "xavier"}
        ``"fractional-moment"``: :func:`fractional_moment_std`, parameters ``s``, ``a``,
        ``mode``.  ``"hessian"``: :func:`hessian_std`, parameters ``a``, ``method``.
        ``"kaiming"``: ``torch.nn.init.kaiming_normal_``'s
        :math:`\sqrt{2/((1+a^2)\,\mathrm{fan})}`, parameters ``a`` (in [0, 1]), ``mode``.
        ``"xavier"``: ``torch.nn.init.xavier_normal_``'s
        :math:`\mathrm{gain}\sqrt{2/(\mathrm{fan\_in}+\mathrm{fan\_out})}`, parameter
        ``gain`` > 0.  Defaults are those of the functions.
    generator : torch.Generator, optional
        Source of the random numbers; the same seed gives the same model.
    **params
        The scheme's parameters (above).

    Returns
    -------
    list of InitRecord
        ``(name, shape, std)`` for each layer initialized.

    Raises
    ------
    ValueError
        For a model that is not an ``nn.Module`` or has no such layer, a lazy layer, an
        unknown scheme, a parameter the scheme does not take, or any value its std function
        rejects.

    Examples
    --------
    >>> import torch
    >>> from initmath.torch import fractional_moment_std, init_model_
    >>> net = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(),
    ...                           torch.nn.Linear(256, 10))
    >>> report = init_model_(net, s=1.0, generator=torch.Generator().manual_seed(0))
    >>> [(r.name, r.shape) for r in report]
    [('0', (256, 784)), ('2', (10, 256))]
    >>> report[1].std == fractional_moment_std((10, 256), s=1.0)
    True
    >>> bool((net[0].bias == 0).all())
    True
    """
    _validate.choice(scheme, "scheme", SCHEMES)
    std_of, names = _SCHEMES[scheme]
    unknown = sorted(set(params) - set(names))
    if unknown:
        raise ValueError(f"scheme={scheme!r} takes the parameters {', '.join(names)}; "
                         f"got {', '.join(unknown)}")
    layers = _layers(model)
    stds = [std_of(m.weight, **params) for _, m in layers]
    report = []
    for (name, m), std in zip(layers, stds):
        _fill(m.weight, std, generator)
        if m.bias is not None:
            with torch.no_grad():
                m.bias.zero_()
        report.append(InitRecord(name, tuple(m.weight.shape), std))
    return report

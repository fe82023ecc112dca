r"""``torch.nn.init``-style initializers for the library's critical scales.

``import initmath`` does not import torch; ``import initmath.nn`` does.

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
    Walk the ``nn.Linear`` / ``nn.Conv1d/2d/3d`` layers of a model, fill each weight for
    the activation that follows it in the model (any elementwise torch activation: exact
    finite-width stds, :mod:`initmath.finite_width`), zero the biases and return what was
    done (and what was left alone: listed, with a warning).

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
"""
import functools
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from .. import _docs, _validate
from .. import finite_width as _finite_width
from .. import hessian as _hessian
from .. import mean_field as _mean_field
from .._spectral_norm import EXACT_MAX_MIN_WIDTH
from ..activations import ACTIVATIONS, Activation
from ..activations import activation as _resolve_activation
from ..critical_variance import S_MAX, S_MIN, critical_sigmas, rrelu_critical_sigma
from ..hessian import METHODS as _HESSIAN_SIGMA_METHODS
from ..hessian import glorot_sigma, hessian_sigma
from .curvature import _check_generator
from .graph import NORM_TYPES, consumer, read_graph, residual_branches
from .model_report import (
    InitRecord,
    InitReport,
    SkippedParameter,
    _Scales,
    predictions,
    run_eval,
)

__all__ = [
    "InitCoverageWarning",
    "InitRecord",
    "InitReport",
    "SkippedParameter",
    "fractional_moment_normal_",
    "fractional_moment_std",
    "hessian_normal_",
    "hessian_std",
    "init_model_",
    "report_model",
]

# A weight [out, in, *receptive], or its shape: the std functions need only the fans.
WeightOrShape = torch.Tensor | Sequence[int]
MODES = ("fan_in", "fan_out")
# mode -> initmath.critical_sigmas convention (docs/critical-variance.md, section 6)
_CONVENTION = {"fan_in": "per-neuron", "fan_out": "norm"}
HESSIAN_METHODS = ("auto",) + _HESSIAN_SIGMA_METHODS
# "auto" takes the exact law only where one new shape costs at most ~0.7 s: the ReLU law
# mixes one exact Wishart value per likely number of active rows, so its cost grows with
# fan_out (21 s at 128 x 128), while Tracy-Widom is already within 0.1% of it there.
_AUTO_EXACT_RELU_MAX_FAN_OUT = 64
SCHEMES = ("fractional-moment", "hessian", "kaiming", "gain", "xavier")
LAYER_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
# input_rms (the input coordinates' root mean square the fractional-moment std of a
# non-homogeneous activation is computed at): moment_preserving_sigma searches 8 decades
# around the mean-field sigma, which reaches the target for every activation up to 1e6
# (measured: none at 1e8) and down to 1e-8.
INPUT_RMS_RANGE = (1e-6, 1e6)


class InitCoverageWarning(UserWarning):
    """:func:`init_model_` left some parameters of the model unchanged (listed in the
    returned report's ``skipped``)."""


# --------------------------------------------------------------------------- arguments
def _shape(tensor_or_shape, name):
    if isinstance(tensor_or_shape, torch.Tensor):
        return tuple(tensor_or_shape.shape)
    if isinstance(tensor_or_shape, (str, bytes)):
        raise ValueError(f"{name} must be a tensor or a shape (sequence of ints), got "
                         f"{tensor_or_shape!r}")
    try:
        shape = tuple(tensor_or_shape)
    except TypeError:
        raise ValueError(f"{name} must be a tensor or a shape (sequence of ints), got "
                         f"{type(tensor_or_shape).__name__}") from None
    if not all(isinstance(n, (int, np.integer)) and not isinstance(n, (bool, np.bool_))
               and n >= 0 for n in shape):
        raise ValueError(f"{name}: a shape must be a sequence of integers >= 0, got "
                         f"{_validate.shown(tensor_or_shape)}")
    return tuple(int(n) for n in shape)


def _fans(tensor_or_shape, name="tensor_or_shape"):
    """(fan_in, fan_out) exactly as torch.nn.init computes them: a weight [out, in,
    *receptive] has fan_in = in * prod(receptive), fan_out = out * prod(receptive) (exact
    Python integers, so a huge shape given as a tuple is judged, never overflowed)."""
    shape = _shape(tensor_or_shape, name)
    if len(shape) < 2:
        raise ValueError(f"{name} has fewer than 2 dimensions (shape {shape}); fans need a "
                         "weight [out, in, *receptive]")
    receptive = math.prod(shape[2:])
    fan_in, fan_out = shape[1] * receptive, shape[0] * receptive
    if fan_in < 1 or fan_out < 1:
        raise ValueError(f"{name} of shape {shape} has a zero-sized dimension (fan_in = "
                         f"{fan_in}, fan_out = {fan_out}); no scale exists")
    if max(fan_in, fan_out) > _validate.D_MAX:
        raise ValueError(f"{name} of shape {_validate.shown(shape)}: fan_in and fan_out must "
                         f"be at most 2**53, got fan_in = {_validate.shown(fan_in)}, fan_out = "
                         f"{_validate.shown(fan_out)}")
    return fan_in, fan_out


def _fractional_args(s, a, mode):
    s = _validate.real_scalar(s, "s", S_MIN, S_MAX)
    if s / 2 == 0:
        raise ValueError(f"s must lie in (0, {S_MAX:g}] with s/2 > 0 in float64, got {s!r}")
    return s, _validate.real_scalar(a, "a", 0, 1), _validate.choice(mode, "mode", MODES)


def _hessian_args(a, method):
    return (None if a is None else _validate.real_scalar(a, "a", 0, 1),
            _validate.choice(method, "method", HESSIAN_METHODS))


def _is_empty(tensor, generator=None):
    """Check the tensor to fill (and the generator); True for a zero-element tensor (with
    torch's warning: nothing to fill)."""
    if not isinstance(tensor, torch.Tensor):
        raise ValueError(f"tensor must be a torch.Tensor, got {type(tensor).__name__}")
    if not tensor.is_floating_point():
        raise ValueError(f"tensor must be a floating-point tensor (float16, bfloat16, float32 "
                         f"or float64) to hold N(0, std^2) draws, got dtype {tensor.dtype}")
    if tensor.dim() < 2:
        raise ValueError(f"tensor has fewer than 2 dimensions (shape {tuple(tensor.shape)}); "
                         "fans need a weight [out, in, *receptive]")
    _check_generator(generator)
    if generator is not None and generator.device.type != tensor.device.type:
        raise ValueError(f"generator is on {generator.device}, tensor on {tensor.device}; "
                         "they must be on the same device type")
    if tensor.numel() == 0:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=3)
        return True
    return False


def _check_std(std, dtype, name="tensor"):
    """std itself if N(0, std^2) draws are representable in dtype: finite and below its
    largest value (by a factor 64, beyond any draw of up to 2**53 samples), and not so small
    that every draw rounds to zero."""
    _validate.finite_result(std, "the standard deviation",
                            hint="its arguments are outside the range the scale exists for")
    finfo = torch.finfo(dtype)
    if std * 64 > finfo.max:
        raise ValueError(f"the standard deviation {std:.6g} overflows {name}'s dtype {dtype} "
                         f"(largest value {finfo.max:.6g}); use a wider dtype or other "
                         "arguments")
    if 0 < std < finfo.smallest_normal * finfo.eps:
        raise ValueError(f"the standard deviation {std:.6g} underflows {name}'s dtype {dtype} "
                         f"(every draw would be 0); use a wider dtype")
    return std


# Docstring text shared by the std functions (std_returns) and the fill functions
# (generator, tensor_returned): one text, several docstrings.
_doc = _docs.fill(std_returns="""\
Returns
-------
float
    The standard deviation; nothing is sampled.

Raises
------
ValueError
    If the weight has fewer than 2 dimensions or a zero-sized one, or a fan above 2**53.""",
                  generator="""\
generator : torch.Generator, optional
    Source of the random numbers, on the tensor's device type (None: torch's default
    generator).""",
                  tensor_returned="""\
Returns
-------
torch.Tensor
    ``tensor`` itself, filled in place.""")


def _fill(tensor, std, generator):
    _check_std(std, tensor.dtype)
    with torch.no_grad():
        return tensor.normal_(0.0, std, generator=generator)


# --------------------------------------------------------------------------- fractional moment
@_doc
def fractional_moment_std(tensor_or_shape: WeightOrShape, s: float = 1.0, a: float = 0.0,
                          mode: str = "fan_in") -> float:
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

    %(std_returns)s
        Also if s is outside (0, 1000], a is outside [0, 1], mode is unknown, or the std
        is not representable in float64 (s below ~1e-3: the critical std grows like
        :math:`c^{1/s}`).

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
    >>> from initmath.nn import fractional_moment_std
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
    try:
        std = float(critical_sigmas(s, [fan_in, fan_out], a, convention=_CONVENTION[mode])[0])
    except _validate.NotRepresentableError as error:
        raise ValueError(f"{error}; here s must be larger: for s -> 0 the critical std grows "
                         "like c^(1/s)") from None
    return _representable(
        std, f"the fractional-moment std (s = {s:g}, fan_in = {fan_in}, fan_out = {fan_out})")


def _representable(std, what):
    """std if it is a finite positive float64; else a ValueError (the critical std grows
    like c^(1/s) as s -> 0, past float64's range for s below ~1e-3)."""
    hint = "s must be larger: for s -> 0 the critical std grows like c^(1/s)"
    if std == 0:
        raise ValueError(f"{what} is not representable in float64 for these arguments (got "
                         f"0.0); {hint}")
    return _validate.finite_result(std, what, hint=hint)


@_doc
def fractional_moment_normal_(tensor: torch.Tensor, s: float = 1.0, a: float = 0.0,
                              mode: str = "fan_in",
                              generator: torch.Generator | None = None) -> torch.Tensor:
    r"""Fill ``tensor`` in place with :math:`N(0, \sigma^2)`,
    :math:`\sigma` = :func:`fractional_moment_std` ``(tensor, s, a, mode)``.

    Like ``torch.nn.init.kaiming_normal_``, which it equals at s = 2: runs under
    ``torch.no_grad()`` (a leaf that requires grad stays a leaf), draws with
    ``tensor.normal_(0, std, generator=generator)``, warns and does nothing for a
    zero-element tensor, and returns the tensor.

    Parameters
    ----------
    tensor : torch.Tensor
        Floating point (float16, bfloat16, float32, float64), at least 2 dimensions,
        ``[out, in, *receptive]``.
    s, a, mode
        As in :func:`fractional_moment_std`.
    %(generator)s

    %(tensor_returned)s

    Raises
    ------
    ValueError
        As :func:`fractional_moment_std`, or if tensor is not a floating-point tensor, the
        generator is not a ``torch.Generator`` (on the tensor's device type), or the std
        overflows (or underflows to 0 in) the tensor's dtype, e.g. float16 above 65504 / 64.

    Examples
    --------
    >>> import torch
    >>> from initmath.nn import fractional_moment_normal_, fractional_moment_std
    >>> w = torch.empty(512, 256)
    >>> fractional_moment_normal_(w, s=1.0, generator=torch.Generator().manual_seed(0)) is w
    True
    >>> abs(w.std().item() / fractional_moment_std(w, s=1.0) - 1) < 0.01   # s.e. 0.002
    True
    """
    s, a, mode = _fractional_args(s, a, mode)
    if _is_empty(tensor, generator):
        return tensor
    return _fill(tensor, fractional_moment_std(tensor, s, a, mode), generator)


# --------------------------------------------------------------------------- Hessian
def _auto_hessian_method(fan_in, fan_out, a):
    narrow = min(fan_in, fan_out)
    exact = (narrow == 1 or (a in (None, 1.0) and narrow <= EXACT_MAX_MIN_WIDTH)
             or (a == 0.0 and (fan_out <= _AUTO_EXACT_RELU_MAX_FAN_OUT or (
                 fan_in <= _AUTO_EXACT_RELU_MAX_FAN_OUT and _hessian._wide_binomial(fan_out)))))
    return "exact" if exact else "tracy-widom"


@_doc
def hessian_std(tensor_or_shape: WeightOrShape, a: float | None = None,
                method: str = "auto") -> float:
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
        ReLU (a = 0) with fan_out <= 64, or with fan_in <= 64 and fan_out so large (about
        2900 or more) that the mixture over active units is a 16-point Gauss rule.
        Otherwise ``"tracy-widom"`` (within 0.1% of exact wherever both exist outside those
        ranges and were compared).

    %(std_returns)s
        Also if a is outside [0, 1], method is unknown, or method="exact" is outside its
        range (or beyond the 30 s work budget).

    References
    ----------
    .. [1] M. Skorski, "Revisiting initialization of neural networks" (2020), Cor. 2.

    Examples
    --------
    A weight of shape [16, 9] is a 16 x 9 matrix; Gordon's :math:`1/(\sqrt 9 + \sqrt{16})`:

    >>> from initmath import hessian_sigma
    >>> from initmath.nn import hessian_std
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


@_doc
def hessian_normal_(tensor: torch.Tensor, a: float | None = None, method: str = "auto",
                    generator: torch.Generator | None = None) -> torch.Tensor:
    r"""Fill ``tensor`` in place with :math:`N(0, \sigma^2)`,
    :math:`\sigma` = :func:`hessian_std` ``(tensor, a, method)``.

    Under ``torch.no_grad()``; a zero-element tensor warns and is left alone.

    Parameters
    ----------
    tensor : torch.Tensor
        Floating point, at least 2 dimensions, ``[out, in, *receptive]``.
    a, method
        As in :func:`hessian_std`.
    %(generator)s

    %(tensor_returned)s

    Raises
    ------
    ValueError
        As :func:`hessian_std`, or as :func:`fractional_moment_normal_` for the tensor,
        generator and std.

    Examples
    --------
    The largest singular value of the filled matrix is near 1:

    >>> import torch
    >>> from initmath.nn import hessian_normal_
    >>> w = hessian_normal_(torch.empty(100, 50, dtype=torch.float64),
    ...                     generator=torch.Generator().manual_seed(0))
    >>> abs(torch.linalg.matrix_norm(w, ord=2).item() - 1) < 0.05
    True
    """
    a, method = _hessian_args(a, method)
    if _is_empty(tensor, generator):
        return tensor
    return _fill(tensor, hessian_std(tensor, a, method), generator)


# --------------------------------------------------------------------------- whole models
def _kaiming_std(tensor_or_shape, a=0.0, mode="fan_in"):
    a = _validate.real_scalar(a, "a", 0, 1)
    fan_in, fan_out = _fans(tensor_or_shape)
    fan = fan_in if _validate.choice(mode, "mode", MODES) == "fan_in" else fan_out
    return nn.init.calculate_gain("leaky_relu", a) / math.sqrt(fan)   # as kaiming_normal_


def _xavier_std(tensor_or_shape, gain=1.0):
    gain = _validate.real_scalar(gain, "gain", 0, None, low_open=True)
    return gain * float(glorot_sigma(*_fans(tensor_or_shape)))


# scheme -> (std of a weight, the keyword parameters it takes)
_SCHEMES = {"fractional-moment": (fractional_moment_std, ("s", "a", "mode", "input_rms")),
            "hessian": (hessian_std, ("a", "method")),
            "kaiming": (_kaiming_std, ("a", "mode")),
            "gain": (_kaiming_std, ("a", "mode")),
            "xavier": (_xavier_std, ("gain",))}
# The schemes whose std keeps a moment (s, or 2), and so have a predicted moment factor.
_MOMENT_SCHEMES = ("fractional-moment", "kaiming", "gain")


# Modules passed over when looking for the activation that follows a layer: they change
# no unit's sign (dropout is taken at its eval-mode identity).
_TRANSPARENT = (nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d,
                nn.Flatten, nn.Unflatten)
# Linear maps: a layer followed directly by one of these has no activation (identity).
_LINEAR_MAPS = LAYER_TYPES + (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
_UNKNOWN = "unknown"
# The modules init_model_ initializes.
_INITIALIZED = LAYER_TYPES + NORM_TYPES + (nn.Embedding, nn.MultiheadAttention)


def _layers(model):
    """[(name, module)] of the modules init_model_ initializes (Linear/Conv layers, norms,
    embeddings, attention), in named_modules order, after checking the layers' weights."""
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be an nn.Module, got {type(model).__name__}")
    modules = [(name, m) for name, m in model.named_modules() if isinstance(m, _INITIALIZED)]
    if not any(isinstance(m, LAYER_TYPES + (nn.Embedding, nn.MultiheadAttention))
               for _, m in modules):
        raise ValueError("model contains no nn.Linear, nn.Conv1d/2d/3d, nn.Embedding or "
                         "nn.MultiheadAttention layer")
    for name, m in modules:
        for param in m.parameters(recurse=False):
            if nn.parameter.is_lazy(param):
                raise ValueError(f"model layer {name!r} is lazy (its weight has no shape "
                                 "yet); run one forward pass before init_model_")
            if not param.is_floating_point():
                raise ValueError(f"model layer {name!r} has a {param.dtype} weight; "
                                 "floating point is required")
    return modules


def _flat(sequential):
    for module in sequential:
        if isinstance(module, nn.Sequential):
            yield from _flat(module)
        else:
            yield module


@dataclass(frozen=True)
class _Elementwise:
    """An elementwise activation other than (leaky) ReLU / RReLU: its description, which
    names every parameter (it is the key of the caches below), and phi."""
    description: str
    phi: Activation = field(compare=False)


def _parameter_text(value):
    return f"{value:g}" if isinstance(value, (int, float)) and not isinstance(value, bool) \
        else repr(value)


def _activation(module):
    """(description, slope) of an activation module: slope a float in [0, 1], a pair
    (lower, upper) for RReLU, an :class:`_Elementwise` for any other elementwise torch
    activation that :func:`initmath.activations.activation` resolves, or None if no theory
    covers it."""
    name = type(module).__name__
    if type(module) is nn.ReLU:
        return "ReLU", 0.0
    if type(module) is nn.LeakyReLU:
        slope = float(module.negative_slope)
        text = f"LeakyReLU(negative_slope={slope:g})"
        return text, (slope if 0 <= slope <= 1 else None)
    if type(module) is nn.RReLU:
        lower, upper = float(module.lower), float(module.upper)
        text = f"RReLU(lower={lower:g}, upper={upper:g})"
        return text, ((lower, upper) if 0 <= lower <= upper <= 1 else None)
    if not type(module).__module__.startswith("torch."):
        return name, None
    try:
        phi = _resolve_activation(module)
    except ValueError:                      # not elementwise (Softmax, norms, ...)
        return name, None
    if phi.slopes is not None:              # PReLU with one slope: positively homogeneous
        return f"{name}(negative_slope={phi.slopes[1]:g})", float(phi.slopes[1])
    values = [f"{key}={_parameter_text(getattr(module, key))}"
              for key in ACTIVATIONS[name.lower()][1] if hasattr(module, key)]
    text = f"{name}({', '.join(values)})" if values else name
    return text, _Elementwise(text, phi)


def _followers(model):
    """{id(layer): (description, slope)} for the layers of the model's nn.Sequential chains
    (nested ones flattened): the first module after the layer that is not transparent; the
    end of the model's own chain is the output (identity); the end of a chain inside another
    module, or a layer outside any chain, is unknown (its parent's forward decides)."""
    parent = {id(child): m for m in model.modules() for child in m.children()}
    following = {}
    for m in model.modules():
        if not isinstance(m, nn.Sequential) or isinstance(parent.get(id(m)), nn.Sequential):
            continue
        chain = list(_flat(m))
        for i, layer in enumerate(chain):
            if not isinstance(layer, LAYER_TYPES):
                continue
            rest = [x for x in chain[i + 1:] if not isinstance(x, _TRANSPARENT)]
            if not rest:
                following[id(layer)] = (("identity", 1.0) if m is model else
                                        (_UNKNOWN, None))
            elif isinstance(rest[0], _LINEAR_MAPS):
                following[id(layer)] = ("identity", 1.0)
            else:
                following[id(layer)] = _activation(rest[0])
    if isinstance(model, LAYER_TYPES):
        following[id(model)] = ("identity", 1.0)
    return following


def _rrelu_std(tensor_or_shape, s, lower, upper, mode):
    fan_in, fan_out = _fans(tensor_or_shape)
    std = float(rrelu_critical_sigma(s, fan_out, lower, upper))
    if mode == "fan_in":
        std *= math.sqrt(fan_out / fan_in)
    return _representable(std, f"the RReLU fractional-moment std (s = {s:g})")


class _NoScale(Exception):
    """The scheme has no std for this layer's activation (the message says why)."""


def _input_scales(mode, fan_in, fan_out, rms):
    """(r, t): the input norm r = rms sqrt(fan_in) and the t with E[r'^s | r] = t^s when
    the moment ``mode`` names is kept: t = r ("fan_out", the norm) or rms sqrt(fan_out)
    ("fan_in", each unit's mean square)."""
    return rms * math.sqrt(fan_in), rms * math.sqrt(fan_out if mode == "fan_in" else fan_in)


@functools.lru_cache(maxsize=512)
def _preserving_std(phi, s, fan_in, fan_out, mode, rms):
    """(std, None) keeping the moment of ``mode`` for phi (the exact finite-width
    :func:`initmath.finite_width.moment_preserving_sigma`), or (None, why not).  The
    moment map depends on sigma r only, so the per-unit target (fan_in) is the norm target
    at the input norm rms sqrt(fan_out), rescaled by sqrt(fan_out / fan_in)."""
    r, target = _input_scales(mode, fan_in, fan_out, rms)
    try:
        sigma = float(_finite_width.moment_preserving_sigma(s, fan_out, phi.phi, r=target))
    except ValueError:
        return None, (f"no weight std keeps E||x||^s (s = {s:g}) at the input scale "
                      f"input_rms = {rms:g} (||x|| = {r:.6g}): the output of "
                      f"{phi.description} cannot reach it; pass a smaller input_rms")
    return sigma * target / r, None


@functools.lru_cache(maxsize=512)
def _exact_gain(phi):
    """(gain, None): :func:`initmath.mean_field.gain` at q = 1, or (None, why not)."""
    try:
        return float(_mean_field.gain(phi.phi)), None
    except ValueError as error:
        return None, str(error)


def _elementwise_std(scheme, weight, phi, params):
    """std of a layer followed by an activation that is not (leaky) ReLU."""
    fan_in, fan_out = _fans(weight)
    mode = _validate.choice(params.get("mode", "fan_in"), "mode", MODES)
    if scheme == "fractional-moment":
        s = _validate.real_scalar(params.get("s", 1.0), "s", 0, _finite_width.S_MAX,
                                  low_open=True)
        std, why = _preserving_std(phi, s, fan_in, fan_out, mode,
                                   params.get("input_rms", 1.0))
        if std is None:
            raise _NoScale(why)
        return std
    gain, why = _exact_gain(phi)
    if gain is None:
        raise _NoScale(why)
    return gain / math.sqrt(fan_in if mode == "fan_in" else fan_out)


@functools.lru_cache(maxsize=512)
def _leaky(slope):
    return _Elementwise(f"slope {slope!r}", _resolve_activation("leakyrelu",
                                                                negative_slope=slope))


@functools.lru_cache(maxsize=4096)
def _factor(phi, s, fan_in, fan_out, mode, rms, std):
    """E[r'^s | r] / target^s (:func:`_input_scales`) from the exact moment map, or None
    where it is not representable in float64."""
    r, target = _input_scales(mode, fan_in, fan_out, rms)
    try:
        moment = float(_finite_width.moment_map(s, fan_out, phi.phi, std, r=r))
    except ValueError:
        return None
    return math.exp(math.log(moment) - s * math.log(target)) if moment > 0 else 0.0


def _moment_factor(scheme, weight, slope, std, params):
    """The predicted one-layer factor on the moment the scheme keeps (1: kept): at s and
    input_rms for "fractional-moment"; for "kaiming" and "gain" at s = 2 and the input
    norm 1 / std, where the pre-activation variance is 1 (the scale a gain is built for)."""
    if scheme not in _MOMENT_SCHEMES or isinstance(slope, tuple):
        return None
    fan_in, fan_out = _fans(weight)
    phi = slope if isinstance(slope, _Elementwise) else _leaky(float(slope))
    if scheme == "fractional-moment":
        s, rms = float(params.get("s", 1.0)), params.get("input_rms", 1.0)
    else:
        s, rms = 2.0, 1 / (std * math.sqrt(fan_in))
    return _factor(phi, s, fan_in, fan_out, params.get("mode", "fan_in"), rms, std)


def _layer_std(scheme, weight, slope, params):
    """std of one layer for the scheme at the slope read from the model (or overridden)."""
    if scheme == "xavier":
        return _xavier_std(weight, **params)
    if isinstance(slope, _Elementwise):
        if scheme == "hessian":
            raise _NoScale(f"no {scheme} scale for it")
        return _elementwise_std(scheme, weight, slope, params)
    if isinstance(slope, tuple):
        if scheme == "hessian":                  # no spectral-norm law for random slopes
            raise _NoScale(f"no {scheme} scale for it")
        s = params.get("s", 1.0) if scheme == "fractional-moment" else 2.0
        mode = params.get("mode", "fan_in")
        return _rrelu_std(weight, s, *slope, _validate.choice(mode, "mode", MODES))
    rest = {k: v for k, v in params.items() if k not in ("a", "input_rms")}
    if scheme == "hessian":
        return hessian_std(weight, a=None if slope == 1.0 else slope, **rest)
    return _SCHEMES[scheme][0](weight, a=slope, **rest)


def init_model_(model: nn.Module, scheme: str = "fractional-moment", *,
                generator: torch.Generator | None = None, override_a: float | None = None,
                warn: bool = True, branch_scale: float | str = "depth",
                example_input: torch.Tensor | tuple | None = None,
                **params: Any) -> InitReport:
    r"""Initialize ``model`` in place for what follows each weight in its graph, and
    return a per-layer report of what was done and what is predicted.

    Each ``nn.Linear`` / ``nn.Conv1d/2d/3d`` weight is drawn :math:`N(0, \sigma^2)` with
    the scheme's :math:`\sigma` for its shape and for what reads its output, each bias is
    set to zero (the theory's layers have none), modules in ``model.named_modules()``
    order.  All scales are computed (and all arguments checked) before anything is changed.

    **Reading the model.** The graph is traced with ``torch.fx``
    (:func:`initmath.nn.graph.read_graph`; ``nn.TransformerEncoderLayer`` is read from its
    attributes); what consumes each layer's output is found past dropout, identity,
    flatten, reshape/view/permute/transpose and the output item of attention: an
    activation (a module or a functional call such as ``F.relu``, ``torch.tanh``,
    ``F.gelu(x, approximate="tanh")``, ``F.leaky_relu(x, 0.2)``), another linear map or
    the model's output (the identity, a = 1), a normalization, a residual addition, or
    something else or several consumers (the layer is skipped with the reason).  When the
    model cannot be traced (data-dependent control flow) its ``nn.Sequential`` chains are
    read instead, as before, and the report's ``graph`` says so.

    **Per kind.**

    * A layer followed by an activation or the identity: below.
    * The last layer of a residual branch (its output reaches an addition with a skip
      path; of the two operands the branch is the one with more weight layers since
      their common input): the identity std times alpha (``branch_scale``).  The law:
      the branch's last weight is independent of x and mean zero, so
      :math:`E\lVert x + \alpha f(x)\rVert^2 = \lVert x\rVert^2 + \alpha^2
      E\lVert f(x)\rVert^2` exactly in expectation, and after L blocks the mean
      square is multiplied by :math:`\prod_l (1 + \alpha^2 g_l)`, :math:`g_l` the
      branch gains :math:`E\lVert f(x)\rVert^2/\lVert x\rVert^2`; with
      :math:`\alpha = 1/\sqrt L` the factor is at most :math:`e^{\bar g}`
      (:math:`\bar g` the mean gain: e at unit gains), whatever L.
    * A layer followed by a normalization: the identity std (the norm makes the forward
      pass scale-invariant; the identity std keeps the norm's input at unit scale, where
      its eps is negligible).
    * ``nn.LayerNorm``, ``nn.BatchNorm1d/2d/3d``, ``nn.GroupNorm``, ``nn.InstanceNorm*``,
      ``nn.RMSNorm``: weight 1, bias 0 (BatchNorm's running statistics untouched).
    * ``nn.Embedding``: :math:`N(0, \rho^2)`, :math:`\rho` = ``input_rms`` (the unit
      mean square per coordinate that the downstream stds assume), its ``padding_idx`` row
      zero.
    * ``nn.MultiheadAttention``: the Q, K and V projections each at the scheme's identity
      std for their shape (:math:`1/\sqrt{\mathrm{embed\_dim}}` at s = 2: unit-variance
      logits :math:`q\cdot k/\sqrt{h}` at unit-rms inputs; ``override_a`` does not apply
      to them), their biases zero; ``out_proj`` as a linear layer followed by what reads
      the attention's output (times alpha when it ends a residual branch).  ``bias_k`` and
      ``bias_v`` are skipped (no principled scale for an extra learned token).

    The activations: ``nn.ReLU`` (slope a = 0), ``nn.LeakyReLU`` (its
    ``negative_slope``, in [0, 1]), ``nn.PReLU`` with one slope in [0, 1] (its current
    value), ``nn.RReLU`` (its ``lower``, ``upper``, training-mode random slopes:
    :func:`initmath.rrelu_critical_sigma`), or none (the identity: a = 1; linear Jacobian
    for "hessian").  These piecewise-linear layers get the scale of the slope, exact and
    independent of the input's scale.  A layer followed by any other elementwise torch
    activation that :func:`initmath.activations.activation` resolves (GELU, SiLU, Tanh,
    SELU, ELU, CELU, Softplus, Mish, Hardswish, Sigmoid, Hardtanh, ReLU6, ...) gets, under
    ``"fractional-moment"``, the exact finite-width std that keeps
    :math:`E\lVert x\rVert^s` through the layer at the input scale
    :math:`\lVert x\rVert = \rho\sqrt{\mathrm{fan\_in}}` (``input_rms`` = rho, default
    1: unit mean square per input coordinate),

    .. math:: E\bigl[\lVert\phi(W x)\rVert^s \bigm| \lVert x\rVert = r\bigr] =
              t^s, \qquad r = \rho\sqrt{\mathrm{fan\_in}},

    with :math:`t = \rho\sqrt{\mathrm{fan\_out}}` for ``mode="fan_in"`` (each unit's
    mean square kept) and t = r for ``mode="fan_out"`` (the norm kept), from
    :func:`initmath.finite_width.moment_preserving_sigma` with d = fan_out (the map
    depends on sigma r only, so the fan_in target is the norm target at input norm t,
    times :math:`\sqrt{\mathrm{fan\_out}/\mathrm{fan\_in}}`); under ``"kaiming"`` and
    ``"gain"`` the exact infinite-width gain :func:`initmath.mean_field.gain` (at
    pre-activation variance 1): std = gain / sqrt(fan), not torch's ``calculate_gain``
    (5/3 for tanh and 3/4 for SELU keep no moment).  A bounded activation (Tanh, Sigmoid,
    Hardtanh, ...) cannot reach every target: such a layer is skipped with the reason (a
    smaller ``input_rms`` helps).

    Everything else is not initialized and is listed in the report's ``skipped``: a layer
    followed by a module that is not an elementwise activation (Softmax, pooling, ...), by
    several consumers, by an activation other than (leaky) ReLU under "hessian" (no
    spectral-norm law), or not called in the forward; and every other parameter
    (``nn.ConvTranspose*``, ``bias_k``, user parameters, ...).  With ``warn=True``
    (default) a non-empty ``skipped`` raises an :class:`InitCoverageWarning` (a
    ``UserWarning``).

    **The report** (:class:`InitReport`, docs/torch-init.md, "Architectures"): per
    module, besides the std, its ``kind``, ``residual_scale``, the ``predicted`` mean
    square per output coordinate for inputs of mean square ``input_rms**2`` and its
    finite-width ``spread`` over the random weights, propagated along the graph with exact
    rules where they exist (linear layers; activations after them for positively
    homogeneous phi; residual additions of such branches; embeddings) and stated
    approximations otherwise (``approximation``; :mod:`initmath.nn.model_report`).
    Attention needs the sequence length: its prediction (and what depends on it until the
    next normalization) is None unless ``example_input`` is given.  With ``example_input``
    (or later :meth:`InitReport.measure`) the measured mean squares and their
    :math:`z = (\text{measured} - \text{predicted})/\text{spread}` are added;
    :meth:`InitReport.assert_healthy` turns the report into a CI check.

    Parameters
    ----------
    model : nn.Module
    scheme : {"fractional-moment", "hessian", "kaiming", "gain", "xavier"}
        ``"fractional-moment"``: :func:`fractional_moment_std`, parameters ``s``, ``a``,
        ``mode``, ``input_rms`` (other activations: above; s <= 100 there).
        ``"hessian"``: :func:`hessian_std`, parameters ``a``, ``method``.
        ``"kaiming"`` and ``"gain"`` (the same scale): ``torch.nn.init.kaiming_normal_``'s
        :math:`\sqrt{2/((1+a^2)\,\mathrm{fan})}` (RReLU: :math:`1 + E U^2` in place of
        :math:`1 + a^2`; other activations: the exact gain, above), parameters ``a`` (in
        [0, 1]), ``mode``.  ``"xavier"``:
        ``torch.nn.init.xavier_normal_``'s
        :math:`\mathrm{gain}\sqrt{2/(\mathrm{fan\_in}+\mathrm{fan\_out})}`, parameter
        ``gain`` > 0; it ignores activations.  Defaults are those of the functions.
    generator : torch.Generator, optional
        Source of the random numbers; the same seed gives the same model.
    override_a : float, optional
        A slope in [0, 1] used for EVERY layer instead of the activations read from the
        model (no layer is skipped for its activation): the explicit way to initialize
        against the model, e.g. ``override_a=0.0`` for a He-style ReLU scale everywhere.
        Not with ``a``, and not for "xavier".
    warn : bool, default True
        Warn (:class:`InitCoverageWarning`) when some parameters were left unchanged.
    branch_scale : float or "depth", default "depth"
        alpha in [0, 1], the factor on the std of each residual branch's last layer;
        ``"depth"``: :math:`1/\sqrt{L}`, L the number of residual additions in the model
        (the report's ``residual_additions``).
    example_input : torch.Tensor or tuple of torch.Tensor, optional
        A batch: after initializing, :meth:`InitReport.measure` runs it (eval mode) and
        records the measured values (and the sequence length for attention).  It is run
        once before anything changes too, so that a batch the model rejects is a
        ValueError that leaves the model as it was.
    **params
        The scheme's parameters (above).  ``a``, if given, states the slope of the model's
        (leaky) ReLU activations: it must equal the slope read for every layer followed by
        ReLU / LeakyReLU / PReLU / RReLU (else ValueError; use ``override_a`` to force a
        slope); layers without an activation stay identity.  ``input_rms`` (> 0, default
        1): the root mean square of each layer's input coordinates,
        :math:`\lVert x\rVert/\sqrt{\mathrm{fan\_in}}`, in [1e-6, 1e6], that the
        fractional-moment std of a non-homogeneous activation is computed at
        (piecewise-linear layers do not depend on it).

    Returns
    -------
    InitReport
        A list of ``InitRecord(name, shape, std, activation, a, moment_factor, kind,
        residual_scale, predicted, spread, approximation, measured, z)``, one per module
        initialized (layers, norms, embeddings, attention projections), with
        ``.skipped``: ``SkippedParameter(name, shape, reason)`` for every parameter left
        unchanged.  ``moment_factor`` is the predicted one-layer
        factor on the moment kept, from the exact :func:`initmath.finite_width.moment_map`:
        :math:`E[\lVert x'\rVert^s \mid \lVert x\rVert = r] / t^s` (r, t as above; for
        "kaiming" / "gain": s = 2 and r = 1 / std, where the pre-activation variance is 1,
        the scale the exact gain keeps), 1 when the moment is kept.

    Raises
    ------
    ValueError
        For a model that is not an ``nn.Module`` or has no such layer, a lazy layer, an
        unknown scheme, a ``branch_scale`` outside [0, 1] (or not "depth"), an
        ``example_input`` that is not a tensor or a tuple of tensors, a parameter the
        scheme does not take, an ``a`` that disagrees with the model's activations, a bad
        ``override_a``, or any value a std function rejects
        (the message names the layer).

    Examples
    --------
    >>> import torch
    >>> from initmath.nn import fractional_moment_std, init_model_
    >>> net = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(),
    ...                           torch.nn.Linear(256, 10))
    >>> report = init_model_(net, s=1.0, generator=torch.Generator().manual_seed(0))
    >>> [(r.name, r.shape, r.activation) for r in report]
    [('0', (256, 784), 'ReLU'), ('2', (10, 256), 'identity')]
    >>> report[0].std == fractional_moment_std((256, 784), s=1.0, a=0.0)
    True
    >>> report[1].std == fractional_moment_std((10, 256), s=1.0, a=1.0)   # output layer
    True
    >>> bool((net[0].bias == 0).all()), report.skipped
    (True, [])

    Any elementwise activation: the exact finite-width std for GELU, whose predicted
    moment factor is 1, and the exact gain for tanh under "gain":

    >>> from initmath.finite_width import moment_preserving_sigma
    >>> from initmath.mean_field import gain
    >>> gelu = torch.nn.Sequential(torch.nn.Linear(32, 32), torch.nn.GELU(),
    ...                            torch.nn.Linear(32, 1))
    >>> report = init_model_(gelu, s=1.0, mode="fan_out")
    >>> sigma = float(moment_preserving_sigma(1.0, 32, "gelu", r=32 ** 0.5))
    >>> report[0].activation, report[0].std == sigma
    ("GELU(approximate='none')", True)
    >>> abs(report[0].moment_factor - 1) < 1e-12
    True
    >>> tanh = torch.nn.Sequential(torch.nn.Linear(16, 8), torch.nn.Tanh())
    >>> init_model_(tanh, "gain", warn=False)[0].std == float(gain("tanh")) / 16 ** 0.5
    True

    A residual block (traced: a functional GELU, an addition): the branch's last layer
    gets the identity std times alpha = 1/sqrt(1), and the predicted mean squares add
    exactly, E||x + f(x)||^2/n = 1 + E||f(x)||^2/n at unit inputs:

    >>> class Block(torch.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.fc1, self.fc2 = torch.nn.Linear(32, 32), torch.nn.Linear(32, 32)
    ...     def forward(self, x):
    ...         return x + self.fc2(torch.nn.functional.gelu(self.fc1(x)))
    >>> block = Block()
    >>> report = init_model_(block, s=2.0, generator=torch.Generator().manual_seed(0))
    >>> [(r.name, r.kind, r.residual_scale) for r in report]
    [('fc1', 'layer', None), ('fc2', 'residual-end', 1.0)]
    >>> report[1].std == fractional_moment_std((32, 32), s=2.0, a=1.0)
    True
    >>> x = torch.randn(256, 32, generator=torch.Generator().manual_seed(1))
    >>> report.measure(block, x).assert_healthy()      # within [1/10, 10], |z| <= 5
    """
    names = _check_init_arguments(scheme, params, warn, generator, override_a)
    if override_a is not None:
        override_a = _validate.real_scalar(override_a, "override_a", 0, 1)
    stated = params.pop("a", None) if "a" in names else None
    if stated is not None:
        stated = _validate.real_scalar(stated, "a", 0, 1)
    if "input_rms" in params:
        params["input_rms"] = _validate.real_scalar(params["input_rms"], "input_rms",
                                                    *INPUT_RMS_RANGE)
    branch_scale = _check_branch_scale(branch_scale)
    reading = _read_model(model)
    _check_example_input(model, example_input)
    alpha = _alpha(branch_scale, reading.additions)
    plan, skipped_layers = _plan_modules(model, scheme, params, override_a, stated, reading,
                                         alpha, generator)
    skipped = _skipped_parameters(model, plan, skipped_layers, scheme)
    for planned in plan:
        for tensor, fill in planned.fills:
            fill(tensor)
    if skipped and warn:
        listed = ", ".join(f"{p.name!r}" for p in skipped[:6]) + (
            f" and {len(skipped) - 6} more" if len(skipped) > 6 else "")
        warnings.warn(f"init_model_ left {len(skipped)} parameter(s) unchanged that no "
                      f"{scheme} scale covers: {listed} (see the report's .skipped; "
                      "warn=False silences this)", InitCoverageWarning, stacklevel=2)
    rms = params.get("input_rms", 1.0)
    report = _report(plan, skipped, reading, alpha, rms)
    if example_input is not None:
        report.measure(model, example_input)
    return report


def _check_init_arguments(scheme, params, warn, generator, override_a):
    """The scheme's parameter names, after checking init_model_'s arguments (before any
    layer is looked at, in the order the errors have always been raised)."""
    _validate.choice(scheme, "scheme", SCHEMES)
    names = _SCHEMES[scheme][1]
    unknown = sorted(set(params) - set(names))
    if unknown:
        raise ValueError(f"scheme={scheme!r} takes the parameters {', '.join(names)}; "
                         f"got {', '.join(unknown)}")
    if not isinstance(warn, (bool, np.bool_)):
        raise ValueError(f"warn must be True or False, got {_validate.shown(warn)}")
    _check_generator(generator)
    if override_a is not None:
        if "a" not in names:
            raise ValueError(f"override_a: scheme={scheme!r} takes no slope")
        if params.get("a") is not None:
            raise ValueError("pass either a (checked against the model) or override_a "
                             "(used for every layer), not both")
    return names


def _check_branch_scale(branch_scale):
    if isinstance(branch_scale, str):
        return _validate.choice(branch_scale, "branch_scale", ("depth",))
    return _validate.real_scalar(branch_scale, "branch_scale", 0, 1)


def _check_example_input(model, example_input):
    """Check example_input, and that the model runs on it, before anything changes."""
    if example_input is None:
        return
    inputs = example_input if isinstance(example_input, tuple) else (example_input,)
    if not all(isinstance(x, torch.Tensor) for x in inputs):
        raise ValueError(f"example_input must be a tensor or a tuple of tensors, got "
                         f"{type(example_input).__name__}")
    if isinstance(model, nn.Module):
        with torch.no_grad():
            run_eval(model, inputs, "example_input")


def _alpha(branch_scale, additions):
    """alpha: the given float, or 1/sqrt(number of residual additions) for "depth"; None
    when the model has no residual addition."""
    if not additions:
        return None
    return 1 / math.sqrt(additions) if branch_scale == "depth" else float(branch_scale)


class _Reading(NamedTuple):
    """What init_model_ read from the model: per layer module, (description, slope) of
    what follows it and its kind ("layer", "before-norm", "residual-end"); reasons for the
    layers that cannot be read; the graph (None for the Sequential fallback), how it was
    read, the number of residual additions, and per module its graph node."""
    following: dict
    kinds: dict
    reasons: dict
    graph: object
    source: str
    additions: int
    nodes: dict


_CONSUMER_KINDS = {"linear": "layer", "output": "layer", "sum": "layer", "stream": "layer",
                   "norm": "before-norm", "residual": "residual-end"}


def _follower(graph, node, branches):
    """((description, slope), kind, reason) for the module at graph node ``node``."""
    found = consumer(graph, node, branches)
    if found.kind == "activation":
        spec = graph.nodes[found.node].spec
        read = _activation(spec) if isinstance(spec, nn.Module) else _functional(*spec)
        return read, "layer", ""
    if found.kind in _CONSUMER_KINDS:
        return ("identity", 1.0), _CONSUMER_KINDS[found.kind], ""
    return (_UNKNOWN, None), "layer", found.reason


def _read_model(model):
    """The :class:`_Reading` of the model: its fx graph, or the Sequential fallback."""
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be an nn.Module, got {type(model).__name__}")
    graph, why = read_graph(model)
    if graph is None:
        following = _followers(model)
        return _Reading(following, {}, {}, None, f"Sequential fallback: {why}", 0, {})
    branches = residual_branches(graph)
    following, kinds, reasons, nodes, calls = {}, {}, {}, {}, {}
    for node in graph.nodes:
        if node.kind not in ("layer", "attention", "norm", "embedding"):
            continue
        key = id(node.module)
        calls[key] = calls.get(key, 0) + 1
        nodes[key] = node.index
        if node.kind in ("layer", "attention"):
            target = node.module.out_proj if node.kind == "attention" else node.module
            (following[id(target)], kinds[id(target)],
             reasons[id(target)]) = _follower(graph, node.index, branches)
    for m in model.modules():
        if isinstance(m, LAYER_TYPES) and id(m) not in following:
            following[id(m)] = (_UNKNOWN, None)
            reasons[id(m)] = "the module is not called in the model's forward (as traced)"
    for key, count in calls.items():
        if count > 1:
            following[key] = (_UNKNOWN, None)
            reasons[key] = f"the module is called {count} times in the forward (shared weights)"
            nodes.pop(key)
    return _Reading(following, kinds, reasons, graph, graph.source, len(branches), nodes)


def _functional(key, parameters):
    """(description, slope) of a functional activation, as :func:`_activation` reads the
    module of the same name."""
    phi = _resolve_activation(key, **parameters)
    if phi.slopes is not None:
        name = "ReLU" if key == "relu" else f"leaky_relu(negative_slope={phi.slopes[1]:g})"
        return name, float(phi.slopes[1])
    values = ", ".join(f"{k}={_parameter_text(v)}" for k, v in parameters.items())
    text = f"{key}({values})" if values else key
    return text, _Elementwise(text, phi)


def _layer_activation(name, m, scheme, override_a, stated, following):
    """(activation, slope) that a layer's scale is computed for; a stated slope that the
    model contradicts is an error."""
    if scheme == "xavier":
        return "any", None
    if override_a is not None:
        return "override", override_a
    activation, slope = following.get(id(m), (_UNKNOWN, None))
    if stated is not None and activation not in ("identity", _UNKNOWN) and \
            slope is not None and not isinstance(slope, _Elementwise) and slope != stated:
        raise ValueError(f"a={stated:g} disagrees with the model: layer {name!r} is "
                         f"followed by {activation}; drop a (the model's slopes are "
                         f"used) or pass override_a={stated:g} to force it")
    return activation, slope


class _Planned(NamedTuple):
    """One module's record, and the fills to apply: [(tensor, fill function)]; detail:
    an attention's (q, k, v) stds, or a layer's (bias variance,) (report_model)."""
    record: InitRecord
    module: nn.Module
    fills: list
    detail: tuple = ()


def _normal(std, generator):
    return lambda tensor: _fill(tensor, std, generator)


def _constant(value):
    def fill(tensor):
        with torch.no_grad():
            tensor.fill_(value)
    return fill


def _checked_std(name, scheme, weight, slope, params, dtype):
    """The layer's std (ValueError naming the layer), or raise _NoScale."""
    try:
        std = _layer_std(scheme, weight, slope, params)
        return _check_std(std, dtype, name=f"model layer {name!r}")
    except ValueError as error:
        raise ValueError(f"model layer {name!r}: {error}") from None


def _plan_layer(name, m, scheme, params, override_a, stated, reading, alpha, generator):
    """The _Planned of one Linear/Conv layer, or the reason it has no scale (a str)."""
    activation, slope = _layer_activation(name, m, scheme, override_a, stated,
                                          reading.following)
    if scheme != "xavier" and override_a is None and slope is None:
        reason = reading.reasons.get(id(m)) or (
            "the activation after this layer cannot be read from the model "
            "(not in an nn.Sequential chain, or last in a chain inside another module)")
        return (f"layer followed by {activation}: no {scheme} scale for it"
                if activation != _UNKNOWN else reason)
    try:
        std = _checked_std(name, scheme, m.weight, slope, params, m.weight.dtype)
    except _NoScale as why:
        return f"layer followed by {activation}: {why}"
    kind = reading.kinds.get(id(m), "layer")
    scale = alpha if kind == "residual-end" else None
    if scale is not None:
        std *= scale
        try:
            _check_std(std, m.weight.dtype, name=f"model layer {name!r}")
        except ValueError as error:
            raise ValueError(f"{error} (branch_scale = {scale:g})") from None
    record_a = (None if scheme == "xavier" or (scheme == "hessian" and slope == 1.0)
                or isinstance(slope, _Elementwise) else slope)
    # the factor is always that of the activation in the model (override_a included)
    actual = slope if override_a is None else reading.following.get(id(m), (_UNKNOWN, None))[1]
    factor = None if actual is None or std == 0 else _moment_factor(scheme, m.weight, actual,
                                                                    std, params)
    fills = [(m.weight, _normal(std, generator))]
    if m.bias is not None:
        fills.append((m.bias, _constant(0.0)))
    return _Planned(InitRecord(name, tuple(m.weight.shape), std, activation, record_a,
                               factor, kind=kind, residual_scale=scale), m, fills)


def _plan_norm(name, m):
    weight, bias = getattr(m, "weight", None), getattr(m, "bias", None)   # RMSNorm: no bias
    fills = [(p, _constant(value)) for p, value in ((weight, 1.0), (bias, 0.0))
             if isinstance(p, torch.Tensor)]
    shape = tuple(weight.shape) if isinstance(weight, torch.Tensor) else ()
    return _Planned(InitRecord(name, shape, 0.0, "none", kind="norm"), m, fills)


def _plan_embedding(name, m, rms, generator):
    _check_std(rms, m.weight.dtype, name=f"model embedding {name!r}")

    def fill(tensor):
        _fill(tensor, rms, generator)
        if m.padding_idx is not None:
            with torch.no_grad():
                tensor[m.padding_idx].zero_()
    return _Planned(InitRecord(name, tuple(m.weight.shape), rms, "none", kind="embedding"),
                    m, [(m.weight, fill)])


def _projections(m):
    """[(tensor, [(row slice, shape)])] of an nn.MultiheadAttention's Q, K, V weights."""
    if m.in_proj_weight is not None:
        e = m.embed_dim
        return [(m.in_proj_weight, [(slice(i * e, (i + 1) * e), (e, e)) for i in range(3)])]
    return [(w, [(slice(None), tuple(w.shape))])
            for w in (m.q_proj_weight, m.k_proj_weight, m.v_proj_weight)]


def _plan_attention(name, m, scheme, params, generator):
    """The Q, K, V projections at the scheme's identity std for their shape, biases 0."""
    fills, stds = [], []
    for tensor, blocks in _projections(m):
        block_stds = [_checked_std(name, scheme, shape, 1.0, params, tensor.dtype)
                      for _, shape in blocks]
        stds += block_stds

        def fill(t, blocks=blocks, block_stds=block_stds):
            for (rows, _), std in zip(blocks, block_stds):
                _fill(t[rows], std, generator)
        fills.append((tensor, fill))
    if m.in_proj_bias is not None:
        fills.append((m.in_proj_bias, _constant(0.0)))
    record = InitRecord(name, (3 * m.embed_dim, m.embed_dim), stds[0], "none",
                        kind="attention-in")
    return _Planned(record, m, fills, tuple(stds))


def _plan_modules(model, scheme, params, override_a, stated, reading, alpha, generator):
    """[_Planned] in named_modules order, and {id(module): reason} for the layers without a
    scale; every std is computed and checked before anything is drawn."""
    modules = _layers(model)
    rms = params.get("input_rms", 1.0)
    plan, skipped_layers, attention = [], {}, set()
    for name, m in modules:
        if isinstance(m, LAYER_TYPES):
            planned = _plan_layer(name, m, scheme, params, override_a, stated, reading,
                                  alpha, generator)
            if isinstance(planned, str):
                skipped_layers[id(m)] = planned
                continue
            if name.rpartition(".")[0] in attention:       # an attention's out_proj
                planned = planned._replace(record=planned.record._replace(
                    kind="attention-out"))
        elif isinstance(m, NORM_TYPES):
            planned = _plan_norm(name, m)
        elif isinstance(m, nn.Embedding):
            planned = _plan_embedding(name, m, rms, generator)
        else:
            planned = _plan_attention(name, m, scheme, params, generator)
            attention.add(name)
        plan.append(planned)
    return plan, skipped_layers


def _skipped_parameters(model, plan, skipped_layers, scheme):
    """Every parameter of the model that the plan leaves unchanged, with the reason."""
    done = {id(tensor) for planned in plan for tensor, _ in planned.fills}
    skipped, seen = [], set()
    for module_name, module in model.named_modules():
        for param_name, param in module.named_parameters(recurse=False):
            if id(param) in done or id(param) in seen:
                continue
            seen.add(id(param))
            full = f"{module_name}.{param_name}" if module_name else param_name
            reason = skipped_layers.get(id(module)) if param_name in ("weight", "bias") \
                else None
            if isinstance(module, nn.MultiheadAttention) and param_name in ("bias_k", "bias_v"):
                reason = (f"MultiheadAttention.{param_name}: an extra learned key/value token "
                          "has no scale the theory gives")
            skipped.append(SkippedParameter(full, tuple(param.shape), reason or (
                f"{type(module).__name__}.{param_name}: no {scheme} scale for this "
                "parameter")))
    return skipped


def _report(plan, skipped, reading, alpha, rms):
    """The InitReport: records with their predictions along the graph (none for the
    Sequential fallback)."""
    options = dict(graph=reading.source, residual_additions=reading.additions,
                   branch_scale=alpha, input_ms=rms * rms)
    records = [planned.record for planned in plan]
    if reading.graph is None:
        return InitReport(records, skipped, **options)
    layers, attention, embeddings, nodes = {}, {}, {}, {}
    by_name = {planned.record.name: planned for planned in plan}
    for planned in plan:
        record, m = planned.record, planned.module
        if record.kind == "attention-out":
            owner = by_name[record.name.rpartition(".")[0]]
            attention[id(owner.module)] = tuple(s * s for s in owner.detail) + (
                record.std ** 2,)
            m = owner.module
        elif record.kind in ("layer", "before-norm", "residual-end"):
            layers[id(m)] = (record.std ** 2, planned.detail[0] if planned.detail else 0.0)
        elif record.kind == "embedding":
            embeddings[id(m)] = record.std ** 2
        if id(m) in reading.nodes:
            which = "mixture" if record.kind == "attention-in" else "state"
            nodes[record.name] = (reading.nodes[id(m)], which)
    scales = _Scales(layers, attention, embeddings)
    inputs = [(rms * rms, 0.0)] * sum(n.kind == "input" for n in reading.graph.nodes)
    predicted = predictions(reading.graph, scales, inputs, nodes)
    records = [r._replace(**dict(zip(("predicted", "spread", "approximation"),
                                     predicted[r.name]))) if r.name in predicted else r
               for r in records]
    context = {"graph": reading.graph, "scales": scales, "nodes": nodes}
    return InitReport(records, skipped, context=context, **options)


def _rms(tensor):
    return float(tensor.detach().double().pow(2).mean().sqrt())


def _current(name, m, reading):
    """The _Planned (no fills) describing module m's weights as they are."""
    if isinstance(m, NORM_TYPES):
        return _plan_norm(name, m)._replace(fills=[])
    if isinstance(m, nn.Embedding):
        return _Planned(InitRecord(name, tuple(m.weight.shape), _rms(m.weight), "none",
                                   kind="embedding"), m, [])
    if isinstance(m, nn.MultiheadAttention):
        stds = [_rms(t[rows]) for t, blocks in _projections(m) for rows, _ in blocks]
        return _Planned(InitRecord(name, (3 * m.embed_dim, m.embed_dim), stds[0], "none",
                                   kind="attention-in"), m, [], tuple(stds))
    activation, slope = reading.following.get(id(m), (_UNKNOWN, None))
    kind = reading.kinds.get(id(m), "layer")
    bias2 = 0.0 if m.bias is None else _rms(m.bias) ** 2
    record = InitRecord(name, tuple(m.weight.shape), _rms(m.weight), activation,
                        None if isinstance(slope, _Elementwise) else slope, kind=kind,
                        residual_scale=1.0 if kind == "residual-end" else None)
    return _Planned(record, m, [], (bias2,))


def report_model(model: nn.Module, example_input: torch.Tensor | tuple | None = None, *,
                 input_rms: float = 1.0) -> InitReport:
    r"""The report of :func:`init_model_` for the model's weights as they are, changing
    nothing: each weight is read as iid :math:`N(0, \sigma^2)` draws with :math:`\sigma`
    its root mean square, each bias as :math:`N(0, \sigma_b^2)` with :math:`\sigma_b^2`
    its mean square (an approximation for weights that were not drawn so, e.g. torch's
    uniform defaults or trained weights: only their second moments enter).

    Parameters
    ----------
    model : nn.Module
    example_input : torch.Tensor or tuple of torch.Tensor, optional
        A batch to measure (:meth:`InitReport.measure`).
    input_rms : float, default 1
        The inputs' root mean square per coordinate the predictions are for, in
        [1e-6, 1e6] (replaced by the batch's when one is given).

    Returns
    -------
    InitReport
        Records as :func:`init_model_`'s (``std`` the weight's root mean square;
        ``residual_scale`` 1.0 marks a residual branch's last layer), nothing skipped.

    Examples
    --------
    torch's default Linear init (uniform, std :math:`1/\sqrt{3\,\mathrm{fan\_in}}`, and
    a bias) keeps a third of the mean square per layer, up to the bias's share:

    >>> import torch
    >>> from initmath.nn import report_model
    >>> torch.manual_seed(0)                                  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> net = torch.nn.Sequential(torch.nn.Linear(256, 256), torch.nn.Linear(256, 256))
    >>> report = report_model(net)
    >>> [round(r.predicted, 2) for r in report]
    [0.33, 0.11]
    """
    rms = _validate.real_scalar(input_rms, "input_rms", *INPUT_RMS_RANGE)
    reading = _read_model(model)
    _check_example_input(model, example_input)
    attention = {name for name, m in model.named_modules()
                 if isinstance(m, nn.MultiheadAttention)}
    plan = [_current(name, m, reading) for name, m in _layers(model)]
    # an attention's out_proj (also when it ends a residual branch), as init_model_ has it
    plan = [p._replace(record=p.record._replace(kind="attention-out"))
            if p.record.name.rpartition(".")[0] in attention and p.record.kind != "attention-in"
            else p for p in plan]
    report = _report(plan, [], reading, None, rms)
    if example_input is not None:
        report.measure(model, example_input)
    return report

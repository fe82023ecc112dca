"""Activation functions as mathematical objects: phi in float64 and mpmath, and where it
is not analytic.

Every torch activation module that acts elementwise has an entry here, with torch's own
definition (Softplus's switch to the identity above ``threshold``, GELU's two forms,
SELU's constants to full precision).  :func:`activation` resolves a name, a torch module
instance (its parameters read from the module, without importing torch) or a user's
callable to an :class:`Activation`.

The breakpoints are the x where phi is not analytic (kinks, jumps, formula switches) and
its zeros: the Gaussian integrals of :mod:`initmath._engine.gaussian` cut there, which
makes them exact to rounding for piecewise-analytic phi.

>>> from initmath.activations import activation
>>> gelu = activation("GELU")
>>> float(gelu.numpy(1.0))                  # x Phi(x) at 1
0.8413447460685429
>>> activation("hardtanh", min_val=-2.0, max_val=2.0).breakpoints
(-2.0, 0.0, 2.0)
"""
import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import mpmath
import numpy as np
from scipy import special

from . import _validate

__all__ = ["ACTIVATIONS", "Activation", "Derivative", "activation"]

# SELU's constants (Klambauer et al. 2017), to the digits torch uses.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
_SQRT_2PI = math.sqrt(2 * math.pi)


class Derivative(NamedTuple):
    """phi' as float64 (``numpy``, elementwise on arrays) and as mpmath (``mpmath``, on one
    number): the derivative almost everywhere, its value at a kink or jump being one of the
    one-sided derivatives (a jump's delta is not part of it)."""

    numpy: Callable[[Any], Any]
    mpmath: Callable[[Any], Any]


class Activation(NamedTuple):
    """phi as float64 (``numpy``, elementwise on arrays) and as mpmath (``mpmath``, on one
    number); ``breakpoints``: sorted x of kinks, jumps and zeros; ``slopes``: (1, a) when
    phi(x) = x for x > 0 and a x for x < 0 (positively homogeneous), else None;
    ``derivative``: phi' (a :class:`Derivative`; None for a user's callable unless given)."""

    name: str
    numpy: Callable[[Any], Any]
    mpmath: Callable[[Any], Any]
    breakpoints: tuple[float, ...]
    slopes: tuple[float, float] | None = None
    derivative: Derivative | None = None


def _leaky(negative_slope):
    a = negative_slope
    return Activation(f"leaky_relu(negative_slope={a:g})" if a not in (0, 1) else
                      ("relu" if a == 0 else "identity"),
                      lambda x: np.where(x > 0, x, a * np.asarray(x, float)),
                      lambda x: x if x > 0 else a * x, (0.0,), (1.0, float(a)),
                      Derivative(lambda x: np.where(x > 0, 1.0, a),
                                 lambda x: mpmath.mpf(1 if x > 0 else a)))


def _elu(alpha, scale=1.0, name=None):
    return Activation(name or f"elu(alpha={alpha:g})",
                      lambda x: scale * np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0))),
                      lambda x: scale * (x if x > 0 else alpha * mpmath.expm1(x)), (0.0,),
                      derivative=Derivative(
                          lambda x: scale * np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0))),
                          lambda x: scale * (1 if x > 0 else alpha * mpmath.exp(x))))


def _celu(alpha):
    return Activation(f"celu(alpha={alpha:g})",
                      lambda x: np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0) / alpha)),
                      lambda x: x if x > 0 else alpha * mpmath.expm1(x / alpha), (0.0,),
                      derivative=Derivative(
                          lambda x: np.where(x > 0, 1.0, np.exp(np.minimum(x, 0) / alpha)),
                          lambda x: mpmath.mpf(1) if x > 0 else mpmath.exp(x / alpha)))


def _gelu(approximate):
    if approximate == "none":
        return Activation("gelu", lambda x: x * special.ndtr(x),
                          lambda x: x * mpmath.ncdf(x), (0.0,), derivative=Derivative(
                              lambda x: special.ndtr(x) + x * np.exp(-x * x / 2) / _SQRT_2PI,
                              lambda x: mpmath.ncdf(x) + x * mpmath.npdf(x)))
    k = math.sqrt(2 / math.pi)

    def derivative_mp(x):
        c, u = mpmath.mpf("0.044715"), mpmath.sqrt(2 / mpmath.pi)
        t = mpmath.tanh(u * (x + c * x ** 3))
        return (1 + t) / 2 + x / 2 * (1 - t * t) * u * (1 + 3 * c * x * x)

    return Activation("gelu(approximate='tanh')",
                      lambda x: 0.5 * x * (1 + np.tanh(k * (x + 0.044715 * x ** 3))),
                      lambda x: x / 2 * (1 + mpmath.tanh(mpmath.sqrt(2 / mpmath.pi)
                                                         * (x + mpmath.mpf("0.044715")
                                                            * x ** 3))), (0.0,),
                      derivative=Derivative(
                          lambda x: 0.5 * (1 + np.tanh(k * (x + 0.044715 * x ** 3)))
                          + 0.5 * x * _sech2(k * (x + 0.044715 * x ** 3))
                          * k * (1 + 3 * 0.044715 * x * x), derivative_mp))


def _softplus(beta, threshold):
    # torch: (1/beta) log(1 + exp(beta x)), and x itself where beta x > threshold.
    return Activation(f"softplus(beta={beta:g}, threshold={threshold:g})",
                      lambda x: np.where(beta * x > threshold, x,
                                         np.logaddexp(0, beta * np.asarray(x, float)) / beta),
                      lambda x: x if beta * x > threshold else mpmath.log1p(
                          mpmath.exp(beta * x)) / beta, (threshold / beta,),
                      derivative=Derivative(
                          lambda x: np.where(beta * x > threshold, 1.0, special.expit(beta * x)),
                          lambda x: mpmath.mpf(1) if beta * x > threshold else
                          1 / (1 + mpmath.exp(-beta * x))))


def _hardtanh(min_val, max_val, name=None):
    low, high = min_val, max_val
    points = tuple(sorted({low, high} | ({0.0} if low < 0 < high else set())))
    return Activation(name or f"hardtanh(min_val={low:g}, max_val={high:g})",
                      lambda x: np.clip(x, low, high),
                      lambda x: min(max(x, low), high), points,
                      derivative=Derivative(lambda x: np.where((x > low) & (x < high), 1.0, 0.0),
                                            lambda x: mpmath.mpf(int(low < x < high))))


def _shrink(lambd, hard):
    outside = Derivative(lambda x: np.where(np.abs(x) > lambd, 1.0, 0.0),
                         lambda x: mpmath.mpf(int(abs(x) > lambd)))
    if hard:
        return Activation(f"hardshrink(lambd={lambd:g})",
                          lambda x: np.where(np.abs(x) > lambd, x, 0.0),
                          lambda x: x if abs(x) > lambd else 0 * x, (-lambd, lambd),
                          derivative=outside)
    return Activation(f"softshrink(lambd={lambd:g})",
                      lambda x: np.sign(x) * np.maximum(np.abs(x) - lambd, 0.0),
                      lambda x: mpmath.sign(x) * max(abs(x) - lambd, 0), (-lambd, lambd),
                      derivative=outside)


def _threshold(threshold, value):
    return Activation(f"threshold(threshold={threshold:g}, value={value:g})",
                      lambda x: np.where(x > threshold, x, value),
                      lambda x: x if x > threshold else mpmath.mpf(value), (threshold,),
                      derivative=Derivative(lambda x: np.where(x > threshold, 1.0, 0.0),
                                            lambda x: mpmath.mpf(int(x > threshold))))


def _fixed(name, f, f_mp, points, df, df_mp):
    return lambda: Activation(name, f, f_mp, points, derivative=Derivative(df, df_mp))


def _sech2(x):
    """sech(x)^2 = 1 - tanh(x)^2 in float64, accurate in the tails and without overflow."""
    e = np.exp(-2 * np.abs(x))
    return 4 * e / (1 + e) ** 2


def _sech2_mp(x):
    return 1 / mpmath.cosh(x) ** 2


# name -> (builder, {parameter: (default, low, high)}); torch module class names map here.
ACTIVATIONS: dict[str, tuple[Callable[..., Activation], dict]] = {
    "identity": (lambda: _leaky(1.0), {}),
    "relu": (lambda: _leaky(0.0), {}),
    "leakyrelu": (_leaky, {"negative_slope": (0.01, 0.0, 1.0)}),
    "prelu": (_leaky, {"negative_slope": (0.25, 0.0, 1.0)}),
    "elu": (_elu, {"alpha": (1.0, 0.0, None)}),
    "celu": (_celu, {"alpha": (1.0, 0.0, None)}),
    "selu": (lambda: _elu(SELU_ALPHA, SELU_SCALE, "selu"), {}),
    "gelu": (_gelu, {"approximate": ("none", None, None)}),
    "silu": (_fixed("silu", lambda x: x * special.expit(x),
                    lambda x: x / (1 + mpmath.exp(-x)), (0.0,),
                    lambda x: special.expit(x) * (1 + x * special.expit(-x)),
                    lambda x: (1 + x / (1 + mpmath.exp(x))) / (1 + mpmath.exp(-x))), {}),
    "mish": (_fixed("mish", lambda x: x * np.tanh(np.logaddexp(0, x)),
                    lambda x: x * mpmath.tanh(mpmath.log1p(mpmath.exp(x))), (0.0,),
                    lambda x: np.tanh(np.logaddexp(0, x))
                    + x * _sech2(np.logaddexp(0, x)) * special.expit(x),
                    lambda x: mpmath.tanh(mpmath.log1p(mpmath.exp(x)))
                    + x * _sech2_mp(mpmath.log1p(mpmath.exp(x))) / (1 + mpmath.exp(-x))), {}),
    "softplus": (_softplus, {"beta": (1.0, 0.0, None), "threshold": (20.0, 0.0, None)}),
    "tanh": (_fixed("tanh", np.tanh, mpmath.tanh, (0.0,), _sech2, _sech2_mp), {}),
    "sigmoid": (_fixed("sigmoid", special.expit, lambda x: 1 / (1 + mpmath.exp(-x)), (),
                       lambda x: special.expit(x) * special.expit(-x),
                       lambda x: 1 / (mpmath.exp(x) + 2 + mpmath.exp(-x))), {}),
    "hardtanh": (_hardtanh, {"min_val": (-1.0, None, None), "max_val": (1.0, None, None)}),
    "relu6": (lambda: _hardtanh(0.0, 6.0, "relu6"), {}),
    "hardswish": (_fixed("hardswish", lambda x: x * np.clip(x + 3, 0, 6) / 6,
                         lambda x: x * min(max(x + 3, 0), 6) / 6, (-3.0, 0.0, 3.0),
                         lambda x: np.where(x > 3, 1.0, np.where(x > -3, (2 * x + 3) / 6, 0.0)),
                         lambda x: mpmath.mpf(1) if x > 3 else
                         ((2 * x + 3) / 6 if x > -3 else mpmath.mpf(0))), {}),
    "hardsigmoid": (_fixed("hardsigmoid", lambda x: np.clip(x / 6 + 0.5, 0, 1),
                           lambda x: min(max(x / 6 + mpmath.mpf(1) / 2, 0), 1),
                           (-3.0, 3.0), lambda x: np.where(np.abs(x) < 3, 1 / 6, 0.0),
                           lambda x: mpmath.mpf(1) / 6 if abs(x) < 3 else mpmath.mpf(0)), {}),
    "softsign": (_fixed("softsign", lambda x: x / (1 + np.abs(x)),
                        lambda x: x / (1 + abs(x)), (0.0,),
                        lambda x: 1 / (1 + np.abs(x)) ** 2, lambda x: 1 / (1 + abs(x)) ** 2), {}),
    "tanhshrink": (_fixed("tanhshrink", lambda x: x - np.tanh(x),
                          lambda x: x - mpmath.tanh(x), (0.0,),
                          lambda x: np.tanh(x) ** 2, lambda x: mpmath.tanh(x) ** 2), {}),
    "logsigmoid": (_fixed("logsigmoid", lambda x: -np.logaddexp(0, -np.asarray(x, float)),
                          lambda x: -mpmath.log1p(mpmath.exp(-x)), (),
                          lambda x: special.expit(-np.asarray(x, float)),
                          lambda x: 1 / (1 + mpmath.exp(x))), {}),
    "softshrink": (lambda lambd: _shrink(lambd, False), {"lambd": (0.5, 0.0, None)}),
    "hardshrink": (lambda lambd: _shrink(lambd, True), {"lambd": (0.5, 0.0, None)}),
    "threshold": (_threshold, {"threshold": (None, None, None), "value": (None, None, None)}),
}


def _key(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "")


def _parameters(key: str, given: dict) -> dict:
    """The builder's keyword arguments: defaults, then ``given``, each checked."""
    spec = ACTIVATIONS[key][1]
    unknown = sorted(set(given) - set(spec))
    if unknown:
        raise ValueError(f"activation {key!r} takes the parameters {sorted(spec) or 'none'}, "
                         f"got {unknown}")
    out = {}
    for name, (default, low, high) in spec.items():
        value = given.get(name, default)
        if value is None:
            raise ValueError(f"activation {key!r} needs the parameter {name}")
        if name == "approximate":
            out[name] = _validate.choice(value, "approximate", ("none", "tanh"))
        else:
            out[name] = _validate.real_scalar(value, name, low, high)
    if key in ("elu", "celu") and out["alpha"] == 0:
        raise ValueError(f"alpha must be > 0 for {key}, got 0")
    if key == "softplus" and out["beta"] == 0:
        raise ValueError("beta must be > 0, got 0")
    if key == "hardtanh" and not out["min_val"] < out["max_val"]:
        raise ValueError(f"hardtanh needs min_val < max_val, got {out['min_val']:g}, "
                         f"{out['max_val']:g}")
    return out


def _from_torch_module(module: Any) -> tuple[str, dict]:
    """(registry key, parameters) of a torch activation module instance."""
    key = _key(type(module).__name__)
    if key not in ACTIVATIONS:
        raise ValueError(f"activation: torch module {type(module).__name__} is not an "
                         f"elementwise activation initmath knows ({', '.join(ACTIVATIONS)})")
    if key == "prelu":
        weight = module.weight.detach().cpu().reshape(-1)
        if weight.numel() != 1:
            raise ValueError("activation: a PReLU with one slope per channel has no single "
                             "activation; use num_parameters=1")
        return key, {"negative_slope": float(weight[0])}
    names = ACTIVATIONS[key][1]
    return key, {name: getattr(module, name) for name in names if hasattr(module, name)}


def activation(spec: Any, *, breakpoints: Sequence[float] = (0.0,), **parameters: Any
               ) -> Activation:
    """The :class:`Activation` for a name, a torch activation module, or a callable.

    Parameters
    ----------
    spec : str, torch.nn.Module, Activation or callable
        A name of :data:`ACTIVATIONS` (case, ``_`` and ``-`` ignored; torch's class
        names such as ``"LeakyReLU"`` work), a torch activation module instance (its
        parameters are read from it), an :class:`Activation`, or a user's function phi,
        which must accept a float64 numpy array (elementwise) and an mpmath number.
    breakpoints : sequence of float, default (0,)
        For a callable only: the x where phi is not analytic or vanishes.
    **parameters
        The activation's parameters by torch's names (``negative_slope``, ``alpha``,
        ``approximate``, ``beta``, ``threshold``, ``min_val``, ``max_val``, ``lambd``,
        ``value``).

    Returns
    -------
    Activation

    Raises
    ------
    ValueError
        For an unknown name or module, a parameter outside its range, or non-finite
        breakpoints.

    Examples
    --------
    >>> from initmath.activations import activation
    >>> activation("LeakyReLU", negative_slope=0.2).slopes
    (1.0, 0.2)
    >>> activation(lambda x: x * x, breakpoints=[0]).breakpoints
    (0.0,)
    """
    if isinstance(spec, Activation):
        return spec
    if isinstance(spec, str):
        key = _key(spec)
        if key not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, a torch "
                             f"activation module or a callable, got {_validate.shown(spec)}")
        return ACTIVATIONS[key][0](**_parameters(key, parameters))
    if type(spec).__module__.startswith("torch"):
        key, read = _from_torch_module(spec)
        return ACTIVATIONS[key][0](**_parameters(key, {**read, **parameters}))
    if callable(spec):
        points = tuple(sorted(float(_validate.real_scalar(b, "breakpoints")) for b in
                              breakpoints))
        if not all(math.isfinite(b) for b in points):
            raise ValueError(f"breakpoints must be finite, got {_validate.shown(breakpoints)}")
        name = getattr(spec, "__name__", repr(spec))
        return Activation(name, spec, spec, points)
    raise ValueError(f"activation must be a name, a torch activation module or a callable, "
                     f"got {_validate.shown(spec)}")

"""Checks of initmath.finite_width: the exact one-layer moment map E[r'^s | r] for
activations that are not positively homogeneous, simulated with the real torch modules.

A sample is a network of layers_per_sample(d) square layers of width d, x -> phi(sigma W x)
with the torch module phi; the state is renormalised to unit norm before each layer
(simulate.norm_ratios), so each layer's output norm r' is an iid draw of the norm after
one layer from an input of norm r = 1, whatever phi: the pre-activations are
N(0, sigma^2) for every unit input.  The statistic is the mean of r'^s over the layers.
Budgets: per-sample relative sd sqrt(E r'^(2s) / (E r'^s)^2 - 1) / sqrt(layers), from
moment_map itself; the default detects a 1% error of sigma with probability 0.99.
Negative controls: the infinite-width prediction (d E phi(sigma g)^2)^(s/2) at d = 2, and
the ReLU moment factor used for GELU.
"""
import math

import torch

import initmath
from initmath.activations import activation
from initmath.finite_width import moment_map

from . import simulate
from .core import Check, quick_samples, samples_for

AREA = "any_activation"


def layers_per_sample(d):
    """8 layers per network, 2 at large d (a quick run still affords 64 networks)."""
    return 8 if d <= 64 else 2


# Weight standard deviation (the input norm is 1): c = 1.5 puts every activation in its
# nonlinear range.
SIGMA = 1.5
# Quick runs: at most this many weight entries per check (well under 1 s on one CPU core).
_QUICK_ENTRIES = 4e6
_SIGMA_TARGET = 0.009
MODULES = {"GELU": torch.nn.GELU, "Tanh": torch.nn.Tanh, "SiLU": torch.nn.SiLU,
           "SELU": torch.nn.SELU}
GRID = [(d, s) for d in (2, 16, 256) for s in (1.0, 2.0, 0.5)]


def _layer_check(name, module, s, d, theory, *, negative=False):
    phi = activation(module)
    layers = layers_per_sample(d)
    rsd = math.sqrt(moment_map(2 * s, d, phi, SIGMA) / moment_map(s, d, phi, SIGMA) ** 2 - 1)
    samples = samples_for(rsd / math.sqrt(layers), _SIGMA_TARGET * s, "iid", 256)

    def simulate_(generator, n):
        ratios = simulate.norm_ratios([d] * (layers + 1), [SIGMA] * layers, n, generator,
                                      lambda z, _: module(z))
        return (ratios ** s).mean(dim=1)

    return Check(name=name, area=AREA,
                 params=dict(activation=type(module).__name__, s=s, d=d, sigma=SIGMA),
                 simulate=simulate_, theory=float(theory), samples=samples,
                 quick_samples=quick_samples(samples, d * d * layers,
                                             _QUICK_ENTRIES),
                 rule="iid", sensitivity=s, negative_control=negative)


def moment_map_checks():
    """E r'^s after one layer equals moment_map at finite width, for each module."""
    return [_layer_check(f"{label} moment map s={s:g} d={d}", make(), s, d,
                         moment_map(s, d, make(), SIGMA))
            for label, make in MODULES.items() for d, s in GRID]


def control_checks():
    """Wrong predictions the same statistics must reject."""
    gelu = torch.nn.GELU()
    mean_field = 2 * moment_map(2, 1, gelu, SIGMA)          # d E phi(sigma g)^2 at d = 2
    return [
        _layer_check("GELU infinite-width (d E phi^2)^(s/2) at d=2", gelu, 1.0, 2,
                     mean_field ** 0.5, negative=True),
        _layer_check("GELU with the ReLU moment factor", gelu, 1.0, 16,
                     initmath.moment_factor(1.0, 16) * SIGMA, negative=True),
    ]


def checks():
    """All checks of this area, in report order."""
    with torch.no_grad():
        return tuple(moment_map_checks() + control_checks())

"""Checks of initmath.finite_width and initmath.mean_field for every activation of
initmath.activations.ACTIVATIONS, simulated with the real torch modules.

One-layer checks (moment_map): a sample is a network of layers_per_sample(d) square layers
of width d, x -> phi(sigma W x + b) with the torch module phi and, where sigma_b > 0, a
fresh bias b ~ N(0, sigma_b^2 I) per layer; the state is renormalised to unit norm before
each layer (simulate.norm_ratios), so each layer's output norm r' is an iid draw of the
norm after one layer from an input of norm r = 1, whatever phi: the pre-activations are
N(0, sigma^2 + sigma_b^2) for every unit input.  The statistic is the mean of r'^s over
the layers.  Budgets: per-sample relative sd sqrt(E r'^(2s) / (E r'^s)^2 - 1) /
sqrt(layers), from moment_map itself; the default detects a 1% error of sigma with
probability 0.99.

Mean-field checks: at width 1024 the per-coordinate second moment ||phi(h)||^2 / d of one
layer, h ~ N(0, q I), against variance_map; and a depth-10 tanh network of width 256 at
std gain("tanh") / sqrt(d), whose pre-activation second moment q^l = ||h^l||^2 / d stays 1
(simulated without renormalisation: tanh is not homogeneous).

Negative controls: the infinite-width prediction (d E phi(sigma g)^2)^(s/2) at d = 2, the
ReLU moment factor used for GELU, and torch.nn.init.calculate_gain's tanh (5/3) and SELU
(3/4) judged against "preserves q = 1".
"""
import math

import torch

import initmath
from initmath.activations import ACTIVATIONS, activation
from initmath.finite_width import moment_map
from initmath.mean_field import gain, variance_map

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
# Every other activation once, (d, s) taken in turn from this grid; Threshold with one
# setting (a jump at 0.1 to the value -0.5).
EVERY_GRID = [(d, s) for s in (0.5, 1.0, 2.0) for d in (2, 16, 64)]
THRESHOLD = (0.1, -0.5)
# Two bias cases: (module class, d, s, sigma_b).
BIAS_CASES = [("Tanh", 16, 1.0, 0.5), ("Softplus", 64, 0.5, 0.8)]
# Mean-field checks: width, and the (class, q) of the one-layer second moment.
WIDE = 1024
WIDE_CASES = [("Tanh", 1.0), ("GELU", 2.25), ("SELU", 1.0), ("Hardswish", 4.0),
              ("Sigmoid", 0.5)]
# The depth-10 network of width 256 (weights N(0, gain^2 / d)).
DEPTH, DEPTH_WIDTH = 10, 256


def torch_module(key):
    """A torch.nn module instance for a key of ACTIVATIONS, with default parameters
    (Threshold: THRESHOLD)."""
    name = next(n for n in dir(torch.nn) if n.lower() == key and
                isinstance(getattr(torch.nn, n), type))
    return getattr(torch.nn, name)(*(THRESHOLD if key == "threshold" else ()))


def biased(module, sigma_b):
    """phi(z + b), b ~ N(0, sigma_b^2) drawn per unit from the check's generator."""
    def act(z, generator):
        if sigma_b:
            z = z + sigma_b * torch.randn(z.shape, generator=generator, dtype=z.dtype,
                                          device=z.device)
        return module(z)
    return act


def _layer_check(name, module, s, d, theory, *, sigma_b=0.0, negative=False):
    """E r'^s through one layer of width d from a unit input, over layers_per_sample(d)
    layers per network; ``theory`` the predicted mean."""
    phi = activation(module)
    layers = layers_per_sample(d)
    rsd = math.sqrt(moment_map(2 * s, d, phi, SIGMA, sigma_b=sigma_b)
                    / moment_map(s, d, phi, SIGMA, sigma_b=sigma_b) ** 2 - 1)
    samples = samples_for(rsd / math.sqrt(layers), _SIGMA_TARGET * s, "iid", 256)
    act = biased(module, sigma_b)

    def simulate_(generator, n):
        with torch.no_grad():
            ratios = simulate.norm_ratios([d] * (layers + 1), [SIGMA] * layers, n,
                                          generator, act)
        return (ratios ** s).mean(dim=1)

    params = dict(activation=type(module).__name__, s=s, d=d, sigma=SIGMA)
    if sigma_b:
        params["sigma_b"] = sigma_b
    return Check(name=name, area=AREA, params=params,
                 simulate=simulate_, theory=float(theory), samples=samples,
                 quick_samples=quick_samples(samples, d * d * layers,
                                             _QUICK_ENTRIES),
                 rule="iid", sensitivity=s * SIGMA ** 2 / (SIGMA ** 2 + sigma_b ** 2),
                 negative_control=negative)


def moment_map_checks():
    """E r'^s after one layer equals moment_map at finite width, for each module."""
    return [_layer_check(f"{label} moment map s={s:g} d={d}", make(), s, d,
                         moment_map(s, d, make(), SIGMA))
            for label, make in MODULES.items() for d, s in GRID]


def every_activation_checks():
    """The same for every other activation of ACTIVATIONS, and two with a bias."""
    covered = {label.lower() for label in MODULES}
    out = []
    for i, key in enumerate(k for k in ACTIVATIONS if k not in covered):
        module = torch_module(key)
        d, s = EVERY_GRID[i % len(EVERY_GRID)]
        out.append(_layer_check(f"{type(module).__name__} moment map s={s:g} d={d}", module,
                                s, d, moment_map(s, d, module, SIGMA)))
    for label, d, s, sigma_b in BIAS_CASES:
        module = torch_module(label.lower())
        out.append(_layer_check(f"{label} moment map s={s:g} d={d} sigma_b={sigma_b:g}",
                                module, s, d,
                                moment_map(s, d, module, SIGMA, sigma_b=sigma_b),
                                sigma_b=sigma_b))
    return out


def wide_layer_check(label, q):
    """||phi(h)||^2 / d for h ~ N(0, q I) of width WIDE: its mean is variance_map(q, phi, 1)
    = E phi(sqrt(q) z)^2 (one layer from a unit input of width 16, sigma = sqrt(q))."""
    module = torch_module(label.lower())
    sigma = math.sqrt(q)
    rsd = math.sqrt(moment_map(4, WIDE, module, sigma) / moment_map(2, WIDE, module, sigma) ** 2
                    - 1)
    samples = samples_for(rsd, _SIGMA_TARGET * 2, "iid", 256)
    act = biased(module, 0.0)

    def simulate_(generator, n):
        with torch.no_grad():
            ratios = simulate.norm_ratios([16, WIDE], [sigma], n, generator, act)
        return ratios[:, 0] ** 2 / WIDE

    return Check(name=f"{label} mean field: E phi^2 per coordinate at d={WIDE}, q={q:g}",
                 area=AREA, params=dict(activation=label, q=q, d=WIDE),
                 simulate=simulate_, theory=float(variance_map(q, module, 1.0)),
                 samples=samples, quick_samples=quick_samples(samples, 16 * WIDE,
                                                              _QUICK_ENTRIES),
                 rule="iid", sensitivity=2.0)


def deep_second_moment(module, g, d, depth, n, generator):
    """q^depth = ||h^depth||^2 / d of n networks h^(l+1) = (g / sqrt d) W^l phi(h^l), fresh
    W^l with iid N(0, 1) entries, h^0 ~ N(0, I_d): float64 tensor of shape (n,)."""
    batch = max(1, simulate.MEMORY_BYTES[generator.device.type] // (4 * d * d))
    parts = []
    for start in range(0, n, batch):
        size = min(batch, n - start)
        h = torch.randn(size, d, 1, generator=generator, device=generator.device)
        for _ in range(depth):
            w = torch.randn(size, d, d, generator=generator, device=generator.device)
            h = (g / math.sqrt(d)) * torch.bmm(w, module(h))
        parts.append(h.squeeze(-1).to(torch.float64).pow(2).mean(dim=1))
    return torch.cat(parts)


def depth_check(label, g, *, negative=False, note=""):
    """q^10 of a wide network at std g / sqrt(d): 1 when g preserves q = 1."""
    module = torch_module(label.lower())
    phi = activation(module)
    # Per-sample relative variance of q^depth, bounded by depth one-layer contributions
    # (the chi-square of the pre-activations plus the spread of phi^2), each <= (2 + v)/d.
    v = moment_map(4, 1, phi, 1.0) / moment_map(2, 1, phi, 1.0) ** 2 - 1
    rsd = math.sqrt(DEPTH * (2 + v) / DEPTH_WIDTH)
    # d log q^depth / d log g by iterating the variance map (a central difference).
    logs = []
    for factor in (1.001, 1 / 1.001):
        q = 1.0
        for _ in range(DEPTH):
            q = float(variance_map(q, phi, (g * factor) ** 2))
        logs.append(math.log(q))
    sensitivity = (logs[0] - logs[1]) / (2 * math.log(1.001))
    samples = samples_for(rsd, _SIGMA_TARGET * sensitivity, "iid", 256)

    def simulate_(generator, n):
        with torch.no_grad():
            return deep_second_moment(module, g, DEPTH_WIDTH, DEPTH, n, generator)

    return Check(name=f"{label} depth {DEPTH}, d={DEPTH_WIDTH}, at {note}: q stays 1",
                 area=AREA, params=dict(activation=label, gain=g, d=DEPTH_WIDTH, depth=DEPTH),
                 simulate=simulate_, theory=1.0, samples=samples,
                 quick_samples=quick_samples(samples, DEPTH * DEPTH_WIDTH ** 2,
                                             _QUICK_ENTRIES * 10),
                 rule="iid", sensitivity=sensitivity, negative_control=negative)


def mean_field_checks():
    """variance_map per coordinate at large width; gain("tanh") through depth, and the
    torch gains that do not preserve q = 1."""
    return [wide_layer_check(label, q) for label, q in WIDE_CASES] + [
        depth_check("Tanh", float(gain("tanh")), note="gain('tanh')"),
        depth_check("SELU", float(gain("selu")), note="gain('selu')"),
        depth_check("Tanh", 5 / 3, negative=True, note="torch's gain 5/3"),
        depth_check("SELU", 3 / 4, negative=True, note="torch's gain 3/4"),
    ]


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
        return tuple(moment_map_checks() + every_activation_checks() + mean_field_checks()
                     + control_checks())

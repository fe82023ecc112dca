"""Checks of initmath.finite_depth.depth_law, finite_width.moment_map_expansion and
finite_width.fixed_point_norm, simulated with the real torch modules.

What is simulated (:func:`output_norms`): n networks x_{l+1} = phi(sigma W_l x_l + b_l),
every layer d wide, a fresh W_l with iid N(0, 1) entries and a fresh b_l with iid
N(0, sigma_b^2) entries per layer and network, phi the torch module (GELU, Tanh, SiLU,
SELU, ReLU), from the input x_0 = (r0 / sqrt d) (1, ..., 1).  Nothing is renormalised:
these phi are not positively homogeneous, so ||x_L|| is only the norm of the network as
built.  The statistic is a function of r_L = ||x_L||.

Depth law.  Each network (:data:`NETWORKS`) has the finite-width moment-preserving sigma
at its input norm r0 = sqrt(d q0) (``moment_preserving_sigma(2, d, phi, r0, sigma_b)``,
so E r_1^2 = r0^2 exactly and r0 is the s = 2 fixed point of one layer): the norm
neither dies nor explodes, and what happens to it over depth is finite-width drift and
spread, which ``depth_law`` predicts.  Checks: E r_L^s / r0^s for s = 2 and s = 0.5,
against ``law.moment(s)``; P(r_L <= law.quantile(0.5)) = 1/2 (the law, not a moment).
Negative controls at d <= 16: the mean-field (infinite-width) prediction, the iterated
map r^2 -> d E phi(c g)^2 (= r0^2 at every depth for these sigma), as E r_L^2 (SiLU,
d = 16, where depth_law gives 2.6 r0^2 at depth 10) and as the median (tanh at d = 2,
GELU at d = 16).

One layer.  ``moment_map_expansion(order=2)`` at d = 256, 1024, where its O(d^-3) error
(< 1e-6 relative here) is far below the resolution; negative control: the first order
at d = 2 (10% off for GELU).  ``fixed_point_norm``: one layer from an input of norm
exactly r*_s has E r'^s = r*_s^s (tanh and GELU with a bias, d = 2, 16, s = 1, 0.5);
negative control: the s = 2 fixed point (the mean-field q*: c*^2 = q*) used as the
s-th moment's one at d = 2 and 16 (E r'^s is 3-5% below r*_2^s there).

Budgets: the per-sample standard deviation comes from the theory (depth_law's moments,
moment_map at 2s), the default budget detects the target error (_TARGET) with
probability 0.99, capped at _FULL_ENTRIES weight entries; the quick budget is what
_QUICK_ENTRIES weight entries afford (at least 64 networks).  The theory of each network
is computed once per process (depth_law at depth 100 takes seconds).
"""
import dataclasses
import functools
import math

import torch

from initmath.finite_depth import depth_law
from initmath.finite_width import (
    fixed_point_norm,
    moment_map,
    moment_map_expansion,
    moment_preserving_sigma,
)

from . import simulate
from .core import CHUNKS, Check, quick_samples, samples_for

AREA = "finite_depth"
MODULES = {"GELU": torch.nn.GELU, "Tanh": torch.nn.Tanh, "SiLU": torch.nn.SiLU,
           "SELU": torch.nn.SELU, "ReLU": torch.nn.ReLU}
# Targets detected with probability 0.99 at the default budget: a relative error of the
# mean for moments, an absolute error of the probability for the median indicator.
_TARGET = {"moment": 0.01, "layer": 0.005, "median": 0.02}
# Weight entries per check: at most _FULL_ENTRIES at the default budget (the deepest,
# widest networks reach it: ~1 min on 2 CPU cores, well under a second on a GPU), about
# _QUICK_ENTRIES in a quick run (~0.2 s on 2 idle CPU cores).
_FULL_ENTRIES = 2e10
_QUICK_ENTRIES = 4e7
# One-layer checks: sigma = _SIGMA_W / sqrt(d) from an input of norm sqrt(d) (the
# pre-activations have std 1.5 without a bias: every phi in its nonlinear range).
_SIGMA_W = 1.5
# Relative step of the central differences giving the sensitivities (d log / d log sigma),
# and the step in log r of the density of log r_L (a few cells of depth_law's grid).
_STEP = 1e-3
_LOG_STEP = 0.01


@dataclasses.dataclass(frozen=True)
class Network:
    """A width-d network of ``depth`` layers of the torch module ``label`` with bias std
    ``sigma_b``, from an input of norm r0 = sqrt(d q0), at the weight std that preserves
    E r^2 from r0 through one layer."""
    label: str
    d: int
    depth: int
    sigma_b: float
    q0: float
    moments: tuple = (2.0, 0.5)
    median: bool = True

    @property
    def module(self):
        return MODULES[self.label]()

    @property
    def r0(self):
        return math.sqrt(self.d * self.q0)

    @functools.cached_property
    def sigma(self):
        return float(moment_preserving_sigma(2.0, self.d, self.module, r=self.r0,
                                             sigma_b=self.sigma_b))

    @property
    def name(self):
        bias = f" sigma_b={self.sigma_b:g}" if self.sigma_b else ""
        return f"{self.label} d={self.d} depth={self.depth}{bias}"

    @property
    def params(self):
        return dict(activation=self.label, d=self.d, depth=self.depth, sigma=self.sigma,
                    sigma_b=self.sigma_b, r0=self.r0)


# tanh is bounded (r^2 < d): its input has q0 = 1/4.  Widths 4 to 1024, depths 10 to 100,
# with and without a bias (depth_law refuses d = 2 for these activations: the Fourier
# series of the one-step law does not resolve it to 1e-3 there; see docs/verification.md;
# d = 2 is checked one layer at a time below).  The widest networks check fewer
# statistics: a quick run simulates at least 64 networks per check (4e8 weight entries
# at d = 256, depth 100; 2e9 at d = 1024, depth 30).
TANH_4 = Network("Tanh", 4, 10, 0.5, 0.25)
SILU_16 = Network("SiLU", 16, 10, 0.0, 1.0)
GELU_16 = Network("GELU", 16, 100, 0.5, 1.0)
NETWORKS = (TANH_4, Network("ReLU", 16, 10, 0.0, 1.0), SILU_16, GELU_16,
            Network("Tanh", 256, 100, 0.0, 0.25, moments=(0.5,)),
            Network("GELU", 256, 100, 1.0, 1.0, moments=(2.0,), median=False),
            Network("SELU", 1024, 30, 0.0, 1.0, moments=(2.0,), median=False))
# Where the mean field is off by more than the quick resolution: E r_L^2 of SiLU at d = 16
# (an unstable fixed point: 2.6 r0^2 at depth 10, not r0^2), the median of tanh at d = 4
# and of GELU at d = 16.
MOMENT_CONTROLS = (SILU_16,)
MEDIAN_CONTROLS = (TANH_4, GELU_16)
# One-layer cases: (label, d, s, sigma_b) for the expansion; its control at d = 2.
EXPANSIONS = (("GELU", 256, 0.5, 0.0), ("Tanh", 1024, 1.0, 0.5), ("SiLU", 256, 1.0, 0.5))
EXPANSION_CONTROL = ("GELU", 2, 1.0, 0.0)
# (label, sigma_w, sigma_b) of the fixed points, sigma = sigma_w / sqrt(d); and (d, s).
FIXED_POINT_NETWORKS = (("Tanh", 1.5, 0.5), ("GELU", 1.3, 0.5))
FIXED_POINT_GRID = ((2, 1.0), (16, 0.5))


def output_norms(module, d, depth, sigma, sigma_b, r0, n, generator):
    """||x_depth|| of n networks x_{l+1} = module(sigma W_l x_l + b_l) from x_0 = (r0 /
    sqrt d) (1, ..., 1): float64 tensor of shape (n,), simulated on the generator's
    device in float32, weights drawn in sub-batches of simulate.MEMORY_BYTES."""
    device = generator.device
    batch = max(1, simulate.MEMORY_BYTES[device.type] // (4 * d * d))
    buffer = torch.empty(min(batch, n) * d * d, device=device)
    parts = []
    with torch.no_grad():
        for start in range(0, n, batch):
            size = min(batch, n - start)
            x = torch.full((size, d, 1), r0 / math.sqrt(d), device=device)
            for _ in range(depth):
                w = torch.randn((size, d, d), generator=generator,
                                out=buffer[:size * d * d].view(size, d, d))
                z = sigma * torch.bmm(w, x)
                if sigma_b:
                    z += sigma_b * torch.randn(z.shape, generator=generator, device=device)
                x = module(z)
            parts.append(torch.linalg.vector_norm(x.squeeze(-1), dim=1).to(torch.float64))
    return torch.cat(parts)


def _budgets(sd, target, rule, entries):
    """(default, quick) sample counts for a per-sample sd, a target error of the mean
    and ``entries`` weight entries per sample."""
    cap = max(2 * CHUNKS, int(_FULL_ENTRIES // entries) // CHUNKS * CHUNKS)
    samples = min(samples_for(sd, target, rule, 256), cap)
    return samples, quick_samples(samples, entries, _QUICK_ENTRIES)


def _log_slope(f, sigma):
    """d log f / d log sigma at sigma (central difference)."""
    up, down = f(sigma * (1 + _STEP)), f(sigma / (1 + _STEP))
    return math.log(up / down) / (2 * math.log1p(_STEP))


# ------------------------------------------------------------------ the depth law
@functools.cache
def law(network):
    """depth_law of the network (computed once per process)."""
    return depth_law(network.depth, network.d, network.module, network.sigma,
                     network.sigma_b, network.r0)


def mean_field_norm2(network, sigma=None):
    """r_L^2 of the mean-field (infinite-width) map r^2 -> d E phi(c g)^2, c^2 = sigma^2 r^2
    + sigma_b^2 (= moment_map at s = 2), iterated from r0 over the network's depth."""
    sigma = network.sigma if sigma is None else sigma
    r2 = network.r0 ** 2
    for _ in range(network.depth):
        r2 = float(moment_map(2.0, network.d, network.module, sigma, r=math.sqrt(r2),
                              sigma_b=network.sigma_b))
    return r2


@functools.cache
def norm_sensitivity(network):
    """d log r_L^2 / d log sigma along the mean-field path (used only to state the power
    as an error of sigma)."""
    return _log_slope(lambda sigma: mean_field_norm2(network, sigma), network.sigma)


def _density_log_r(network, r):
    """The density of log r_L at r (a central difference of depth_law's CDF)."""
    below, above = law(network).cdf([r * math.exp(-_LOG_STEP), r * math.exp(_LOG_STEP)])[-1]
    return (above - below) / (2 * _LOG_STEP)


def _simulator(network, statistic):
    """simulate(generator, n): ``statistic`` of the n output norms r_L."""
    def simulate_(generator, n):
        return statistic(output_norms(network.module, network.d, network.depth,
                                      network.sigma, network.sigma_b, network.r0, n,
                                      generator))
    return simulate_


def moment_check(network, s, *, theory=None, label="depth_law"):
    """E r_L^s / r0^s against depth_law (or, as a negative control, ``theory``)."""
    depth_law_ = law(network)
    moment, square = depth_law_.moment(s)[-1], depth_law_.moment(2 * s)[-1]
    samples, quick = _budgets(math.sqrt(square / moment ** 2 - 1), _TARGET["moment"],
                              "batch-means", network.d ** 2 * network.depth)
    return Check(name=f"{network.name}: E r_L^{s:g}/r0^{s:g} = {label}", area=AREA,
                 params=network.params | {"s": s},
                 simulate=_simulator(network, lambda r: (r / network.r0) ** s),
                 theory=float(moment / network.r0 ** s if theory is None else theory),
                 samples=samples, quick_samples=quick, rule="batch-means",
                 sensitivity=s / 2 * norm_sensitivity(network),
                 negative_control=theory is not None)


def median_check(network, *, median=None, label="depth_law's median"):
    """P(r_L <= m) = 1/2 with m = depth_law's median (or, as a negative control, the
    given ``median``)."""
    m = float(law(network).quantile(0.5)[-1] if median is None else median)
    samples, quick = _budgets(0.5, _TARGET["median"], "iid", network.d ** 2 * network.depth)
    # d log P / d log sigma = density of log r_L at m / P times d log r_L / d log sigma
    sensitivity = _density_log_r(network, m) / 0.5 * norm_sensitivity(network) / 2
    return Check(name=f"{network.name}: P(r_L <= {label}) = 1/2", area=AREA,
                 params=network.params | {"median": m},
                 simulate=_simulator(network, lambda r: (r <= m).to(torch.float64)),
                 theory=0.5, samples=samples, quick_samples=quick, rule="iid",
                 sensitivity=sensitivity, negative_control=median is not None)


def depth_law_checks():
    """The moments and the median of every network."""
    return [check for network in NETWORKS
            for check in [moment_check(network, s) for s in network.moments]
            + ([median_check(network)] if network.median else [])]


def mean_field_controls():
    """The mean-field r_L^2 as E r_L^2, and its square root as the median."""
    return ([moment_check(network, 2.0, theory=mean_field_norm2(network) / network.r0 ** 2,
                          label="mean field") for network in MOMENT_CONTROLS]
            + [median_check(network, median=math.sqrt(mean_field_norm2(network)),
                            label="mean-field norm") for network in MEDIAN_CONTROLS])


# ------------------------------------------------------------------ one layer
def layer_check(name, label, d, s, sigma, sigma_b, r, theory, *, negative=False):
    """One layer of width d from an input of norm r: E (r'/r)^s = theory / r^s."""
    module = MODULES[label]()
    moment = moment_map(s, d, module, sigma, r=r, sigma_b=sigma_b)
    sd = math.sqrt(moment_map(2 * s, d, module, sigma, r=r, sigma_b=sigma_b) / moment ** 2 - 1)
    # the statistic's sd and the target error, both in units of r^s
    samples, quick = _budgets(sd * moment, _TARGET["layer"] * theory, "iid", d * d)

    def simulate_(generator, n):
        return (output_norms(module, d, 1, sigma, sigma_b, r, n, generator) / r) ** s

    sensitivity = _log_slope(lambda x: moment_map(s, d, module, x, r=r, sigma_b=sigma_b), sigma)
    return Check(name=name, area=AREA,
                 params=dict(activation=label, d=d, s=s, sigma=sigma, sigma_b=sigma_b, r=r),
                 simulate=simulate_, theory=float(theory / r ** s), samples=samples,
                 quick_samples=quick, rule="iid", sensitivity=sensitivity,
                 negative_control=negative)


def expansion_check(label, d, s, sigma_b, order, *, negative=False):
    """E r'^s from an input of norm sqrt(d) against moment_map_expansion(order)."""
    r, sigma = math.sqrt(d), _SIGMA_W / math.sqrt(d)
    theory = moment_map_expansion(s, d, MODULES[label](), sigma, r=r, sigma_b=sigma_b,
                                  order=order)
    bias = f" sigma_b={sigma_b:g}" if sigma_b else ""
    return layer_check(f"{label} d={d}{bias}: E r'^{s:g} = moment_map_expansion order {order}",
                       label, d, s, sigma, sigma_b, r, theory, negative=negative)


@functools.cache
def fixed_point(label, d, s, sigma_w, sigma_b):
    """fixed_point_norm(s, ...).norm at sigma = sigma_w / sqrt(d) (computed once)."""
    return float(fixed_point_norm(s, d, MODULES[label](), sigma_w / math.sqrt(d), sigma_b).norm)


def fixed_point_check(label, sigma_w, sigma_b, d, s, *, mean_field=False):
    """One layer from an input of norm r*_s: E r'^s = r*_s^s.  mean_field: the input has
    the s = 2 (mean-field q*) fixed point's norm, wrongly claimed to keep E r'^s."""
    r = fixed_point(label, d, 2.0 if mean_field else s, sigma_w, sigma_b)
    kind = "mean-field r*_2" if mean_field else f"r*_{s:g}"
    return layer_check(f"{label} d={d} sigma_b={sigma_b:g}: E r'^{s:g} = r^{s:g} at {kind}",
                       label, d, s, sigma_w / math.sqrt(d), sigma_b, r, r ** s,
                       negative=mean_field)


def one_layer_checks():
    """The expansion at large d, the fixed points, and their negative controls."""
    return ([expansion_check(*case, order=2) for case in EXPANSIONS]
            + [expansion_check(*EXPANSION_CONTROL, order=1, negative=True)]
            + [fixed_point_check(*network, d, s) for network in FIXED_POINT_NETWORKS
               for d, s in FIXED_POINT_GRID]
            + [fixed_point_check(*network, d, s, mean_field=True)
               for network, (d, s) in zip(FIXED_POINT_NETWORKS, FIXED_POINT_GRID)])


def checks():
    """All checks of this area, in report order."""
    return tuple(depth_law_checks() + mean_field_controls() + one_layer_checks())

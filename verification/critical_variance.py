"""Checks of initmath.critical_variance: the moment factor and sigma-bar, through one layer
and through depth, on both sides of sigma-bar, with variable widths, randomized slopes
(including torch.nn.RReLU itself), dropout (torch.nn.Dropout itself) and the 1/d
expansions.  Each formula has a negative control: a wrong variant the same check rejects.

Budgets are derived from the theory: a one-layer factor R^s at sigma-bar has mean 1 and
relative variance I(2s, d) / I(s, d)^2 - 1; a product over k layers has relative variance
(I(2s, d) / I(s, d)^2)^k - 1.  The default budget is the sample count at which the check
detects a 1% error of sigma with probability 0.99 (see verification.core), rounded up;
``--quick`` uses a tenth of the default's resolution budget where that fits the time.
"""
import functools
import math

import sympy
import torch

import initmath
from initmath.asymptotics import critical_variance_expansion
from initmath.asymptotics import d as d_symbol
from initmath.papers.gurbuzbalaban_hu import (
    paper_critical_sigma_leaky,
    paper_critical_sigma_relu,
    paper_critical_variance_expansion,
)

from . import simulate
from .core import CHUNKS, Check, quick_samples, samples_for

AREA = "critical_variance"
# Layers per simulated network in the one-layer checks: every layer gives an iid draw
# of the one-layer factor, so a network yields the mean of this many.
LAYERS_PER_SAMPLE = 8
# Budgets aim below the promised 1% so that the realised power, computed from the
# sampled standard error, stays within it: batch means estimate their standard error
# from CHUNKS chunk means only (relative sd ~ 1/sqrt(2 (CHUNKS - 1)) ~ 13%).
_SIGMA_TARGET = {"iid": 0.009, "batch-means": 0.0065}


def _factor_rsd(s, d, a=0.0, keep_prob=1.0):
    """Relative sd of (sigma-bar r)^s for one layer: sqrt(I(2s)/I(s)^2 - 1)."""
    log_ratio = (initmath.log_moment_factor(2 * s, d, a, keep_prob=keep_prob)
                 - 2 * initmath.log_moment_factor(s, d, a, keep_prob=keep_prob))
    return math.sqrt(math.expm1(log_ratio))


def _statistic(widths, sigmas, activation, s, how, scale=1.0):
    """A simulate(generator, n) for the s-th power of the norm ratios.

    how = "layer": mean over the layers of r_k^s (iid one-layer factors);
    how = "depth": prod_k r_k^s = ||x_L||^s / ||x_0||^s, times ``scale``.
    """
    def simulate_(generator, n):
        ratios = simulate.norm_ratios(widths, sigmas, n, generator, activation)
        if how == "layer":
            return (ratios ** s).mean(dim=1)
        return scale * torch.exp(s * torch.log(ratios).sum(dim=1))
    return simulate_


def _layer_check(name, s, d, sigma, activation, theory, rsd, *, negative=False, **params):
    """One-layer factor E[(sigma r)^s] over LAYERS_PER_SAMPLE-layer networks of width d."""
    per_sample = rsd / math.sqrt(LAYERS_PER_SAMPLE)
    samples = samples_for(per_sample, _SIGMA_TARGET["iid"] * s, "iid", 256)
    return Check(
        name=name, area=AREA, params=dict(s=s, d=d, sigma=float(sigma), **params),
        simulate=_statistic([d] * (LAYERS_PER_SAMPLE + 1), [sigma] * LAYERS_PER_SAMPLE,
                            activation, s, "layer"),
        theory=float(theory), samples=samples,
        quick_samples=quick_samples(samples, d * d * LAYERS_PER_SAMPLE, _QUICK_ENTRIES),
        rule="iid", sensitivity=s, negative_control=negative)


def _depth_check(name, s, widths, sigmas, activation, theory, rsd, *, scale=1.0,
                 negative=False, **params):
    """Product of the factors through len(sigmas) layers (batch means: heavy tails)."""
    depth = len(sigmas)
    samples = samples_for(rsd, _SIGMA_TARGET["batch-means"] * (s * depth), "batch-means",
                          64 * CHUNKS)
    cost = sum(a * b for a, b in zip(widths[1:], widths[:-1]))
    return Check(
        name=name, area=AREA, params=dict(s=s, widths=_widths_text(widths), **params),
        simulate=_statistic(widths, sigmas, activation, s, "depth", scale),
        theory=float(theory), samples=samples,
        quick_samples=quick_samples(samples, cost, _QUICK_ENTRIES, 32 * CHUNKS),
        rule="batch-means", sensitivity=s * depth, negative_control=negative)


def _widths_text(widths):
    first = widths[0]
    if all(w == first for w in widths):
        return f"{first} x {len(widths) - 1} layers"
    return "-".join(map(str, widths))


# Quick runs: at most this many weight entries drawn per check (~1-3 s on 2 CPU cores).
_QUICK_ENTRIES = 4e7


# ------------------------------------------------------------------ the checks
FACTOR_GRID = [  # (s, d, a): s < 2 and s > 2, ReLU, small a, a = 1, small and large d
    (0.5, 4, 0.0), (1.0, 64, 0.0), (1.0, 256, 0.01), (1.5, 16, 0.01),
    (3.0, 64, 0.3), (2.0, 32, 1.0), (0.2, 8, 1.0), (4.0, 16, 0.0), (1.0, 1024, 0.01),
]


def factor_checks():
    """sigma-bar makes the one-layer factor exactly 1, over a grid of (s, d, a)."""
    out = []
    for s, d, a in FACTOR_GRID:
        sigma = initmath.critical_sigma(s, d, a)
        out.append(_layer_check(f"layer factor at sigma-bar s={s:g} d={d} a={a:g}", s, d,
                                sigma, simulate.leaky_relu(a), 1.0, _factor_rsd(s, d, a),
                                a=a))
    # Negative controls: the sigmas printed in Theorem 1(i) and Theorem 7.
    s, d = 1.0, 16
    out.append(_layer_check("printed Theorem 1 sigma = 1/sqrt(I0)", s, d,
                            paper_critical_sigma_relu(s, d), simulate.leaky_relu(0.0), 1.0,
                            _factor_rsd(s, d), negative=True, a=0.0))
    s, d, a = 0.5, 16, 0.3
    out.append(_layer_check("printed Theorem 7 sigma = 1/(sqrt(s) I_a)", s, d,
                            paper_critical_sigma_leaky(s, d, a), simulate.leaky_relu(a), 1.0,
                            _factor_rsd(s, d, a), negative=True, a=a))
    return out


def depth_checks():
    """Preservation through depth at sigma-bar; growth and decay on either side of it."""
    out = []
    for s, d, a, depth in [(1.0, 64, 0.0, 50), (0.5, 16, 0.01, 20), (3.0, 128, 0.3, 10)]:
        sigma = initmath.critical_sigma(s, d, a)
        rsd = math.sqrt(math.expm1(depth * math.log1p(_factor_rsd(s, d, a) ** 2)))
        out.append(_depth_check(f"depth {depth} at sigma-bar s={s:g} d={d} a={a:g}", s,
                                [d] * (depth + 1), [sigma] * depth,
                                simulate.leaky_relu(a), 1.0, rsd, a=a))
    s, d, depth = 1.0, 64, 20
    sigma_bar = initmath.critical_sigma(s, d)
    for factor, word in [(1.05, "growth"), (0.95, "decay")]:
        sigma = factor * sigma_bar
        # E r^s at sigma = factor^s; the relative variance is that of sigma-bar's.
        rsd = math.sqrt(math.expm1(depth * math.log1p(_factor_rsd(s, d) ** 2)))
        out.append(_depth_check(f"{word} at {factor:g} sigma-bar, depth {depth}", s,
                                [d] * (depth + 1), [sigma] * depth, simulate.leaky_relu(0.0),
                                factor ** (s * depth), rsd, a=0.0))
    out.append(_depth_check("claim 'preserved' at 1.05 sigma-bar (Theorem 7 (iii))", s,
                            [d] * (depth + 1), [1.05 * sigma_bar] * depth,
                            simulate.leaky_relu(0.0), 1.0, rsd, negative=True, a=0.0))
    return out


def width_checks():
    """Variable widths under both conventions of initmath.critical_sigmas."""
    s, a, widths = 1.0, 0.01, [32, 128, 16, 64]
    rsd = math.sqrt(math.expm1(sum(math.log1p(_factor_rsd(s, d, a) ** 2) for d in widths[1:])))
    norm_sigmas = initmath.critical_sigmas(s, widths, a)
    neuron_sigmas = initmath.critical_sigmas(s, widths, a, convention="per-neuron")
    # per-neuron statistic: (||x_L|| / sqrt(d_L))^s / (||x_0|| / sqrt(d_0))^s
    unit = (widths[0] / widths[-1]) ** (s / 2)
    return [
        _depth_check("widths, convention 'norm': E||x_L||^s", s, widths, norm_sigmas,
                     simulate.leaky_relu(a), 1.0, rsd, a=a),
        _depth_check("widths, convention 'per-neuron': E(||x_L||/sqrt d_L)^s", s, widths,
                     neuron_sigmas, simulate.leaky_relu(a), 1.0, rsd, scale=unit, a=a),
        _depth_check("'norm' sigmas judged by the per-neuron moment", s, widths, norm_sigmas,
                     simulate.leaky_relu(a), 1.0, rsd, scale=unit, negative=True, a=a),
    ]


def rrelu_checks():
    """Random slopes U[0, 1]: our samplers, and torch.nn.RReLU in training mode, which
    draws a slope per element and so must match the per-neuron formula."""
    s, d, lower, upper = 4.0, 64, 0.0, 1.0
    theory = {mode: initmath.rrelu_moment_factor(s, d, lower, upper, mode=mode)
              for mode in ("per-neuron", "per-layer")}
    rsd = {mode: math.sqrt(initmath.rrelu_moment_factor(2 * s, d, lower, upper, mode=mode)
                           / theory[mode] ** 2 - 1) for mode in theory}
    rrelu = simulate.module_activation(torch.nn.RReLU(lower, upper))
    cases = [
        ("per-neuron slopes", simulate.random_slopes(lower, upper, "neuron"), "per-neuron", False),
        ("per-layer slopes", simulate.random_slopes(lower, upper, "layer"), "per-layer", False),
        ("torch.nn.RReLU (training) vs per-neuron", rrelu, "per-neuron", False),
        ("torch.nn.RReLU (training) vs per-layer", rrelu, "per-layer", True),
    ]
    return [_layer_check(f"RReLU {label}", s, d, 1.0, activation, theory[mode], rsd[mode],
                         negative=negative, lower=lower, upper=upper, mode=mode)
            for label, activation, mode, negative in cases]


def dropout_checks():
    """torch.nn.Dropout (inverted scaling) after the activation, at sigma-bar(keep_prob)."""
    out = []
    for s, d, a, q in [(1.0, 64, 0.0, 0.8), (0.5, 32, 0.1, 0.5)]:
        modules = ((torch.nn.ReLU(),) if a == 0 else (torch.nn.LeakyReLU(a),)) + (
            torch.nn.Dropout(p=1 - q),)
        sigma = initmath.critical_sigma(s, d, a, keep_prob=q)
        out.append(_layer_check(f"dropout q={q:g} at sigma-bar(q) s={s:g} d={d} a={a:g}", s, d,
                                sigma, simulate.module_activation(*modules), 1.0,
                                _factor_rsd(s, d, a, q), a=a, keep_prob=q))
    s, d, q = 1.0, 64, 0.8
    out.append(_layer_check("dropout q=0.8 with the no-dropout sigma-bar", s, d,
                            initmath.critical_sigma(s, d),
                            simulate.module_activation(torch.nn.ReLU(), torch.nn.Dropout(1 - q)),
                            1.0, _factor_rsd(s, d, 0.0, q), negative=True, a=0.0, keep_prob=q))
    return out


def _expansion_sigma(expression, d):
    return math.sqrt(float(expression.subs(d_symbol, d)))


def expansion_checks():
    """sigma from the 1/d expansions; Corollary 10's small-a formula used at a = 1 is the
    negative control (its d^-2 coefficient has the wrong sign there)."""
    out = []
    for s, d, a in [(1.0, 8, 0.0), (0.5, 16, 0.5), (1.0, 8, 1.0)]:
        sigma = _expansion_sigma(critical_variance_expansion(s, a, order=4), d)
        out.append(_layer_check(f"4-term expansion sigma s={s:g} d={d} a={a:g}", s, d, sigma,
                                simulate.leaky_relu(a), 1.0, _factor_rsd(s, d, a), a=a))
    # The paper's own experiment: sigma^2 = 2/d + 3/d^2 (Corollary 4 at s = 0.8), d = 64.
    s, d = 0.8, 64
    out.append(_layer_check("Corollary 4 two-term sigma (the paper's MNIST choice)", s, d,
                            _expansion_sigma(paper_critical_variance_expansion(s), d),
                            simulate.leaky_relu(0.0), 1.0, _factor_rsd(s, d), a=0.0))
    s, d = 1.0, 8
    a_symbol = sympy.Symbol("a", positive=True)
    small_a = paper_critical_variance_expansion(s, a_symbol).subs(a_symbol, 1)
    out.append(_layer_check("Corollary 10 small-a expansion used at a = 1", s, d,
                            _expansion_sigma(small_a, d), simulate.leaky_relu(1.0), 1.0,
                            _factor_rsd(s, d, 1.0), negative=True, a=1.0))
    return out


@functools.cache
def checks():
    """All checks of this area, in report order."""
    return tuple(factor_checks() + depth_checks() + width_checks() + rrelu_checks()
                 + dropout_checks() + expansion_checks())

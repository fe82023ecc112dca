"""Checks of initmath.lyapunov on real deep networks: the Lyapunov exponent mu_a(sigma),
the CLT variance s_a^2, the exact finite-depth law of log||x_k|| (Kolmogorov-Smirnov),
the ReLU death probability P(x_k = 0) and the stochastic dominance of Remark 6.  Each
formula has a negative control: a wrong variant the same check rejects.

What is simulated: ``verification.simulate.norm_ratios`` draws n networks of depth L
(fresh Gaussian W_k per layer and network) and returns the norm ratios
r_k = ||x_{k+1}|| / ||x_k||, so that log||x_k|| = log||x_0|| + sum_j log r_j with
||x_0|| = 1.  Every r_k is an iid copy of sigma ||phi_a(g)||, g ~ N(0, I_d), whatever
happened before (a dead ReLU network keeps a unit direction).  For ReLU a transition
is dead (r = 0) with probability 2^-d; the theory is conditional on x_k != 0, so the
per-layer statistics use the transitions with r > 0 (iid copies of sigma sqrt(Z')), and
the depth statistics use the networks still alive at depth k.

Budgets come from the theory's own cumulants of X = log sigma + log(Z') / 2: the
standard deviation of a per-layer statistic is sqrt(kappa_2) for log r and
sqrt(kappa_4 + 2 kappa_2^2) for (log r - mu)^2; the sample counts are those at which the
check detects the target error (see _TARGET) with probability 0.99.
"""
import functools
import math

import numpy as np
import torch
from scipy import optimize

import initmath.lyapunov as theory_module
from initmath.lyapunov import (
    edge_sigma,
    log_norm_distribution,
    log_norm_variance,
    lyapunov_exponent,
)

from . import simulate
from .core import (
    CHUNKS,
    Check,
    DistributionCheck,
    ks_detectable_distance,
    quick_samples,
    samples_for,
)

AREA = "lyapunov"
# Layers per simulated network in the per-layer checks (each gives an iid factor).
LAYERS_PER_SAMPLE = 8
# Targets (detected with probability 0.99 at the default budget):
#   mu: an error of 0.002 in mu, i.e. 0.2% of sigma (mu moves by d log sigma);
#   s2: a relative error of 4% of s_a^2;  p_zero: a relative error of 2%;
#   ks: a sup-distance of 0.035 between CDFs;  dominance: 0.25% of sigma.
_TARGET = {"mu": 0.002, "s2": 0.04, "p_zero": 0.02, "ks": 0.035, "dominance": 0.0025}
# Quick runs: about this many weight entries per check (~0.2-0.5 s on 2 CPU cores).
_QUICK_ENTRIES = 6e7
# The KS cdf is evaluated in batches of this many points (memory ~ batch x grid).
_CDF_BATCH = 2048


def cumulants_of_x(d, a):
    """kappa_1..kappa_4 of X = log sigma + log(Z') / 2 at sigma = 1 (initmath's)."""
    kappa = np.asarray(theory_module._cumulants(np.array(d), np.array(a), 4), float)
    return kappa / 2.0 ** np.arange(1, 5)


def _quick(samples, entries_per_sample, minimum=2 * CHUNKS):
    return quick_samples(samples, entries_per_sample, _QUICK_ENTRIES, minimum)


def _ratios(d, sigma, depth, a, n, generator):
    return simulate.norm_ratios([d] * (depth + 1), [sigma] * depth, n, generator,
                                simulate.leaky_relu(a))


def _alive_fraction(d, a, layers=1):
    """P(r_1, ..., r_layers > 0): (1 - 2^-d)^layers for ReLU, 1 for a > 0."""
    return 1.0 if a > 0 else math.exp(layers * math.log1p(-0.5 ** d))


# ------------------------------------------------------------------ per-layer statistics
def _layer_statistic(d, sigma, a, transform):
    """simulate(generator, n, device): per network, the mean of transform(log r) over
    its LAYERS_PER_SAMPLE transitions with r > 0 (all of them for a > 0).  Given which
    transitions are alive, those are iid copies of log sigma + log(Z') / 2, so the
    per-network mean is unbiased for E[transform(X)]; a network with no alive
    transition (probability 2^-8d) gives no value."""
    def simulate_(generator, n):
        ratios = _ratios(d, sigma, LAYERS_PER_SAMPLE, a, n, generator)
        alive = ratios > 0
        values = torch.where(alive, transform(torch.log(ratios.clamp_min(1e-300))),
                             torch.zeros((), dtype=ratios.dtype))
        count = alive.sum(dim=1)
        keep = count > 0
        return values.sum(dim=1)[keep] / count[keep]
    return simulate_


def _layer_check(name, d, sigma, a, transform, theory, sd, target, *, sensitivity,
                 negative=False, **params):
    per_sample = sd / math.sqrt(LAYERS_PER_SAMPLE * _alive_fraction(d, a))
    samples = samples_for(per_sample, target)
    return Check(name=name, area=AREA, params=dict(d=d, a=a, sigma=float(sigma), **params),
                 simulate=_layer_statistic(d, sigma, a, transform), theory=float(theory),
                 samples=samples,
                 quick_samples=_quick(samples, d * d * LAYERS_PER_SAMPLE),
                 rule="iid", sensitivity=sensitivity, negative_control=negative)


# (d, a, sigma / edge_sigma): widths 4, 64, 256; slopes 0, 0.01, 0.5, 1; at, above and
# below the edge of chaos.
MU_GRID = [
    (4, 0.0, 1.0), (64, 0.0, 1.0), (256, 0.0, 1.0), (64, 0.0, 1.1), (4, 0.0, 0.9),
    (4, 0.01, 1.0), (64, 0.01, 0.9), (256, 0.01, 1.1),
    (4, 0.5, 1.1), (64, 0.5, 1.0), (256, 0.5, 0.9),
    (4, 1.0, 0.9), (64, 1.0, 1.1), (256, 1.0, 1.0),
]


def _mu_check(name, d, a, sigma, theory_mu, *, negative=False, **params):
    """E[log r | r > 0] = mu.  The statistic is log(r / sigma) and the theory mu - log
    sigma (= E log(Z') / 2): the same z and verdict as log r against mu, but the theory
    value is nonzero at the edge, where mu = 0.  An error e of mu is an error e of log
    sigma, so sensitivity = 1 / theory makes the power column read as that error."""
    kappa = cumulants_of_x(d, a)
    shift = theory_mu - math.log(sigma)
    log_sigma = math.log(sigma)
    return _layer_check(name, d, sigma, a, lambda x: x - log_sigma, shift,
                        math.sqrt(kappa[1]), _TARGET["mu"], sensitivity=1 / shift,
                        negative=negative, mu=float(theory_mu), **params)


def mu_checks():
    """The Lyapunov exponent over the grid; two wrong exponents as negative controls."""
    out = []
    for d, a, factor in MU_GRID:
        sigma = factor * float(edge_sigma(d, a))
        out.append(_mu_check(f"mu at {factor:g} edge d={d} a={a:g}", d, a, sigma,
                             float(lyapunov_exponent(sigma, d, a)), factor=factor))
    # Mean-field exponent log sigma + log(E Z') / 2 (log of the mean instead of the mean
    # of the log; it puts the edge at Kaiming's sigma^2 = 2/d for ReLU).
    d, a = 64, 0.0
    sigma = math.sqrt(2 / d)
    mean_field = math.log(sigma) + math.log(d / 2 / (1 - 0.5 ** d)) / 2
    out.append(_mu_check("mean-field mu = log sigma + log(E Z')/2 (Kaiming = edge)", d, a,
                         sigma, mean_field, negative=True, factor=sigma / edge_sigma(d, a)))
    # Dead transitions counted as log r = 0 instead of being conditioned away:
    # E[log r; log 0 := 0] = (1 - 2^-d) mu (off the edge, where mu != 0; small d).
    d, a, sigma = 2, 0.0, 1.0
    out.append(_mu_check("mu with dead transitions counted as log r = 0 (d=2)", d, a, sigma,
                         (1 - 0.5 ** d) * float(lyapunov_exponent(sigma, d, a)),
                         negative=True, factor=sigma / float(edge_sigma(d, a))))
    return out


S2_GRID = [(4, 0.0), (64, 0.0), (256, 0.01), (64, 0.5), (4, 1.0), (256, 1.0)]


def _s2_check(name, d, a, theory, *, negative=False):
    """E[(log r - mu)^2 | r > 0] = s_a^2 (mu from initmath); per-layer sd
    sqrt(kappa_4 + 2 kappa_2^2).  s_a^2 does not depend on sigma (sensitivity 1: the
    power column is then the relative error of s_a^2 detected)."""
    kappa = cumulants_of_x(d, a)
    sigma = float(edge_sigma(d, a))
    mu = float(lyapunov_exponent(sigma, d, a))
    sd = math.sqrt(max(kappa[3], 0.0) + 2 * kappa[1] ** 2)
    return _layer_check(name, d, sigma, a, lambda x: (x - mu) ** 2, theory, sd,
                        _TARGET["s2"] * float(log_norm_variance(d, a)), sensitivity=1.0,
                        negative=negative)


def s2_checks():
    out = [_s2_check(f"s_a^2 d={d} a={a:g}", d, a, float(log_norm_variance(d, a)))
           for d, a in S2_GRID]
    # Var log Z' instead of Var(log Z' / 2) = s_a^2: a factor 4.
    out.append(_s2_check("s_a^2 as Var log Z' (missing the 1/2)", 64, 1.0,
                         4 * float(log_norm_variance(64, 1.0)), negative=True))
    # The one-layer variance of log sigma + log(Z)/2 with Z ~ chi2_{d/2} (ReLU as a
    # linear layer of half the width): (1/4) psi'(d/4).
    from scipy.special import polygamma
    out.append(_s2_check("ReLU s_a^2 as linear width d/2: psi'(d/4)/4", 4, 0.0,
                         float(polygamma(1, 1.0)) / 4, negative=True))
    return out


# ------------------------------------------------------------------ finite-depth law
def _log_norms(d, sigma, depth, a, alive_only=True):
    """simulate(generator, n, device): log||x_k|| (||x_0|| = 1) of the networks alive at
    depth k (ReLU), as float64."""
    def simulate_(generator, n):
        ratios = _ratios(d, sigma, depth, a, n, generator)
        alive = (ratios > 0).all(dim=1)
        return torch.log(ratios[alive]).sum(dim=1)
    return simulate_


def _batched(function):
    def evaluate(r):
        r = np.asarray(r, float)
        return np.concatenate([np.atleast_1d(function(r[i:i + _CDF_BATCH]))
                               for i in range(0, r.size, _CDF_BATCH)])
    return evaluate


def _max_pdf(law):
    sd = math.sqrt(law.variance)
    grid = np.linspace(law.mean - 6 * sd, law.mean + 6 * sd, 241)
    return float(np.max(law.pdf(grid)))


# (k, d, a, sigma / edge_sigma): the brief's deep and narrow cases, leaky and linear.
KS_GRID = [(200, 64, 0.0, "kaiming"), (20, 4, 0.0, 1.0), (20, 4, 0.01, 1.0),
           (50, 16, 0.5, 1.1), (10, 8, 1.0, 0.9), (2, 2, 0.5, 1.0), (2, 2, 0.0, 1.0)]


def _ks_check(name, k, d, a, sigma, law, cdf, *, negative=False, **params):
    """KS of the simulated log||x_k|| (alive networks) against ``cdf``; budget: the
    sup-distance _TARGET["ks"] detected w.p. 0.99 among the alive networks."""
    kept = int((3.4 / _TARGET["ks"]) ** 2) // CHUNKS * CHUNKS
    while ks_detectable_distance(kept) > _TARGET["ks"]:
        kept += CHUNKS
    alive = _alive_fraction(d, a, k)
    samples = int(math.ceil(kept / alive / CHUNKS)) * CHUNKS
    quick = _quick(samples, d * d * k, minimum=int(math.ceil(512 / alive / CHUNKS)) * CHUNKS)
    return DistributionCheck(
        name=name, area=AREA, params=dict(k=k, d=d, a=a, sigma=float(sigma), **params),
        simulate=_log_norms(d, sigma, k, a), cdf=_batched(cdf), samples=samples,
        quick_samples=quick, sensitivity=k * _max_pdf(law), negative_control=negative)


def _kaiming(d):
    return math.sqrt(2 / d)


def law_checks():
    """The exact law of log||x_k|| (Gil-Pelaez), and the normal law at small k and d as
    the negative control (its distance there is far above the test's resolution)."""
    out = []
    for k, d, a, factor in KS_GRID:
        sigma = _kaiming(d) if factor == "kaiming" else factor * float(edge_sigma(d, a))
        law = log_norm_distribution(k, sigma, d, a)
        label = "Kaiming" if factor == "kaiming" else f"{factor:g} edge"
        out.append(_ks_check(f"law of log||x_k|| k={k} d={d} a={a:g} at {label}", k, d, a,
                             sigma, law, law.cdf))
    for k, d, a in [(2, 2, 0.5), (2, 2, 0.0)]:
        sigma = float(edge_sigma(d, a))
        law = log_norm_distribution(k, sigma, d, a)
        out.append(_ks_check(f"normal (CLT) law of log||x_k|| k={k} d={d} a={a:g}", k, d,
                             a, sigma, law, law.normal_cdf, negative=True))
    return out


# ------------------------------------------------------------------ ReLU death
def _death(d, depth):
    def simulate_(generator, n):
        ratios = _ratios(d, 1.0, depth, 0.0, n, generator)
        return (ratios == 0).any(dim=1).to(torch.float64)
    return simulate_


def _death_check(name, d, k, theory, *, negative=False):
    p = -math.expm1(k * math.log1p(-0.5 ** d))        # for the budget only
    samples = samples_for(math.sqrt(p * (1 - p)), _TARGET["p_zero"] * p)
    return Check(name=name, area=AREA, params=dict(d=d, k=k, a=0.0),
                 simulate=_death(d, k), theory=float(theory), samples=samples,
                 quick_samples=_quick(samples, d * d * k, minimum=8 * CHUNKS), rule="iid",
                 sensitivity=1.0, negative_control=negative)


def death_checks():
    """P(x_k = 0) = 1 - (1 - 2^-d)^k (the law's p_zero); the first-order k 2^-d as the
    negative control.  sigma does not matter (sensitivity 1: the power column is the
    relative error of P(x_k = 0))."""
    out = [_death_check(f"ReLU P(x_k = 0) d={d} k={k}", d, k,
                        log_norm_distribution(k, 1.0, d, 0.0).p_zero)
           for d, k in [(2, 5), (3, 10), (4, 20), (4, 5)]]
    out.append(_death_check("ReLU P(x_k = 0) as k 2^-d (first order) d=4 k=5", 4, 5,
                            5 * 0.5 ** 4, negative=True))
    return out


# ------------------------------------------------------------------ dominance
DOMINANCE = dict(d=64, k=100)


def dominance_sigmas(d):
    """Kaiming and the paper's s ~ 1 scheme (Figure 2): sigma^2 = 2/d, 2/d + 5/(2d^2)."""
    return math.sqrt(2 / d), math.sqrt(2 / d + 5 / (2 * d * d))


def _median(law):
    sd = math.sqrt(law.variance)
    return optimize.brentq(lambda r: float(law.cdf(r)) - 0.5, law.mean - 3 * sd,
                           law.mean + 3 * sd, xtol=1e-12)


def _below(d, sigma, depth, threshold):
    def simulate_(generator, n):
        ratios = _ratios(d, sigma, depth, 0.0, n, generator)
        alive = (ratios > 0).all(dim=1)
        return (torch.log(ratios[alive]).sum(dim=1) <= threshold).to(torch.float64)
    return simulate_


def dominance_checks():
    """Remark 6: R_k under the larger sigma is stochastically larger.  Statistic: the
    indicator R_k <= m_1, m_1 the median of Kaiming's exact law, under each sigma.  Under
    Kaiming its mean is 1/2; under sigma_2 it is F_2(m_1) < 1/2; the negative control
    claims 1/2 under sigma_2 (no dominance).  Sensitivity d log F / d log sigma =
    k pdf(m_1) / F(m_1)."""
    d, k = DOMINANCE["d"], DOMINANCE["k"]
    sigma_1, sigma_2 = dominance_sigmas(d)
    law_1, law_2 = (log_norm_distribution(k, s, d) for s in (sigma_1, sigma_2))
    m_1 = _median(law_1)
    out = []
    cases = [("Kaiming: P(R_k <= m_1) = 1/2", sigma_1, law_1, 0.5, False),
             ("dominance: P(R_k <= m_1) = F_2(m_1) under sigma_2", sigma_2, law_2,
              float(law_2.cdf(m_1)), False),
             ("no dominance: P(R_k <= m_1) = 1/2 under sigma_2", sigma_2, law_2, 0.5, True)]
    for name, sigma, law, theory, negative in cases:
        p = float(law.cdf(m_1))
        sensitivity = k * float(law.pdf(m_1)) / p
        sd = math.sqrt(p * (1 - p))
        samples = samples_for(sd, _TARGET["dominance"] * sensitivity * p)
        out.append(Check(name=name, area=AREA,
                         params=dict(d=d, k=k, a=0.0, sigma=sigma, m_1=m_1),
                         simulate=_below(d, sigma, k, m_1), theory=theory, samples=samples,
                         quick_samples=_quick(samples, d * d * k, minimum=8 * CHUNKS),
                         rule="iid", sensitivity=sensitivity, negative_control=negative))
    return out


@functools.cache
def checks():
    """All checks of this area, in report order."""
    return tuple(mu_checks() + s2_checks() + law_checks() + death_checks()
                 + dominance_checks())

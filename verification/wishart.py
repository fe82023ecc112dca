"""Checks of initmath.wishart and initmath.ldlt on simulated matrices and real layers.

* E[tr S^k], S = W W^T with W m x n iid N(0, sigma^2): the sample mean of tr S^k over
  independent matrices.  Its relative variance is exactly known from the library's own
  mixed moment E[(tr S^k)^2], which sets the budget; tr S^k is heavy-tailed for larger k,
  so the rule is batch means.  Negative control: the Marchenko-Pastur (large-m, n)
  value used at finite size.
* The LDLT layer y = gamma W0 R^{-1} x with R^T R = W0^T W0 + alpha I (a Cholesky
  factorisation in torch, as in practice) and x ~ N(0, I_n): the mean of y_i^2 over the
  m outputs estimates Var[y_i].  Shapes square and rectangular, sigma on both sides of
  the small-sigma series' radius.  Negative controls: the 3-term series used beyond its
  radius, and the abstract's 0.41 at sigma = 1/sqrt(n) for a square layer.
"""
import functools
import math

import torch

from initmath import ldlt_output_variance, ldlt_series_radius
from initmath.ldlt import _series as ldlt_scaled_series
from initmath.wishart import marchenko_pastur_moment, wishart_mixed_moment, wishart_trace_moment

from .core import CHUNKS, Check, samples_for

AREA = "wishart"
# Budgets detect a relative error of this size in the statistic with probability 0.99.
_RELATIVE_TARGET = {"iid": 0.004, "batch-means": 0.01}
_MAX_SAMPLES = 400_000


def _budget(relative_sd, rule):
    return min(_MAX_SAMPLES, samples_for(relative_sd, _RELATIVE_TARGET[rule], rule,
                                         64 * CHUNKS))


def _trace_power(m, n, k, sigma):
    def simulate_(generator, count):
        device = generator.device
        w = sigma * torch.randn(count, m, n, generator=generator, device=device,
                                dtype=torch.float64)
        s = w @ w.transpose(1, 2)
        return torch.linalg.matrix_power(s, k).diagonal(dim1=1, dim2=2).sum(dim=1)
    return simulate_


def _trace_check(m, n, k, *, negative=False):
    sigma = 1 / math.sqrt(n)
    exact = float(wishart_trace_moment(k, m, n, sigma2=sigma ** 2))
    second = float(wishart_mixed_moment((k, k), m, n, sigma2=sigma ** 2))
    relative_sd = math.sqrt(second / exact ** 2 - 1)
    samples = _budget(relative_sd, "batch-means")
    if negative:
        # (1/m) E tr (S)^k -> MP moment at ratio m/n when sigma^2 = 1/n
        theory = m * float(marchenko_pastur_moment(k, m / n))
        name = f"E tr S^{k} as its Marchenko-Pastur limit at m={m} n={n}"
    else:
        theory, name = exact, f"E tr S^{k} m={m} n={n}"
    return Check(name=name, area=AREA, params=dict(k=k, m=m, n=n, sigma2=sigma ** 2),
                 simulate=_trace_power(m, n, k, sigma), theory=theory, samples=samples,
                 quick_samples=min(samples, 64 * CHUNKS), rule="batch-means",
                 sensitivity=2 * k, negative_control=negative)


def ldlt_layer_simulator(m, n, sigma, alpha, gamma):
    def simulate_(generator, count):
        device = generator.device
        w0 = sigma * torch.randn(count, m, n, generator=generator, device=device,
                                 dtype=torch.float64)
        gram = w0.transpose(1, 2) @ w0 + alpha * torch.eye(n, device=device,
                                                             dtype=torch.float64)
        r = torch.linalg.cholesky(gram).transpose(1, 2)          # R^T R = gram, R upper
        x = torch.randn(count, n, 1, generator=generator, device=device, dtype=torch.float64)
        y = gamma * w0 @ torch.linalg.solve_triangular(r, x, upper=True)
        return (y.squeeze(-1) ** 2).mean(dim=1)
    return simulate_


def _ldlt_check(m, n, sigma, *, theory=None, label="exact", negative=False):
    alpha, gamma = 1.0, 1.0
    exact = ldlt_output_variance(m, n, sigma, alpha, gamma)
    # E[(mean_i y_i^2)^2] <= E[y_i^4] = 3 E[(y_i^2 | W0)^2] <= 3 (a conservative sd bound).
    relative_sd = math.sqrt(3.0 / m) * 1.2 / math.sqrt(max(exact, 1e-3))
    samples = _budget(relative_sd, "iid")
    step = 1e-3
    sensitivity = (math.log(ldlt_output_variance(m, n, sigma * (1 + step), alpha, gamma))
                   - math.log(ldlt_output_variance(m, n, sigma * (1 - step), alpha, gamma))
                   ) / (2 * step)
    radius = ldlt_series_radius(m, n, alpha)
    return Check(name=f"LDLT Var[y_i] ({label}) m={m} n={n} sigma^2/radius="
                      f"{sigma ** 2 / radius:.2g}", area=AREA,
                 params=dict(m=m, n=n, sigma=sigma, alpha=alpha, gamma=gamma),
                 simulate=ldlt_layer_simulator(m, n, sigma, alpha, gamma),
                 theory=float(exact if theory is None else theory), samples=samples,
                 quick_samples=min(samples, 128 * CHUNKS), rule="iid",
                 sensitivity=sensitivity, negative_control=negative)


def _series_beyond_radius(m, n):
    """The small-sigma series evaluated at twice its radius (it must be rejected);
    ldlt_output_variance refuses method="series" there, so call its private helper."""
    sigma = math.sqrt(2 * ldlt_series_radius(m, n, 1.0))
    mantissa, exponent = ldlt_scaled_series(m, n, (sigma * sigma, 0))   # sigma^2/alpha = r 2^e
    return _ldlt_check(m, n, sigma, theory=math.ldexp(mantissa, exponent),
                       label="3-term series", negative=True)


@functools.cache
def checks():
    out = [_trace_check(m, n, k) for m, n, k in [(3, 5, 1), (3, 5, 2), (4, 4, 3), (6, 2, 4),
                                                  (5, 8, 5)]]
    out.append(_trace_check(4, 4, 3, negative=True))
    for m, n, factor in [(8, 8, 0.5), (8, 8, 4.0), (16, 4, 0.5), (4, 16, 4.0), (32, 32, 1.0)]:
        radius = ldlt_series_radius(m, n, 1.0)
        out.append(_ldlt_check(m, n, math.sqrt(factor * radius)))
    out.append(_series_beyond_radius(8, 8))
    n = 32
    out.append(_ldlt_check(n, n, 1 / math.sqrt(n), theory=0.41,
                           label="abstract's 0.41, square", negative=True))
    out.append(_ldlt_check(n, n, 10 / math.sqrt(n), label="sigma = 10/sqrt(n), square"))
    return tuple(out)

"""Checks of initmath.hessian: the expected spectral norm E||G||_2 of a Gaussian matrix
(the quantity behind Skorski's sigma = 1 / E||W||_2), simulated by drawing the matrices
and taking their largest singular value.  ||G||_2 is light-tailed (sub-Gaussian around
its mean), so the rule is iid.  Exact values for small min(d_in, d_out), the Tracy-Widom
approximation for larger shapes (its error, ~0.07% there, is below those checks' 1% power),
and Gordon's bound sqrt(d_in) + sqrt(d_out) used as if it were the mean as the negative
control (it overstates the mean by 15% at 8 x 8).
"""
import functools
import math

import torch

from initmath.hessian import expected_norm

from .core import CHUNKS, Check, samples_for

AREA = "hessian"
# Budgets detect this relative error of E||G|| (i.e. of sigma) with probability 0.99; the
# Tracy-Widom checks aim coarser because the approximation itself is off by ~0.07% at
# 64 x 64 (a 0.2% power already gives z ~ 2 there).
_TARGET = {"exact": 0.005, "tracy-widom": 0.01}


def _norms(d_in, d_out):
    def simulate_(generator, n, device):
        g = torch.randn(n, d_out, d_in, generator=generator, device=device,
                        dtype=torch.float64)
        return torch.linalg.matrix_norm(g, ord=2)
    return simulate_


def _check(d_in, d_out, method, theory=None, *, negative=False, label=None):
    mean = float(expected_norm(d_in, d_out, method="exact" if min(d_in, d_out) <= 8
                               else "tracy-widom"))
    # sd of ||G||_2 is O(1) (Tracy-Widom scale ~ n^(-1/6) sqrt(n)); bound it by 1.
    relative_sd = 1.0 / mean
    samples = samples_for(relative_sd, _TARGET[method or "exact"], "iid", 64 * CHUNKS)
    value = float(expected_norm(d_in, d_out, method=method)) if theory is None else theory
    return Check(name=f"E||W||_2 {label or method} d_in={d_in} d_out={d_out}", area=AREA,
                 params=dict(d_in=d_in, d_out=d_out), simulate=_norms(d_in, d_out),
                 theory=value, samples=samples, quick_samples=min(samples, 64 * CHUNKS),
                 rule="iid", sensitivity=1.0, negative_control=negative)


@functools.lru_cache(maxsize=None)
def checks():
    out = [_check(d_in, d_out, "exact") for d_in, d_out in [(1, 5), (3, 2), (8, 8), (20, 6)]]
    out += [_check(d_in, d_out, "tracy-widom") for d_in, d_out in [(64, 64), (256, 32)]]
    out.append(_check(8, 8, None, theory=math.sqrt(8) + math.sqrt(8), negative=True,
                      label="Gordon's bound as the mean"))
    return tuple(out)

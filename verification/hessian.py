"""Checks of initmath.hessian: the expected spectral norm E||J||_2 of a layer's Jacobian
(the quantity behind Skorski's sigma = 1 / E||J||_2), simulated by drawing the matrices
and taking their largest singular value.  ||J||_2 is light-tailed (sub-Gaussian around
its mean), so the rule is iid.  J = W: exact values (any shape with min(d_in, d_out) <=
128), the Tracy-Widom approximation (its error, ~0.05% at 64 x 64, is below those checks'
1% power).  J = D_a W for an actual leaky-ReLU layer: the slopes are computed from W and a
fresh random input, so the checks also test the claim that this has the law of
independent slopes.  Negative controls: Gordon's bound sqrt(d_in) + sqrt(d_out) used as
if it were the mean (it overstates the mean by 15% at 8 x 8), and the linear-layer value
used for a ReLU layer.
"""
import functools
import math

import torch

from initmath.hessian import expected_norm

from .core import CHUNKS, Check, samples_for

AREA = "hessian"
# Budgets detect this relative error of E||J|| (i.e. of sigma) with probability 0.99: 0.5%
# for small matrices, 1% from 1024 entries on (an SVD of 64 x 64 costs ~1 ms on a CPU core;
# the Tracy-Widom error there, ~0.05%, is far below either).
def _target(d_in, d_out):
    return 0.005 if d_in * d_out < 1024 else 0.01


def _quick(d_in, d_out):
    return 64 * CHUNKS if d_in * d_out < 1024 else 16 * CHUNKS


def spectral_norm_simulator(d_in, d_out, a):
    def simulate_(generator, n):
        device = generator.device
        w = torch.randn(n, d_out, d_in, generator=generator, device=device,
                        dtype=torch.float64)
        if a is not None:                   # slopes of f(z) = max(z, a z) at a random input
            x = torch.randn(n, d_in, 1, generator=generator, device=device,
                            dtype=torch.float64)
            w = torch.where(w @ x > 0, 1.0, a) * w
        return torch.linalg.matrix_norm(w, ord=2)
    return simulate_


def _check(d_in, d_out, method, a=None, theory=None, *, negative=False, label=None):
    mean = float(expected_norm(d_in, d_out, a=a, method="tracy-widom"))
    # sd of ||J||_2 is O(1) (Tracy-Widom scale ~ n^(-1/6) sqrt(n)); bound it by 1.
    relative_sd = 1.0 / mean
    samples = samples_for(relative_sd, _target(d_in, d_out), "iid", 64 * CHUNKS)
    value = (float(expected_norm(d_in, d_out, a=a, method=method)) if theory is None
             else theory)
    slope = "" if a is None else f" a={a}"
    return Check(name=f"E||J||_2 {label or method} d_in={d_in} d_out={d_out}{slope}",
                 area=AREA, params=dict(d_in=d_in, d_out=d_out, a=a),
                 simulate=spectral_norm_simulator(d_in, d_out, a), theory=value, samples=samples,
                 quick_samples=min(samples, _quick(d_in, d_out)), rule="iid", sensitivity=1.0,
                 negative_control=negative)


@functools.cache
def checks():
    out = [_check(d_in, d_out, "exact")
           for d_in, d_out in [(1, 5), (3, 2), (8, 8), (20, 6), (64, 64)]]
    out += [_check(d_in, d_out, "tracy-widom") for d_in, d_out in [(64, 64), (256, 32)]]
    out += [_check(d_in, d_out, "exact", a) for d_in, d_out, a in
            [(8, 8, 0.0), (64, 32, 0.0), (1, 9, 0.3), (7, 1, 0.2)]]
    out.append(_check(64, 64, "tracy-widom", 0.3))
    out.append(_check(8, 8, None, theory=math.sqrt(8) + math.sqrt(8), negative=True,
                      label="Gordon's bound as the mean"))
    out.append(_check(32, 32, None, a=0.0, theory=float(expected_norm(32, 32)),
                      negative=True, label="linear-layer value for a ReLU layer"))
    return tuple(out)

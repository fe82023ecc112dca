"""Checks of Skorski (2020)'s Theorem 1, Theorem 2 and Corollary 1 on random MLPs, with the
curvature tools of :mod:`initmath.nn.curvature`.

Every sample is a freshly drawn bias-free MLP (float64, weights N(0, scale^2 / d_in) from
the chunk's generator, random widths, a random batch of N = 8 inputs and targets, MSE or
cross-entropy loss), built as ``nn.Sequential`` on the device of the chunk's generator.

Theorem 1 (factorized form): H_w[g, g] = v^T H_z v + grad_z L . D^2_w z[g, g], and
``factorized_hessian_form`` returns the first term.  For piecewise-linear activations
(ReLU, leaky ReLU) the second term is 0 (Remark 1): the statistic is the agreement
2 a b / (a^2 + b^2) of the factorized form a and the autograd form b = g^T (H g) along a
random direction g, theory 1.  Both sides are computed to float64 rounding, so the
spread is that of rounding and the check detects any systematic relative difference far
below 1e-8; tanh at sigma sqrt(d) = 2 "as if exact" is the negative control.  (``core``
has no rule for "every sample within a fixed tolerance": a statistic equal to its theory
on every sample has standard error 0 and z = inf there, so rounding is the only honest
noise for an identity.)

Remark 2 (tanh, small weights): with all weights scaled by s, the neglected term over the
kept one behaves as rho = |H_2| / |H_1| ~ s^p, p = 2k - n + 2 for layer k of n (zero
bias, O(1) inputs and loss gradient): H_1 = |v|^2-like ~ s^(2n-2), H_2 ~ f''(u_k) (g z_k)^2
pushed through n-1-k layers ~ s^(2k+n).  The statistic is the slope
[log rho_B(s_2) - log rho_A(s_1)] / log(s_2 / s_1) between two *independent* random
networks A, B: its mean is p + O(s_2^2) exactly (the law of the leading coefficient of
log rho does not depend on s), and its spread is the natural O(1) spread of log rho (the
slope of one network between two scales would be nearly deterministic, so its mean could
not be tested against its own noise).  Remark 2 is then false for the early layers
(p < 0) and true only for k > (n - 2) / 2.

Theorem 2 (scaling): H_w = J_w^T H_z J_w (ReLU, MSE), J_w g = B A g F is linear in every
other layer's weight, so ||H_{w^(k)}|| is homogeneous of degree 2 (not 1, as the printed
product of first powers says) in another layer's weight scale.  Statistic:
[log||H_k||(net B, layer j scaled by c) - log||H_k||(net A)] / log c over independent
networks (``layer_hessian_norm``): mean exactly 2.  The bound itself, with the squares and
the omitted ||H_z|| and input factors, is :func:`theorem2_bound_ratios` (every ratio <= 1;
tests assert it over random networks).

Corollary 1 (calibration): ``hessian_calibrate_`` on a random deep MLP with a batch X, then
the Jacobian norm of each layer map at a fresh batch X' from the same law (dense
per-sample Jacobians by torch.func and their exact largest singular value, so the
measurement does not rely on the library's Lanczos).  For bias-free ReLU the calibrated
norm at X' is exactly
M_k(X', W^0) / M_k(X, W^0) (positive rescaling keeps every activation pattern), so with X,
X' iid the mean of its log is exactly 0; for tanh it is 0 up to the dependence of the
scale on X (measured below the checks' resolution).  Statistic: 1 + mean_k log||J_k|| (the
1 keeps the theory value nonzero; the power column then reads as the relative error of
the norm).  Negative control: PyTorch's default ``nn.Linear`` initialisation
(kaiming_uniform_, a = sqrt 5) judged as "norm 1".
"""
import functools
import itertools
import math

import torch
from torch import nn

from initmath.nn.curvature import (
    factorized_hessian_form,
    hessian_calibrate_,
    layer_hessian_norm,
    layer_maps,
)

from .core import CHUNKS, Check, samples_for

AREA = "hessian"
DTYPE = torch.float64
BATCH = 8                      # inputs per network
WIDTHS = (8, 32)               # Theorem 1 / 2 networks: widths uniform on [8, 32]
CALIBRATION_WIDTHS = (32, 96)
CALIBRATION_DEPTH = 4
# Lanczos settings: Theorem 2's log-norm differences need ~1e-4.
HESSIAN_LANCZOS = dict(iters=60, tol=1e-6)
# Order of the tanh error: the two scales (sigma sqrt(d_in)).
TANH_SCALES = (0.025, 0.2)
# Theorem 2: the other layer's weight is multiplied by this factor.
DEGREE_FACTOR = 4.0
# Targets (detected with probability 0.99 at the default budget): 0.35 in the exponent
# p; 0.1 in Theorem 2's degree; 0.5% of the calibrated norm.
_TARGET = {"order": 0.35, "degree": 0.1, "calibration": 0.005}
# Per-sample standard deviations measured on pilot runs (for the budgets only):
# log rho has sd ~1.5 per network; log||H|| ~0.6; mean log||J|| ~0.008 calibrated (the
# default-init control, sd ~0.03, is rejected at z ~ 6 with the same budget).
_SD = {"order": 1.5 * math.sqrt(2) / math.log(TANH_SCALES[1] / TANH_SCALES[0]),
       "degree": 0.6 / math.log(DEGREE_FACTOR), "calibration": 0.01}
_LOSSES = {"mse": nn.functional.mse_loss, "cross_entropy": nn.functional.cross_entropy}
_ACTIVATIONS = {"relu": nn.ReLU, "leaky_relu": lambda: nn.LeakyReLU(0.1), "tanh": nn.Tanh}


# ------------------------------------------------------------------ random networks
def _integer(low, high, generator):
    return int(torch.randint(low, high + 1, (1,), generator=generator,
                             device=generator.device))


def _normal(shape, generator):
    return torch.randn(shape, generator=generator, device=generator.device, dtype=DTYPE)


def random_mlp(widths, activation, scale, generator):
    """Bias-free ``nn.Sequential`` Linear -> activation -> ... -> Linear, weights
    N(0, scale^2 / d_in) drawn from ``generator``."""
    layers = []
    for i, (d_in, d_out) in enumerate(itertools.pairwise(widths)):
        linear = nn.Linear(d_in, d_out, bias=False, device=generator.device, dtype=DTYPE)
        with torch.no_grad():
            linear.weight.copy_(_normal((d_out, d_in), generator)
                                * (scale / math.sqrt(d_in)))
        layers.append(linear)
        if i < len(widths) - 2:
            layers.append(_ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


def _linears(model):
    return [m for m in model if isinstance(m, nn.Linear)]


def random_problem(activation, depth, scale, generator, loss=None):
    """(model, loss_fn, (inputs, targets)): random widths in WIDTHS, BATCH Gaussian inputs,
    Gaussian targets (MSE) or uniform classes (cross-entropy, when ``loss`` is None half
    the time)."""
    widths = [_integer(*WIDTHS, generator) for _ in range(depth + 1)]
    model = random_mlp(widths, activation, scale, generator)
    inputs = _normal((BATCH, widths[0]), generator)
    if loss is None:
        loss = ("mse", "cross_entropy")[_integer(0, 1, generator)]
    if loss == "mse":
        targets = _normal((BATCH, widths[-1]), generator)
    else:
        targets = torch.randint(0, widths[-1], (BATCH,), generator=generator,
                                device=generator.device)
    return model, _LOSSES[loss], (inputs, targets)


def autograd_form(model, loss_fn, batch, layer, direction):
    """g^T (H g) for the full loss Hessian in ``layer.weight`` (double backward)."""
    weight = layer.weight
    with torch.enable_grad():
        loss = loss_fn(model(batch[0]), batch[1])
        (grad,) = torch.autograd.grad(loss, weight, create_graph=True)
        (hvp,) = torch.autograd.grad(grad, weight, direction)
    return float((hvp * direction).sum())


def _forms(activation, depth, scale, layer_index, generator):
    """(factorized form, autograd form) along a random direction for one random network;
    layer_index None: a random layer."""
    model, loss_fn, batch = random_problem(activation, depth, scale, generator)
    linears = _linears(model)
    k = _integer(0, depth - 1, generator) if layer_index is None else layer_index
    g = _normal(linears[k].weight.shape, generator)
    kept = float(factorized_hessian_form(model, loss_fn, batch, linears[k], g))
    return kept, autograd_form(model, loss_fn, batch, linears[k], g)


def _tensor(values, generator):
    """Per-sample statistics as a float64 tensor on the generator's device."""
    return torch.tensor(values, dtype=DTYPE, device=generator.device)


# ------------------------------------------------------------------ Theorem 1
def _form_agreement(activation, scale):
    """Per network (depth 3 or 4, random layer): 2 a b / (a^2 + b^2) for a = factorized,
    b = autograd form: 1 iff a = b, 1 - delta^2 / 2 at b = a (1 + delta), so rounding
    enters only at second order (a ratio's mean would carry any rounding bias at first
    order), and bounded in [-1, 1] (a ratio has heavy tails where b ~ 0, as for tanh)."""
    def simulate_(generator, n):
        values = []
        for _ in range(n):
            depth = _integer(3, 4, generator)
            kept, full = _forms(activation, depth, scale, None, generator)
            values.append(2 * kept * full / (kept * kept + full * full))
        return _tensor(values, generator)
    return simulate_


def _exact_check(activation, scale, *, negative=False):
    # The spread is float64 rounding; the budget only needs enough networks to cover
    # depths, layers and losses.
    samples = 8 * CHUNKS
    label = "as if exact" if negative else "exact"
    return Check(name=f"Theorem 1 factorized form {label}: {activation} "
                      f"sigma sqrt(d)={scale:g}",
                 area=AREA, params=dict(activation=activation, scale=scale, depth="3-4",
                                        widths=WIDTHS, batch=BATCH, loss="mse|ce"),
                 simulate=_form_agreement(activation, scale), theory=1.0, samples=samples,
                 quick_samples=2 * CHUNKS, rule="iid", sensitivity=1.0,
                 negative_control=negative)


def error_exponent(depth, layer_index):
    """p with |H_2| / |H_1| ~ s^p for layer k of a depth-n tanh MLP scaled by s."""
    return 2 * layer_index - depth + 2


def _log_gap(depth, layer_index, scale, generator):
    kept, full = _forms("tanh", depth, scale, layer_index, generator)
    return math.log(abs(full - kept) / abs(kept))


def _order_slope(depth, layer_index):
    """Per sample: [log rho(B at s_2) - log rho(A at s_1)] / log(s_2 / s_1), A and B
    independent random tanh networks."""
    small, large = TANH_SCALES

    def simulate_(generator, n):
        slopes = [(_log_gap(depth, layer_index, large, generator)
                   - _log_gap(depth, layer_index, small, generator))
                  / math.log(large / small) for _ in range(n)]
        return _tensor(slopes, generator)
    return simulate_


def _order_check(depth, layer_index, theory, label, *, negative=False):
    samples = samples_for(_SD["order"], _TARGET["order"], minimum=4 * CHUNKS)
    return Check(name=f"Theorem 1 tanh error order {label} (n={depth}, layer k={layer_index})",
                 area=AREA, params=dict(depth=depth, layer=layer_index, scales=TANH_SCALES,
                                        widths=WIDTHS, batch=BATCH, loss="mse|ce"),
                 simulate=_order_slope(depth, layer_index), theory=float(theory),
                 samples=samples, quick_samples=2 * CHUNKS, rule="iid", sensitivity=1.0,
                 negative_control=negative)


def theorem1_checks():
    out = [_exact_check(a, 1.0) for a in ("relu", "leaky_relu")]
    out += [_order_check(n, k, error_exponent(n, k), f"s^{error_exponent(n, k)}")
            for n, k in [(3, 0), (3, 1), (4, 0), (4, 2)]]
    # Remark 2 / Theorem 1's error term O(||w^(k)||) against a kept term of order one:
    # the relative error would vanish like s; in the first layer it grows like 1/s.
    out.append(_order_check(3, 0, 1.0, "s^1 (Remark 2: smaller order)", negative=True))
    out.append(_exact_check("tanh", 2.0, negative=True))
    return out


# ------------------------------------------------------------------ Theorem 2
def _hessian_norm(model, loss_fn, batch, layer, generator):
    return layer_hessian_norm(model, loss_fn, batch, layer, generator=generator,
                              **HESSIAN_LANCZOS).norm


def _degree(activation, depth):
    """Per sample: [log||H_k|| (B, layer j scaled) - log||H_k|| (A)] / log c, A and B
    independent random networks (MSE), k and j != k random."""
    def one(generator, factor):
        model, loss_fn, batch = random_problem(activation, depth, 1.0, generator,
                                               loss="mse")
        linears = _linears(model)
        k = _integer(0, depth - 1, generator)
        j = (k + _integer(1, depth - 1, generator)) % depth
        with torch.no_grad():
            linears[j].weight.mul_(factor)
        return math.log(_hessian_norm(model, loss_fn, batch, linears[k], generator))

    def simulate_(generator, n):
        return _tensor([(one(generator, DEGREE_FACTOR) - one(generator, 1.0))
                        / math.log(DEGREE_FACTOR) for _ in range(n)], generator)
    return simulate_


def _degree_check(activation, theory, label, *, negative=False, depth=3):
    samples = samples_for(_SD["degree"], _TARGET["degree"], minimum=4 * CHUNKS)
    return Check(name=f"Theorem 2 degree of ||H_k|| in another layer's weight {label}: "
                      f"{activation}",
                 area=AREA, params=dict(activation=activation, depth=depth, loss="mse",
                                        factor=DEGREE_FACTOR, widths=WIDTHS, batch=BATCH),
                 simulate=_degree(activation, depth), theory=float(theory), samples=samples,
                 quick_samples=2 * CHUNKS, rule="iid", sensitivity=1.0,
                 negative_control=negative)


def _jacobian_norms(model, inputs):
    """||J^(i)|| of each layer map at its actual input, as the batch operator that
    ``hessian_calibrate_`` normalises (block diagonal: the max over samples), measured
    independently of the library's Lanczos: dense per-sample Jacobians (torch.func) and
    their exact largest singular value."""
    norms, h = [], inputs
    for _, layer_map in layer_maps(model)[1]:
        per_sample = torch.func.vmap(torch.func.jacrev(lambda z, f=layer_map: f(z[None])[0]))
        norms.append(float(torch.linalg.matrix_norm(per_sample(h).detach(), ord=2).max()))
        with torch.no_grad():
            h = layer_map(h)
    return norms


def _loss_curvature(loss_fn, outputs, targets):
    """||H_z||: the loss Hessian in the network output (dense, it is small)."""
    hessian = torch.autograd.functional.hessian(lambda z: loss_fn(z, targets), outputs)
    flat = hessian.reshape(outputs.numel(), outputs.numel())
    return float(torch.linalg.eigvalsh(flat).abs().max())


def theorem2_bound_ratios(activation, depth, generator):
    """One random network (bias-free, piecewise-linear ``activation``), a random layer k:
    ``(actual / corrected bound, actual / printed bound)``.

    actual = ||H_{w^(k)}|| (``layer_hessian_norm``); corrected bound (Theorem 1 is exact
    here, H = J_w^T H_z J_w, and z^(k) = J^(k-1) ... J^(0) x row by row):
    ||H_z|| ||X||_F^2 ||A^(k)||^2 prod_{i != k} ||J^(i)||^2 with ||A^(k)|| <= 1 for these
    activations; printed bound (6): prod_{i != k} ||J^(i)|| ||A^(k)|| with ||A^(k)|| = 1.
    """
    model, loss_fn, batch = random_problem(activation, depth, 1.0, generator)
    inputs, targets = batch
    k = _integer(0, depth - 1, generator)
    actual = _hessian_norm(model, loss_fn, batch, _linears(model)[k], generator)
    others = [norm for i, norm in enumerate(_jacobian_norms(model, inputs))
              if i != k]
    with torch.no_grad():
        outputs = model(inputs)
    corrected = (_loss_curvature(loss_fn, outputs, targets)
                 * float(torch.linalg.vector_norm(inputs)) ** 2 * math.prod(others) ** 2)
    return actual / corrected, actual / math.prod(others)


def theorem2_checks():
    out = [_degree_check(a, 2.0, "= 2") for a in ("relu", "leaky_relu")]
    out.append(_degree_check("relu", 1.0, "= 1 (printed bound (6))", negative=True))
    return out


# ------------------------------------------------------------------ Corollary 1
def _calibration_statistic(activation, calibrate):
    """Per network: 1 + mean over layers of log||J^(k)|| at a fresh batch, after
    ``hessian_calibrate_`` on a calibration batch (or PyTorch's default init)."""
    def one(generator):
        widths = [_integer(*CALIBRATION_WIDTHS, generator)
                  for _ in range(CALIBRATION_DEPTH + 1)]
        if calibrate:
            model = random_mlp(widths, activation, 1.0, generator)
            calibration = _normal((BATCH, widths[0]), generator)
            # Lanczos defaults (tol 1e-6): the batch maximum is then found to ~1e-4
            # (pilot: calibration-batch norms within 9e-7 of 1), at a quarter of the cost.
            hessian_calibrate_(model, calibration, generator=generator, rtol=1e-4)
        else:
            model = random_mlp(widths, activation, 0.0, generator)
            for linear in _linears(model):
                nn.init.kaiming_uniform_(linear.weight, a=math.sqrt(5), generator=generator)
        fresh = _normal((BATCH, widths[0]), generator)
        norms = _jacobian_norms(model, fresh)
        return 1.0 + sum(map(math.log, norms)) / len(norms)

    def simulate_(generator, n):
        return _tensor([one(generator) for _ in range(n)], generator)
    return simulate_


def _calibration_check(activation, calibrate, *, negative=False):
    samples = samples_for(_SD["calibration"], _TARGET["calibration"], minimum=2 * CHUNKS)
    label = "hessian_calibrate_" if calibrate else "PyTorch default init"
    return Check(name=f"Corollary 1 layer Jacobian norm 1 at fresh inputs, {label}: "
                      f"{activation}",
                 area=AREA, params=dict(activation=activation, depth=CALIBRATION_DEPTH,
                                        widths=CALIBRATION_WIDTHS, batch=BATCH),
                 simulate=_calibration_statistic(activation, calibrate), theory=1.0,
                 samples=samples, quick_samples=2 * CHUNKS, rule="iid", sensitivity=1.0,
                 negative_control=negative)


def calibration_checks():
    return [_calibration_check("relu", True), _calibration_check("tanh", True),
            _calibration_check("relu", False, negative=True)]


@functools.cache
def checks():
    """All checks of this module, in report order."""
    return tuple(theorem1_checks() + theorem2_checks() + calibration_checks())

"""Matrix-free curvature tools for torch models (Skorski 2020, "Revisiting initialization
of neural networks": Hessian factorization and Jacobian-norm initialization).

This module imports torch; ``import initmath`` does not import it.  Its functions are
public as ``initmath.nn.jacobian_spectral_norm`` etc.

Every norm here is computed from Jacobian-vector, vector-Jacobian or Hessian-vector
products (one autograd graph, reused across iterations), never from a dense Jacobian or
Hessian, with a Lanczos iteration (full re-orthogonalization) on the symmetric operator
``J^T J`` or ``H``.  Lanczos is at least as fast as power iteration and is exact once the
Krylov space is invariant, which it is after at most ``dim`` steps.

Functions
---------
jacobian_spectral_norm
    ``||J||_2`` of ``x -> module(x)`` at a batch ``x``.
layer_hessian_norm
    ``||H||_2`` of the loss Hessian with respect to one layer's weight.
hessian_calibrate_
    Rescale each ``nn.Linear`` of an ``nn.Sequential`` in place so its layer Jacobian has
    spectral norm ``target`` (Corollary 1 of the paper).
factorized_hessian_form
    Theorem 1's factorized quadratic form ``v^T H_z v`` with ``v = B A g F``.
"""
import math
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import nn

from .. import _validate

__all__ = [
    "SpectralEstimate",
    "factorized_hessian_form",
    "hessian_calibrate_",
    "jacobian_spectral_norm",
    "layer_hessian_norm",
    "layer_maps",
]


class SpectralEstimate(NamedTuple):
    """Result of a matrix-free spectral-norm estimate.

    Attributes
    ----------
    norm : float
        The estimated spectral norm (largest singular value / largest ``|eigenvalue|``).
    iterations : int
        Operator applications used (Lanczos steps).
    converged : bool
        True when the Lanczos residual certifies the top eigenvalue (of ``J^T J`` or ``H``)
        to relative accuracy ``tol``, or the Krylov space became invariant (then the
        estimate is exact up to rounding).
    """
    norm: float
    iterations: int
    converged: bool


# a module, or any differentiable function of one tensor
TensorMap = Callable[[torch.Tensor], torch.Tensor]
# loss_fn(model(inputs), targets) -> a scalar tensor; a batch is (inputs, targets)
Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Batch = tuple[torch.Tensor, torch.Tensor]

# Most Lanczos vectors stored at once (iters x parameters or inputs): 2**28 entries is 1 GiB
# in float32; beyond, iters must be lowered.
_MAX_STORED = 2 ** 28


def _check_count(value, name):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {_validate.shown(value)}")


def _check_number(value, name, positive=False):
    """A finite int or float >= 0 (> 0 if positive); bools are not numbers here."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
            (math.isfinite(value) and value > 0) if positive
            else (value >= 0 and math.isfinite(value))):
        raise ValueError(f"{name} must be a finite number {'>' if positive else '>='} 0, "
                         f"got {_validate.shown(value)}")


def _check_iters_tol(iters, tol):
    _check_count(iters, "iters")
    _check_number(tol, "tol")


def _check_storage(iters, numel, what):
    if min(iters, numel) * numel > _MAX_STORED:
        raise ValueError(f"iters = {iters} Lanczos vectors of {numel} entries ({what}) exceed "
                         f"2**28 stored numbers; lower iters to at most "
                         f"{max(1, _MAX_STORED // numel)}")


def _check_tensor(x, name):
    """x if it is a non-empty floating-point tensor with finite entries."""
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {type(x).__name__}"
                         + (f" of dtype {x.dtype}" if isinstance(x, torch.Tensor) else ""))
    if x.numel() == 0:
        raise ValueError(f"{name} must be non-empty")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} must be finite (it holds nan or inf)")
    return x


def _call(fn, what, *args):
    """fn(*args), with a failure of the caller's module or loss on these arguments (a shape
    or dtype mismatch: torch's RuntimeError / TypeError) reported as a one-line ValueError."""
    try:
        return fn(*args)
    except (RuntimeError, TypeError) as error:
        first = (str(error).strip().splitlines() or [""])[0][:200]
        raise ValueError(f"{what} failed: {type(error).__name__}: {first}") from error


def _check_generator(generator):
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator or None, got "
                         f"{type(generator).__name__}")


def _start_vector(numel, like, generator):
    """A random unit start vector on ``like``'s device and dtype (drawn on the generator's
    device when one is given, so a seed gives the same vector wherever ``like`` lives)."""
    _check_generator(generator)
    gen_device = generator.device if generator is not None else like.device
    v = torch.randn(numel, generator=generator, device=gen_device, dtype=like.dtype)
    v = v.to(like.device)
    return v / torch.linalg.vector_norm(v)


def _lanczos_top(matvec, v0, iters, tol, what):
    """Largest-magnitude eigenvalue of a symmetric operator by Lanczos.

    Full re-orthogonalization against all stored Lanczos vectors keeps the Ritz values
    honest in floating point.  Returns ``(|lambda|, signed lambda, steps, converged,
    Ritz vector)``.
    """
    n = v0.numel()
    steps_max = min(iters, n)
    Q = v0.new_empty(steps_max, n)                  # Lanczos vectors, one per row
    Q[0] = v0
    alphas, betas = [], []
    for step in range(1, steps_max + 1):
        q = Q[step - 1]
        w = matvec(q)
        if not bool(torch.isfinite(w).all()):
            raise ValueError(f"{what} is not finite (nan or inf) at this input")
        alphas.append(float(torch.dot(q, w)))
        basis = Q[:step]
        for _ in range(2):                          # "twice is enough" re-orthogonalization
            w = w - basis.T @ (basis @ w)
        beta = float(torch.linalg.vector_norm(w))
        T = torch.diag(torch.tensor(alphas, dtype=torch.float64))
        if betas:
            off = torch.tensor(betas, dtype=torch.float64)
            T = T + torch.diag(off, 1) + torch.diag(off, -1)
        eig, vecs = torch.linalg.eigh(T)
        i = -1 if abs(float(eig[-1])) >= abs(float(eig[0])) else 0
        top = float(eig[i])
        ritz = vecs[:, i].to(dtype=Q.dtype, device=Q.device) @ basis
        scale = max(abs(top), 1e-300)
        if beta <= 1e-10 * max(scale, max(abs(a) for a in alphas)) or step == n:
            return abs(top), top, step, True, ritz      # invariant subspace: exact
        # ||A y - top y|| = beta * |last component of the Ritz vector| bounds the error of
        # the Ritz value top (symmetric A), so this is a certified stopping rule.
        if beta * abs(float(vecs[-1, i])) <= tol * scale:
            return abs(top), top, step, True, ritz
        if step < steps_max:
            betas.append(beta)
            Q[step] = w / beta
    return abs(top), top, steps_max, False, ritz


def jacobian_spectral_norm(module: TensorMap, x: torch.Tensor, *, iters: int = 50,
                           tol: float = 1e-6,
                           generator: torch.Generator | None = None) -> SpectralEstimate:
    r"""Spectral norm of the Jacobian of ``x -> module(x)`` at the batch ``x``.

    Definition: the batch-flattened operator
    :math:`J = \partial\,\mathrm{vec}(\mathrm{module}(x)) / \partial\,\mathrm{vec}(x)`,
    of shape ``(y.numel(), x.numel())``, and

    .. math:: \|J\|_2 = \max_{\|u\|=1} \|J u\| = \sqrt{\lambda_{\max}(J^T J)} .

    For a module that acts on each sample separately (MLPs, convnets, anything without
    cross-sample coupling such as train-mode BatchNorm) ``J`` is block diagonal, so this
    equals :math:`\max_i \|J_i\|_2` over the per-sample Jacobians :math:`J_i`; pass a
    single-sample batch ``x[i:i+1]`` to get one :math:`\|J_i\|_2`.

    Computed by Lanczos on :math:`J^T J`, each step one Jacobian-vector product
    (double-backward trick) and one vector-Jacobian product on a single recorded graph; the
    dense Jacobian is never formed.  Parameters get no ``.grad``.

    Parameters
    ----------
    module : callable
        An ``nn.Module`` or any differentiable function of one tensor.
    x : torch.Tensor
        Input batch (floating point, any device).
    iters : int, optional
        Maximum number of Lanczos steps (default 50).
    tol : float, optional
        Stop when the Lanczos residual bounds the relative error of
        :math:`\lambda_{\max}(J^T J)` by ``tol`` (default 1e-6), i.e. the norm to about
        ``tol / 2``.  Caveat of all Krylov methods: a top eigenvector almost orthogonal to
        the random start vector can be missed.
    generator : torch.Generator, optional
        Generator for the random start vector (reproducibility).

    Returns
    -------
    SpectralEstimate
        ``(norm, iterations, converged)``.

    Examples
    --------
    >>> import torch
    >>> from initmath.nn import jacobian_spectral_norm
    >>> lin = torch.nn.Linear(3, 2, bias=False)
    >>> with torch.no_grad():
    ...     _ = lin.weight.copy_(torch.tensor([[3., 0., 0.], [0., 4., 0.]]))
    >>> round(jacobian_spectral_norm(lin, torch.ones(5, 3)).norm, 6)
    4.0
    """
    _check_iters_tol(iters, tol)
    return _jacobian_norm(module, x, iters, tol, generator)[0]


def _jacobian_norm(module, x, iters, tol, generator, start=None):
    """jacobian_spectral_norm, plus the top right singular vector (for warm starts)."""
    _check_tensor(x, "x")
    if not callable(module):
        raise ValueError(f"module must be callable (an nn.Module or a function of one "
                         f"tensor), got {type(module).__name__}")
    _check_storage(iters, x.numel(), "x.numel()")
    with torch.enable_grad():
        xin = x.detach().requires_grad_(True)
        y = _call(module, "module(x)", xin)
        if not isinstance(y, torch.Tensor) or not y.is_floating_point():
            raise ValueError("module(x) must return a floating-point tensor")
        if not bool(torch.isfinite(y).all()):
            raise ValueError("module(x) is not finite (nan or inf): check x and the "
                             "module's parameters")
        if not y.requires_grad:                      # output does not depend on x
            return SpectralEstimate(0.0, 0, True), None
        dummy = torch.zeros_like(y, requires_grad=True)
        (vjp_dummy,) = torch.autograd.grad(y, xin, dummy, create_graph=True)

        def jvp(u):
            if not vjp_dummy.requires_grad:          # J is identically zero here
                return torch.zeros_like(y)
            (out,) = torch.autograd.grad(vjp_dummy, dummy, u.view_as(x), retain_graph=True)
            return out

        def vjp(w):
            (out,) = torch.autograd.grad(y, xin, w, retain_graph=True, allow_unused=True)
            return torch.zeros_like(x) if out is None else out

        def normal_op(u):
            return vjp(jvp(u)).reshape(-1).detach()

        v0 = _start_vector(x.numel(), x.detach(), generator)
        if start is not None and torch.linalg.vector_norm(start) > 0:
            # Warm start, mixed with the random vector: a pure warm start can sit inside an
            # invariant subspace (e.g. one sample's block of a block-diagonal J^T J) and
            # hide the true top.
            v0 = v0 + start / torch.linalg.vector_norm(start)
            v0 = v0 / torch.linalg.vector_norm(v0)
        lam, _, steps, converged, vec = _lanczos_top(
            normal_op, v0, iters, tol, "module's Jacobian J^T J u (module(x))")
    return SpectralEstimate(math.sqrt(max(lam, 0.0)), steps, converged), vec


def _weight_of(layer):
    if not isinstance(layer, nn.Module):
        raise ValueError(f"layer must be an nn.Module, got {type(layer).__name__}")
    weight = getattr(layer, "weight", None)
    if not isinstance(weight, torch.Tensor):
        raise ValueError(f"layer must have a tensor .weight, got {type(layer).__name__}")
    if not weight.is_floating_point():
        raise ValueError("layer.weight must be floating point")
    return weight


def _loss_arguments(model, loss_fn, batch, layer, linear=False):
    """(inputs, targets, layer.weight) after checking the arguments of a loss at one layer:
    an nn.Module model, a callable loss_fn, a pair batch with tensor inputs, a layer of the
    model with a floating-point weight (an nn.Linear if ``linear``)."""
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be an nn.Module, got {type(model).__name__}")
    if not callable(loss_fn):
        raise ValueError(f"loss_fn must be callable, got {type(loss_fn).__name__}")
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        raise ValueError("batch must be a pair (inputs, targets)")
    inputs, targets = batch
    _check_tensor(inputs, "batch inputs")
    weight = _weight_of(layer)
    if linear and not isinstance(layer, nn.Linear):
        raise ValueError(f"layer must be an nn.Linear, got {type(layer).__name__}")
    if not any(m is layer for m in model.modules()):
        raise ValueError("layer must be a submodule of model")
    return inputs, targets, weight


def layer_hessian_norm(model: nn.Module, loss_fn: Loss, batch: Batch, layer: nn.Module, *,
                       iters: int = 50, tol: float = 1e-6,
                       generator: torch.Generator | None = None) -> SpectralEstimate:
    r"""Spectral norm of the loss Hessian with respect to one layer's weight.

    With :math:`L(w) = \mathrm{loss\_fn}(\mathrm{model}(X), T)` as a function of
    ``layer.weight`` only (everything else fixed),

    .. math:: \|H\|_2 = \max_i |\lambda_i(\nabla^2_w L)| ,

    the full Hessian (both the Gauss-Newton term and the term with the loss gradient), over
    the flattened weight.  Computed by Lanczos on Hessian-vector products: one forward and
    one ``create_graph`` backward, then one double-backward per step.  No dense Hessian is
    formed and no ``.grad`` is written.

    Parameters
    ----------
    model : nn.Module
    loss_fn : callable
        ``loss_fn(model(inputs), targets)`` returning a scalar tensor.
    batch : tuple
        ``(inputs, targets)``.
    layer : nn.Module
        A submodule of ``model`` with a ``.weight`` tensor.
    iters, tol, generator
        As in :func:`jacobian_spectral_norm`.

    Returns
    -------
    SpectralEstimate
        ``(norm, iterations, converged)``; ``norm`` is the largest ``|eigenvalue|``.

    Examples
    --------
    For a linear least-squares layer :math:`L = \|xW^T - t\|^2 / 2`, ``H = I (x) x^T x``:

    >>> import torch
    >>> from initmath.nn import layer_hessian_norm
    >>> lin = torch.nn.Linear(2, 1, bias=False)
    >>> x = torch.tensor([[1., 0.], [0., 2.]])
    >>> mse = lambda y, t: 0.5 * ((y - t) ** 2).sum()
    >>> round(layer_hessian_norm(lin, mse, (x, torch.zeros(2, 1)), lin).norm, 5)
    4.0
    """
    _check_iters_tol(iters, tol)
    inputs, targets, weight = _loss_arguments(model, loss_fn, batch, layer)
    _check_tensor(weight.detach(), "layer.weight")
    _check_storage(iters, weight.numel(), "layer.weight.numel()")
    with torch.enable_grad():
        w = weight
        was = w.requires_grad
        w.requires_grad_(True)
        try:
            loss = _call(lambda: loss_fn(model(inputs), targets),
                         "loss_fn(model(inputs), targets) for batch")
            if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
                raise ValueError("loss_fn must return a scalar tensor")
            if not bool(torch.isfinite(loss).all()):
                raise ValueError("loss_fn(model(inputs), targets) is not finite (nan or inf) "
                                 "at this batch")
            (grad,) = torch.autograd.grad(loss, w, create_graph=True, allow_unused=True)
            if grad is None or not grad.requires_grad:
                return SpectralEstimate(0.0, 0, True)

            def hvp(u):
                (out,) = torch.autograd.grad(grad, w, u.view_as(w), retain_graph=True,
                                             allow_unused=True)
                return torch.zeros_like(u) if out is None else out.reshape(-1).detach()

            v0 = _start_vector(w.numel(), w.detach(), generator)
            lam, _, steps, converged, _ = _lanczos_top(
                hvp, v0, iters, tol, "the Hessian-vector product of loss_fn at this batch")
        finally:
            w.requires_grad_(was)
    return SpectralEstimate(lam, steps, converged)


def _flatten_sequential(model):
    if not isinstance(model, nn.Sequential):
        raise ValueError("model must be an nn.Sequential (nested Sequentials are flattened), "
                         f"got {type(model).__name__}")
    chain = []
    for name, module in model.named_children():
        if isinstance(module, nn.Sequential):
            chain.extend((f"{name}.{n}", m) for n, m in _flatten_sequential(module))
        else:
            chain.append((name, module))
    return chain


def _layer_blocks(model):
    """Split the chain into (prefix modules, [(name, linear, block modules)])."""
    chain = _flatten_sequential(model)
    starts = [i for i, (_, m) in enumerate(chain) if isinstance(m, nn.Linear)]
    prefix = [m for _, m in chain[:starts[0]]] if starts else [m for _, m in chain]
    blocks = []
    for j, i in enumerate(starts):
        end = starts[j + 1] if j + 1 < len(starts) else len(chain)
        blocks.append((chain[i][0], chain[i][1], [m for _, m in chain[i:end]]))
    return prefix, blocks


def _run(modules, h):
    for m in modules:
        h = m(h)
    return h


def layer_maps(model: nn.Sequential) -> tuple[TensorMap, list[tuple[str, TensorMap]]]:
    r"""The layer maps whose Jacobians :func:`hessian_calibrate_` normalises.

    An ``nn.Sequential`` (nested ones flattened) is cut before every ``nn.Linear``: layer
    k is the map from the input of the k-th Linear to the input of the next one (the
    Linear and the activations after it), :math:`z^{(k+1)} = f^{(k)}(w^{(k)} z^{(k)})`.

    Parameters
    ----------
    model : torch.nn.Sequential

    Returns
    -------
    tuple
        ``(prefix, maps)``: ``prefix`` maps the model input to the input of the first
        Linear (the identity when the model starts with one); ``maps`` is a list of
        ``(name, callable)``, one per Linear, composing to the rest of the model.

    Raises
    ------
    ValueError
        If model is not an ``nn.Sequential``.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from initmath.nn import layer_maps
    >>> net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    >>> prefix, maps = layer_maps(net)
    >>> [name for name, _ in maps]
    ['0', '2']
    >>> x = torch.randn(5, 3)
    >>> h = prefix(x)
    >>> for _, f in maps:
    ...     h = f(h)
    >>> bool(torch.equal(h, net(x)))
    True
    """
    prefix, blocks = _layer_blocks(model)
    return (lambda h: _run(prefix, h)), [(name, lambda h, b=block: _run(b, h))
                                         for name, _, block in blocks]


def hessian_calibrate_(model: nn.Sequential, x: torch.Tensor, *, target: float = 1.0,
                       iters: int = 50, tol: float = 1e-6, max_rounds: int = 20,
                       rtol: float = 1e-5, generator: torch.Generator | None = None,
                       ) -> list[tuple[str, float, float, float]]:
    r"""Rescale each ``nn.Linear`` weight in place so its layer Jacobian has norm ``target``.

    Corollary 1 of Skorski (2020): the layer-``k`` weight Hessian is bounded by
    :math:`\prod_{i\ne k}\|J^{(i)}\|\cdot\|A^{(k)}\|` (Theorem 2), so initialize with
    :math:`\|J^{(k)}\| \approx 1`, where
    :math:`J^{(k)} = \partial z^{(k+1)} / \partial z^{(k)} = A^{(k)} W^{(k)}` is the Jacobian
    of the *layer map*.

    Layer map (definition used here): ``model`` is an ``nn.Sequential`` (nested ones are
    flattened); the layer map of a Linear is the run of modules from it up to, not
    including, the next Linear (e.g. ``Linear -> tanh``; for the last Linear everything that
    follows it).  Its Jacobian norm is :func:`jacobian_spectral_norm` at the layer's actual
    input: ``x`` pushed through the already-calibrated earlier layers (what a forward hook on
    ``model(x)`` would capture after calibration; earlier layers are never touched again, so
    these are also the inputs after the whole call).

    Layers are processed in order.  For each, ``W <- s W`` with ``s = target / ||J||``; for a
    positively homogeneous block (ReLU, linear, no bias) one step is exact, otherwise (tanh,
    biases) the step is repeated (secant steps on ``log ||J||`` against ``log s``, at most
    ``max_rounds``) until
    ``| ||J|| - target | <= rtol * target``.  Biases are not changed.  Runs under
    ``torch.no_grad()`` for the weight updates; no ``.grad`` is written.

    Parameters
    ----------
    model : nn.Sequential
    x : torch.Tensor
        A calibration batch.
    target : float, optional
        Target layer-Jacobian spectral norm (default 1).
    iters, tol, generator
        Passed to :func:`jacobian_spectral_norm`.
    max_rounds : int, optional
        Maximum rescaling rounds per layer (default 20).
    rtol : float, optional
        Relative accuracy at which a layer counts as calibrated (default 1e-5).

    Returns
    -------
    list of tuple
        ``(name, norm_before, scale, norm_after)`` per Linear, ``scale`` the total factor
        applied to its weight.

    Raises
    ------
    ValueError
        For a non-Sequential model, no Linear layer, ``target <= 0``, or a layer whose
        Jacobian vanishes (it cannot be rescaled to a positive norm).

    Examples
    --------
    >>> import torch
    >>> from initmath.nn import hessian_calibrate_, jacobian_spectral_norm
    >>> _ = torch.manual_seed(0)
    >>> net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(),
    ...                           torch.nn.Linear(16, 4))
    >>> report = hessian_calibrate_(net, torch.randn(32, 8))
    >>> [name for name, *_ in report]
    ['0', '2']
    >>> all(abs(after - 1.0) < 1e-3 for *_, after in report)
    True
    """
    _check_number(target, "target", positive=True)
    _check_count(max_rounds, "max_rounds")
    _check_number(rtol, "rtol")
    _check_iters_tol(iters, tol)
    _check_tensor(x, "x")
    prefix, blocks = _layer_blocks(model)
    if not blocks:
        raise ValueError("model contains no nn.Linear layer")
    report = []
    with torch.no_grad():
        h = _call(_run, "model(x)", prefix, x)
    for name, linear, block in blocks:
        fn = (lambda z, _b=block: _run(_b, z))
        est, vec = _jacobian_norm(fn, h, iters, tol, generator)
        before = est.norm
        if not before > 0:
            raise ValueError(f"layer {name!r} has a zero Jacobian at its input; "
                             "it cannot be rescaled")
        norm, total = before, 1.0
        slope, last = 1.0, None      # d log||J|| / d log s; exactly 1 when homogeneous
        for _ in range(max_rounds):
            if abs(norm - target) <= rtol * target:
                break
            if last is not None:     # secant update of the log-log slope
                d_log_s = math.log(total) - last[0]
                if d_log_s != 0:
                    slope = min(max((math.log(norm) - last[1]) / d_log_s, 0.05), 2.0)
            last = (math.log(total), math.log(norm))
            s = math.exp(math.log(target / norm) / slope)
            with torch.no_grad():
                linear.weight.mul_(s)
            total *= s
            # warm start from the previous top singular vector: exact for homogeneous
            # blocks, nearly so otherwise
            est, vec = _jacobian_norm(fn, h, iters, tol, generator, start=vec)
            norm = est.norm
            if not norm > 0:
                raise ValueError(f"layer {name!r}: Jacobian vanished while rescaling")
        report.append((name, before, total, norm))
        with torch.no_grad():
            h = fn(h)
    return report


def factorized_hessian_form(model: nn.Module, loss_fn: Loss, batch: Batch, layer: nn.Linear,
                            direction: torch.Tensor) -> torch.Tensor:
    r"""Theorem 1's factorized Hessian quadratic form for ``layer.weight`` along ``direction``.

    For a direction ``g`` shaped like :math:`W^{(k)}` (``layer.weight``), Skorski (2020),
    Theorem 1:

    .. math::
        \mathbf H_{w^{(k)}}[g, g] \approx v^T \mathbf H_z v, \qquad
        v = B^{(k+1)} \cdot A^{(k)} \cdot g \cdot F^{(k)},

    with :math:`F^{(k)} = z^{(k)}` the layer input (captured by a forward hook, one row per
    sample), :math:`g F^{(k)}` the change of the pre-activation, :math:`A^{(k)}` the
    activation derivative and :math:`B^{(k+1)} = \partial z^{(n)}/\partial z^{(k+1)}` the
    downstream Jacobian (both applied together as one Jacobian-vector product pushing
    :math:`g F^{(k)}` from the layer's output to the model output), and
    :math:`\mathbf H_z = \nabla_z^2 \mathrm{loss}` the loss Hessian in the model output
    (applied as a Hessian-vector product).  For the batch, ``v`` stacks the per-sample
    vectors and :math:`\mathbf H_z` is the Hessian of the batch loss in the whole output.

    This is exactly the Gauss-Newton part of :math:`g^T \nabla^2_w L\, g`; the neglected
    part is :math:`\nabla_z L \cdot \nabla^2_w z^{(n)}[g, g]`, which vanishes when every
    activation after the layer is piecewise linear (ReLU, leaky ReLU: Remark 1), so then the
    form equals the autograd Hessian form (almost everywhere, i.e. away from kinks).

    Parameters
    ----------
    model : nn.Module
    loss_fn : callable
        ``loss_fn(model(inputs), targets)``, a scalar tensor.
    batch : tuple
        ``(inputs, targets)``.
    layer : nn.Module
        A submodule of ``model`` whose forward computes ``input @ weight.T (+ bias)``
        (``nn.Linear``).
    direction : torch.Tensor
        ``g``, the same shape as ``layer.weight``.

    Returns
    -------
    torch.Tensor
        The scalar :math:`v^T \mathbf H_z v` (0-dim tensor, detached).

    Examples
    --------
    >>> import torch
    >>> from initmath.nn import factorized_hessian_form
    >>> _ = torch.manual_seed(0)
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.ReLU(),
    ...                           torch.nn.Linear(5, 2)).double()
    >>> x, t = torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 2, dtype=torch.float64)
    >>> mse = torch.nn.functional.mse_loss
    >>> g = torch.randn(5, 3, dtype=torch.float64)
    >>> form = factorized_hessian_form(net, mse, (x, t), net[0], g)
    >>> w = net[0].weight
    >>> loss = lambda W: mse(torch.func.functional_call(net, {"0.weight": W}, (x,)), t)
    >>> exact = torch.autograd.functional.vhp(loss, w.detach(), g)[1].mul(g).sum()
    >>> bool(torch.isclose(form, exact, rtol=1e-10))
    True
    """
    inputs, targets, weight = _loss_arguments(model, loss_fn, batch, layer, linear=True)
    if not isinstance(direction, torch.Tensor) or direction.shape != weight.shape:
        raise ValueError(f"direction must be a tensor of shape {tuple(weight.shape)}, got "
                         + (str(tuple(direction.shape)) if isinstance(direction, torch.Tensor)
                            else type(direction).__name__))
    _check_tensor(direction.detach(), "direction")
    g = direction.detach().to(device=weight.device, dtype=weight.dtype)
    captured = {}

    def capture(_module, args):
        captured["F"] = args[0].detach()             # F^{(k)} = z^{(k)}: the layer input

    handle = layer.register_forward_pre_hook(capture)
    try:
        with torch.no_grad():
            z = _call(model, "model(inputs) for batch", inputs)
    finally:
        handle.remove()
    if "F" not in captured:
        raise ValueError("layer was not called during model(inputs)")
    gF = captured["F"] @ g.T                         # g . F^{(k)}, one row per sample

    # v = B^{(k+1)} . A^{(k)} . (g F^{(k)}): push g F from the layer's output (pre-activation)
    # to the model output.  With delta added to the layer's output, v = (dz/d delta) gF, a
    # Jacobian-vector product, taken by the double-backward trick on one recorded graph.
    with torch.enable_grad():
        delta = torch.zeros_like(gF, requires_grad=True)
        handle = layer.register_forward_hook(lambda _m, _a, out: out + delta)
        try:
            y = _call(model, "model(inputs) for batch", inputs)
        finally:
            handle.remove()
        dummy = torch.zeros_like(y, requires_grad=True)
        (back,) = torch.autograd.grad(y, delta, dummy, create_graph=True)
        if back.requires_grad:
            (v,) = torch.autograd.grad(back, dummy, gF, allow_unused=True)
        else:
            v = None
    v = torch.zeros_like(z) if v is None else v.detach()
    with torch.enable_grad():                        # H_z v by double backward
        zz = z.detach().requires_grad_(True)
        loss = _call(loss_fn, "loss_fn(model(inputs), targets) for batch", zz, targets)
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
            raise ValueError("loss_fn must return a scalar tensor")
        (grad_z,) = torch.autograd.grad(loss, zz, create_graph=True)
        if not grad_z.requires_grad:                 # loss linear in the output
            return torch.zeros((), dtype=v.dtype, device=v.device)
        (hz_v,) = torch.autograd.grad(grad_z, zz, v.detach(), allow_unused=True)
    if hz_v is None:
        return torch.zeros((), dtype=v.dtype, device=v.device)
    form = (v * hz_v).sum().detach()
    if not bool(torch.isfinite(form)):
        raise ValueError("the form is not finite (nan or inf): check batch, direction and "
                         "the model's parameters")
    return form

r"""The per-layer prediction report of :func:`initmath.nn.init_model_`: predicted mean
squares with their finite-width spread, measured values, and ``assert_healthy``.

The prediction propagates, along the model's graph (:mod:`initmath.nn.graph`) in
topological order, the mean m and the variance v (over the random weights, for one input)
of the mean square per coordinate :math:`q = \lVert y\rVert^2 / n` of every node's output.
The rules (``sigma``: a weight's std, ``n_in``: the fan-in, ``n``: the output width):

* **Linear / Conv**, :math:`y = W x + b`: given x the outputs are iid
  :math:`N(0, c^2)`, :math:`c^2 = \sigma^2 n_\mathrm{in} q_x + \sigma_b^2`, so
  :math:`E[q_y \mid x] = c^2` and :math:`\mathrm{Var}[q_y \mid x] = 2 c^4 / n`, whence
  (exact) :math:`m_y = a m_x + \sigma_b^2`, :math:`v_y = a^2 v_x + 2 (a^2 (v_x + m_x^2) +
  2 a m_x \sigma_b^2 + \sigma_b^4) / n`, :math:`a = \sigma^2 n_\mathrm{in}`.  Conv: one
  output position is a dense unit over its receptive field (exact in the mean for circular
  padding; zero padding multiplies :math:`a` by the mean fraction of taps inside the input
  when the input's shape is known, taking the input's mean square equal at all positions),
  and the spread counts one channel's positions as one unit (conservative).
* **Activation** after a linear layer: given :math:`c` the outputs are iid
  :math:`\phi(c g)`, so :math:`E[q \mid c] = M_2(c) = E\phi(cg)^2` and
  :math:`\mathrm{Var}[q \mid c] = (M_4(c) - M_2(c)^2)/n`, integrated over the law of
  :math:`c^2`: exact through its first two moments for positively homogeneous
  :math:`\phi` (:math:`M_2 = c^2 (1+a^2)/2`, :math:`M_4 = 3 c^4 (1+a^4)/2`); otherwise a
  second-order moment closure: :math:`c^2` log-normal with its mean and variance, a
  5-point Gauss-Hermite rule in :math:`\log c^2` (within 0.3% of the exact
  :func:`initmath.finite_depth.depth_law` in the mean at depth 6, width 16).  After
  anything but a linear layer the input coordinates are taken as Gaussian (stated).
* **Residual addition** :math:`x + f`: means add exactly (the cross term has mean zero
  when the branch ends with a fresh zero-mean weight); the variance is
  :math:`v_x + v_f + 2\,\mathrm{Cov}(q_x, q_f) + 4 (m_x m_f + \mathrm{Cov}) / n`, the last
  term the variance of the cross term :math:`2\langle x, W h\rangle / n`, with the
  covariance from the loadings :math:`E[q \mid x_s] = k q_s` on the fork s: exact for
  positively homogeneous branches, first order otherwise (stated).
* **Normalization** (LayerNorm, GroupNorm, InstanceNorm, RMSNorm, BatchNorm without running
  statistics): mean square :math:`q/(q + \epsilon)` times the affine weight's mean square,
  plus the bias's, variance neglected (stated); BatchNorm with running statistics is
  predicted in eval mode, the per-channel affine map with its running mean and variance.
* **Embedding**: rows of iid :math:`N(0, \rho^2)`: :math:`m = \rho^2`,
  :math:`v = 2\rho^4/n` (exact for one looked-up row).
* **Attention** (the approximation is stated in the records): tokens orthogonal with equal
  norms (iid random inputs at large width), no mask.  Then, given the query vector of a
  head, the logits :math:`\ell_{ij}` are iid :math:`N(0, s^2)`,
  :math:`s^2 = \bar s^2 \chi^2_{h}/h` (h the head dimension,
  :math:`\bar s^2 = \sigma_q^2 n_q m_q\, \sigma_k^2 n_k m_k`), and the mixture
  :math:`o_i = \sum_j P_{ij} v_j` has :math:`E[q_o] = \sigma_v^2 n_v m_v\,
  E\sum_j P_{ij}^2`, with :math:`E\sum_j P_{ij}^2 = T\int_0^\infty t\, E[e^{2\ell}
  e^{-t e^\ell}] (E e^{-t e^\ell})^{T-1} dt` exact for T iid logits (Gauss-Hermite in
  :math:`\ell`, the trapezoidal rule in log t), averaged over :math:`s^2` by generalized
  Gauss-Laguerre.  ``out_proj`` is a linear layer.

Measured values (:meth:`InitReport.measure`) come from forward hooks in eval mode; each
is judged by :math:`z = (\text{measured} - \text{predicted})/\text{spread}`.  One batch
through one network is ONE draw of the weights: averaging over the batch does not shrink
the weight-randomness spread (it can only lower the variance of the batch mean, so the
single-input spread used here is conservative).
"""
import math
from collections.abc import Iterable
from typing import NamedTuple

import numpy as np
import torch
from scipy import special
from torch import nn

from .._engine.gaussian import gaussian_rule
from ..activations import activation as _resolve_activation

# InitRecord, InitReport and SkippedParameter are exported by initmath.nn.init (their home
# since before this module existed).
__all__ = ["attention_mixing"]

# Approximations, as recorded in InitRecord.approximation.
GAUSSIAN_INPUT = "activation input taken as iid N(mu, q - mu^2) coordinates, mu their mean"
CLOSURE = ("law of the pre-activation variance c^2 closed at two moments (log-normal, "
           "5-point Gauss-Hermite)")
LOADING = "Cov(skip, branch) from first-order loadings on the fork"
CROSS = "cross term <skip, branch> taken as mean zero (branch ends without a fresh weight)"
NORM = ("normalized mean square q/(q + eps) at q = the mean; spread: eps/q and float32 "
        "rounding")
NORM_UNKNOWN = ("norm input unknown: output mean square taken as mean(w^2) + mean(b^2), "
                "eps neglected; no spread")
BATCHNORM = "BatchNorm in eval mode with channels of equal mean square"
CONV = "conv: input mean square equal at all positions; spread counts a channel as one unit"
ATTENTION = ("attention: tokens orthogonal with equal norms, no mask (random tokens: "
             "error O(T/d), +9% at T = 16, d = 32); logits iid N(0, s^2) given the query, "
             "s^2 ~ chi^2; head spreads independent")
RRELU = "RReLU at its eval-mode slope (lower + upper) / 2"
SHAPE = "sequence length unknown (pass a batch): no prediction"
# Gauss-Hermite rule (probabilists') of the moment closure in log c^2.
_CLOSURE_RULE = (lambda z, w: (z, w / w.sum()))(*special.roots_hermitenorm(5))
_HERMITE = special.roots_hermitenorm(80)
# Relative rounding of a float32 mean square: the floor of a normalized output's spread.
_FLOAT32_ROUNDING = 2.0 ** -20
# Kinds whose output mean square is judged against the band in assert_healthy.
_JUDGED = ("layer", "before-norm", "norm", "embedding", "attention-out")


class InitRecord(NamedTuple):
    """What :func:`init_model_` did to one module, and what it predicts for its output.

    Attributes
    ----------
    name : str
        The module's name in ``model.named_modules()``.
    shape : tuple of int
        The weight's shape (``()`` for a norm without affine weight).
    std : float
        The standard deviation its weights were drawn with (0 for a norm: weight 1, bias 0).
    activation : str
        What follows the layer, as read from the model: ``"ReLU"``,
        ``"LeakyReLU(negative_slope=0.01)"``, ``"RReLU(lower=0.125, upper=0.333)"``,
        ``"identity"`` (no activation: the output layer, a layer followed by another linear
        layer, a normalization or a residual addition), any other elementwise activation
        with its parameters (``"GELU(approximate='none')"``, ``"Tanh"``, ...),
        ``"override"`` (``override_a`` was given), ``"any"`` (``"xavier"``), or ``"none"``
        (norms, embeddings, attention projections).
    a : float, tuple or None
        The slope the std was computed for (1.0 for identity; ``(lower, upper)`` for RReLU;
        None for ``"xavier"``, the hessian scheme's linear Jacobian, other activations).
    moment_factor : float or None
        The predicted one-layer factor on the moment the scheme keeps (1: kept exactly),
        as in :func:`init_model_`; None where it is not defined.
    kind : str
        ``"layer"`` (Linear/Conv followed by an activation or the identity),
        ``"before-norm"`` (followed by a normalization: identity std),
        ``"residual-end"`` (last layer of a residual branch: identity std times
        ``residual_scale``), ``"norm"``, ``"embedding"``, ``"attention-in"`` (the Q, K, V
        projections of an ``nn.MultiheadAttention``; ``predicted`` is the attention
        mixture's mean square, the input of ``out_proj``), ``"attention-out"``
        (``out_proj``; ``predicted`` is the attention module's output).
    residual_scale : float or None
        alpha, the factor on the std of a residual branch's last layer.
    predicted : float or None
        The predicted mean square per output coordinate, :math:`E\\lVert y\\rVert^2/n`, for
        inputs of mean square ``input_rms**2`` per coordinate (or, after
        :meth:`InitReport.measure`, the batch's); None where no prediction exists.
    spread : float or None
        The finite-width standard deviation of :math:`\\lVert y\\rVert^2/n` over the random
        weights, for one input.
    approximation : str or None
        None when ``predicted`` and ``spread`` follow from exact rules; else the
        approximations used on the way (``"; "``-separated).
    measured : float or None
        The measured mean square per coordinate over a batch (:meth:`InitReport.measure`).
    z : float or None
        (measured - predicted) / spread.
    """
    name: str
    shape: tuple
    std: float
    activation: str = "override"
    a: object = None
    moment_factor: float | None = None
    kind: str = "layer"
    residual_scale: float | None = None
    predicted: float | None = None
    spread: float | None = None
    approximation: str | None = None
    measured: float | None = None
    z: float | None = None


class SkippedParameter(NamedTuple):
    """A parameter :func:`init_model_` left unchanged, and why.

    Attributes
    ----------
    name : str
        Its name in ``model.named_parameters()``.
    shape : tuple of int
    reason : str
    """
    name: str
    shape: tuple
    reason: str


# --------------------------------------------------------------------------- attention
def _mixing_given(s2, tokens):
    """E sum_j P_ij^2 for ``tokens`` iid N(0, s2) logits: T int_0^inf t E[e^(2l) e^(-t e^l)]
    (E e^(-t e^l))^(T-1) dt, by probabilists' Gauss-Hermite in l and the trapezoidal rule
    in u = log t (the integrand decays like t^2 below the scale 1/(T e^(s^2/2)) and
    doubly exponentially above the largest e^(-l))."""
    if tokens == 1:
        return 1.0
    z, w = _HERMITE
    w = w / w.sum()
    s = math.sqrt(s2)
    e = np.exp(s * z)
    low = -(math.log(tokens) + s * z[-1] + 30.0)
    u = np.linspace(low, s * z[-1] + 5.0, 1200)
    t = np.exp(u)[:, None]
    decay = np.exp(-t * e)                                  # (u, nodes)
    log_laplace = np.log(decay @ w)
    tilted = (decay * e * e) @ w
    integrand = tokens * t[:, 0] ** 2 * tilted * np.exp((tokens - 1) * log_laplace)
    return float(np.trapezoid(integrand, u))


def attention_mixing(logit_variance, head_dim, tokens, *, nodes=12):
    r"""(mean, variance) of :math:`\sum_j P_{ij}^2` for one query of one attention head.

    The logits :math:`\ell_{ij} = q_i\cdot k_j/\sqrt{h}` of ``tokens`` keys orthogonal
    with equal norms are, given :math:`q_i`, iid :math:`N(0, s^2)` with
    :math:`s^2 = \bar s^2 \chi^2_h / h`, :math:`\bar s^2` = ``logit_variance``.  Given
    :math:`s^2` the mean is the exact one-dimensional integral
    :math:`T\int_0^\infty t\,E[e^{2\ell} e^{-t e^{\ell}}]\,(E e^{-t e^\ell})^{T-1}\,dt`
    (:math:`1/S^2 = \int_0^\infty t e^{-tS} dt`); the mixture over :math:`s^2` is a
    ``nodes``-point generalized Gauss-Laguerre rule, and the variance returned is that of
    the conditional mean over :math:`s^2` (the spread of :math:`\sum_j P_{ij}^2` given
    :math:`s^2` is neglected).

    Parameters
    ----------
    logit_variance : float
        :math:`\bar s^2 \ge 0`.
    head_dim : int
        h >= 1.
    tokens : int
        T >= 1, the number of keys.

    Returns
    -------
    (float, float)

    Examples
    --------
    One token takes all the weight; zero logits spread it evenly:

    >>> from initmath.nn.model_report import attention_mixing
    >>> attention_mixing(0.7, 8, 1)
    (1.0, 0.0)
    >>> mean, _ = attention_mixing(0.0, 8, 16)
    >>> abs(mean - 1 / 16) < 1e-12
    True
    """
    if not (math.isfinite(logit_variance) and logit_variance >= 0):
        raise ValueError(f"logit_variance must be finite and >= 0, got {logit_variance!r}")
    if int(head_dim) != head_dim or head_dim < 1 or int(tokens) != tokens or tokens < 1:
        raise ValueError(f"head_dim and tokens must be integers >= 1, got {head_dim!r}, "
                         f"{tokens!r}")
    if logit_variance == 0 or tokens == 1:
        return 1.0 / tokens, 0.0
    alpha = head_dim / 2 - 1
    y, w = special.roots_genlaguerre(nodes, alpha)
    w = w / w.sum()
    values = np.array([_mixing_given(logit_variance * 2 * yi / head_dim, int(tokens))
                       for yi in y])
    mean = float(w @ values)
    return mean, float(w @ (values - mean) ** 2)


# --------------------------------------------------------------------------- propagation
class _State(NamedTuple):
    """Law of q = ||y||^2 / n of one node's output: mean, variance, width n; c2 = (mean,
    variance) of c^2 when the coordinates are, given the input, iid N(0, c^2) (a fresh
    linear output); loads {node: k}, E[q | x_node] ~ k q_node; the approximations used;
    first: the coordinates' mean value (0 after a zero-mean weight; ReLU's outputs are
    positive), what an activation of a non-Gaussian input is shifted by."""
    mean: float
    var: float
    width: int
    c2: tuple | None
    loads: dict
    approx: frozenset
    first: float = 0.0


def _scaled_loads(loads, factor, index):
    out = {key: value * factor for key, value in loads.items()}
    out[index] = 1.0
    return out


def _linear(state, index, scale, fan_in, width, bias2=0.0, extra=frozenset()):
    a = scale * fan_in
    mean, var = a * state.mean + bias2, a * a * state.var
    second = a * a * (state.var + state.mean ** 2) + 2 * a * state.mean * bias2 + bias2 ** 2
    return _State(mean, var + 2 * second / width, width, (mean, var),
                  _scaled_loads(state.loads, a, index), state.approx | extra)


def _moments(phi, c2, shift=0.0):
    """(E phi(u), E phi(u)^2, E phi(u)^4), u = shift + c g, at c^2 = c2."""
    if c2 <= 0:
        value = float(phi.numpy(np.array(shift)))
        return value, value ** 2, value ** 4
    x, w = gaussian_rule([b - shift for b in phi.breakpoints], math.sqrt(c2))
    y = phi.numpy(x + shift)
    y2 = y * y
    return float(w @ y), float(w @ y2), float(w @ (y2 * y2))


def _closure(mean, var):
    """Nodes and weights of the moment closure for E f(c^2): c^2 log-normal with the
    given mean and variance (positive, as c^2 is, and exact for f linear), by the
    Gauss-Hermite rule in log c^2."""
    if var <= 0 or mean <= 0:
        return np.array([max(mean, 0.0)]), np.array([1.0])
    s2 = math.log1p(var / (mean * mean))
    z, w = _CLOSURE_RULE
    return mean * np.exp(math.sqrt(s2) * z - s2 / 2), w


def _activation(state, index, phi, extra):
    """The state after phi: given c the outputs are iid phi(shift + c g); a fresh linear
    output has shift 0 and the law of c^2 (exact), anything else is taken as coordinates
    N(mu, q - mu^2), mu their mean (stated)."""
    n, approx = state.width, state.approx | extra
    if state.c2 is not None:
        (c2m, c2v), shift = state.c2, 0.0
    else:
        shift = state.first
        c2m, c2v = max(state.mean - shift * shift, 0.0), state.var
        approx |= {GAUSSIAN_INPUT}
    points, weights = _closure(c2m, c2v)
    if phi.slopes is not None and shift == 0:
        a = phi.slopes[1]
        k2, k4 = (1 + a * a) / 2, 3 * (1 + a ** 4) / 2
        mean = k2 * c2m
        var = k2 * k2 * c2v + (k4 - k2 * k2) * (c2v + c2m * c2m) / n
        first = (1 - a) / math.sqrt(2 * math.pi) * float(weights @ np.sqrt(points))
    else:
        m1, m2, m4 = np.array([_moments(phi, c, shift) for c in points]).T
        mean, first = float(weights @ m2), float(weights @ m1)
        var = float(weights @ (m2 * m2)) - mean * mean + float(weights @ (m4 - m2 * m2)) / n
        if c2v > 0:
            approx |= {CLOSURE}
    factor = mean / state.mean if state.mean > 0 else 0.0
    return _State(mean, max(var, 0.0), n, None, _scaled_loads(state.loads, factor, index),
                  approx, first)


def _add(left, right, index, variances):
    common = set(left.loads) & set(right.loads)
    approx = left.approx | right.approx
    cov = 0.0
    if common:
        fork = max(common)
        cov = left.loads[fork] * right.loads[fork] * variances[fork]
        if approx:
            approx |= {LOADING}
    if left.c2 is None and right.c2 is None:
        approx |= {CROSS}
    width = max(left.width, right.width)
    var = left.var + right.var + 2 * cov + 4 * (left.mean * right.mean + cov) / width
    loads = {key: left.loads.get(key, 0.0) + right.loads.get(key, 0.0)
             for key in set(left.loads) | set(right.loads)}
    loads[index] = 1.0
    return _State(left.mean + right.mean, max(var, 0.0), width, None, loads, approx,
                  left.first + right.first)


def _affine_moments(module):
    weight, bias = getattr(module, "weight", None), getattr(module, "bias", None)
    w2 = 1.0 if weight is None else float(weight.detach().double().pow(2).mean())
    b2 = 0.0 if bias is None else float(bias.detach().double().pow(2).mean())
    return w2, b2


def _norm(state, index, module, width):
    w2, b2 = _affine_moments(module)
    eps = float(getattr(module, "eps", 0.0) or 0.0)
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.running_var is not None:
        if state is None:
            return None
        inverse = 1 / (module.running_var.detach().double() + eps)
        scale = float(inverse.mean()) * w2
        offset = float((module.running_mean.detach().double() ** 2 * inverse).mean()) * w2
        shift = float(((state.first - module.running_mean.detach().double())
                       * inverse.sqrt()).mean())
        return _State(scale * state.mean + offset + b2, scale * scale * state.var,
                      state.width, None, _scaled_loads(state.loads, scale, index),
                      state.approx | {BATCHNORM}, shift)
    if state is None:        # the output is normalized whatever the input's scale
        return _State(w2 + b2, 0.0, width, None, {index: 1.0}, frozenset({NORM_UNKNOWN}))
    q = state.mean
    base = q / (q + eps) if q > 0 else 0.0
    # spread: the size of the neglected eps effect, plus float32 rounding
    spread = w2 * base * (eps / q + _FLOAT32_ROUNDING) if q > 0 else 0.0
    # RMSNorm does not centre: its output keeps the input's mean, scaled
    first = state.first / math.sqrt(q + eps) if isinstance(module, nn.RMSNorm) and q > 0 \
        else 0.0
    return _State(w2 * base + b2, spread * spread, width, None, {index: 1.0},
                  frozenset({NORM}), first)


class _Scales(NamedTuple):
    """The variances a prediction is made with: per layer module (weight std^2, bias
    variance); per attention module (q, k, v, out weight variances); per embedding its
    entries' variance."""
    layers: dict
    attention: dict
    embeddings: dict


def _coverage(conv, shape):
    """Mean fraction of a zero-padded conv's taps that fall inside an input of this
    spatial shape (1 for other padding modes or an unknown shape)."""
    if shape is None or conv.padding_mode != "zeros":
        return 1.0
    factor = 1.0
    spatial = shape[-len(conv.kernel_size):]
    for i, (size, k, stride, dil) in enumerate(zip(spatial, conv.kernel_size, conv.stride,
                                                   conv.dilation)):
        if conv.padding == "valid":
            continue
        pad = (dil * (k - 1)) // 2 if conv.padding == "same" else conv.padding[i]
        out = size if conv.padding == "same" else (size + 2 * pad - dil * (k - 1) - 1) // stride + 1
        taps = np.arange(out)[:, None] * stride - pad + np.arange(k)[None, :] * dil
        factor *= float(((taps >= 0) & (taps < size)).mean())
    return factor


def _layer_state(state, node, scales, shapes):
    module = node.module
    if state is None or id(module) not in scales.layers:
        return None
    weight2, bias2 = scales.layers[id(module)]
    fan_in = math.prod(module.weight.shape[1:])
    if isinstance(module, nn.Linear):
        return _linear(state, node.index, weight2, fan_in, module.out_features, bias2)
    cover = _coverage(module, shapes.get(id(module)))
    return _linear(state, node.index, weight2 * cover, fan_in, module.out_channels, bias2,
                   frozenset({CONV}))


def _slope_activation(spec):
    """(Activation, extra approximations) for an activation node's spec."""
    if isinstance(spec, nn.RReLU):
        return _resolve_activation("leakyrelu", negative_slope=(spec.lower + spec.upper) / 2), \
            frozenset({RRELU})
    if isinstance(spec, tuple):
        return _resolve_activation(spec[0], **spec[1]), frozenset()
    return _resolve_activation(spec), frozenset()


def _activation_state(state, node):
    """The state after an activation node, None where phi has no Gaussian law (a slope
    outside [0, 1], a per-channel PReLU)."""
    try:
        phi, extra = _slope_activation(node.spec)
    except ValueError:
        return None
    return _activation(state, node.index, phi, extra)


def _tokens(module, shape):
    if shape is None:
        return None
    if len(shape) == 2:
        return shape[0]
    return shape[1] if module.batch_first else shape[0]


def _attention_states(node, states, scales, shapes):
    """(state of the mixture o = P V, state of out_proj's output) or (None, None)."""
    module = node.module
    roles = [states[node.info.get(r)] if node.info.get(r) is not None else None
             for r in ("query", "key", "value")]
    tokens = _tokens(module, shapes.get(id(module)))
    if None in roles or id(module) not in scales.attention or tokens is None:
        return None, None
    query, key, value = roles
    sq, sk, sv, so = scales.attention[id(module)]
    dim, heads = module.embed_dim, module.num_heads
    logit = sq * dim * query.mean * sk * module.kdim * key.mean
    mix, mix_var = attention_mixing(logit, dim // heads, tokens)
    mean = sv * module.vdim * value.mean * mix
    ratio = mean / value.mean if value.mean > 0 else 0.0
    var = (ratio * ratio * value.var + mean * mean * 2 / dim
           + (sv * module.vdim * value.mean) ** 2 * mix_var / heads)
    approx = query.approx | key.approx | value.approx | {ATTENTION}
    if node.info.get("mask"):
        approx |= {"attention mask ignored"}
    mixture = _State(mean, var, dim, None, _scaled_loads(value.loads, ratio, node.index),
                     approx)
    return mixture, _linear(mixture, node.index, so, dim, dim)


def propagate(graph, scales, inputs, shapes=None):
    """{node index: _State or None} for the graph; ``inputs``: one (mean square, variance)
    or None per input node, in order; ``shapes``: {id(module): its input's shape}."""
    shapes = shapes or {}
    states, variances, mixtures = {}, {}, {}
    feed = iter(inputs)
    for node in graph.nodes:
        given = [states.get(i) for i in node.inputs]
        first = given[0] if given else None
        if node.kind == "input":
            value = next(feed, None)
            state = None if value is None else _State(value[0], value[1], 1, None,
                                                      {node.index: 1.0}, frozenset())
        elif node.kind == "layer":
            state = _layer_state(first, node, scales, shapes)
        elif node.kind == "activation" and first is not None:
            state = _activation_state(first, node)
        elif node.kind == "transparent":
            state = first
        elif node.kind == "add" and len(given) == 2 and None not in given:
            state = _add(given[0], given[1], node.index, variances)
        elif node.kind == "norm":
            state = _norm(first, node.index, node.module, first.width if first else 1)
        elif node.kind == "embedding" and id(node.module) in scales.embeddings:
            mean, width = scales.embeddings[id(node.module)], node.module.embedding_dim
            state = _State(mean, 2 * mean * mean / width, width, (mean, 0.0),
                           {node.index: 1.0}, frozenset())
        elif node.kind == "attention":
            mixtures[node.index], state = _attention_states(node, states, scales, shapes)
        else:
            state = None
        states[node.index] = state
        variances[node.index] = state.var if state is not None else 0.0
    return states, mixtures


def _describe(state, node):
    """(predicted, spread, approximation) of a node's state (no spread for a norm whose
    input is unknown: its eps effect is then unknown too)."""
    if state is None:
        return None, None, None
    text = "; ".join(sorted(state.approx)) or None
    unknown = node.kind == "norm" and NORM_UNKNOWN in state.approx
    return state.mean, None if unknown else math.sqrt(state.var), text


def predictions(graph, scales, inputs, module_nodes, shapes=None):
    """{record name: (predicted, spread, approximation)} for the records whose module has
    a node (``module_nodes``: record name -> (node index, "state" or "mixture"))."""
    states, mixtures = propagate(graph, scales, inputs, shapes)
    out = {}
    for name, (index, which) in module_nodes.items():
        state = (mixtures if which == "mixture" else states).get(index)
        node = graph.nodes[index]
        if state is None and node.kind == "attention" and node.module is not None and \
                _tokens(node.module, (shapes or {}).get(id(node.module))) is None:
            out[name] = (None, None, SHAPE)
        else:
            out[name] = _describe(state, node)
    return out


# --------------------------------------------------------------------------- the report
def _number(value, digits=4):
    return "-" if value is None else f"{value:.{digits}g}"


class InitReport(list):
    """The list of :class:`InitRecord` (one per initialized module) with the attributes
    ``skipped`` (the :class:`SkippedParameter` list of every parameter left unchanged),
    ``graph`` (how the model was read: ``"torch.fx"``, ``"nn.Sequential chain"``,
    ``"attributes of the transformer layer"``, or the Sequential fallback with the
    reason), ``residual_additions`` (the number of residual additions found),
    ``branch_scale`` (alpha, None without residual additions) and ``input_ms`` (the input
    mean square per coordinate the predictions are for).  ``str(report)`` is a per-layer
    table; :meth:`measure` adds measured values and :meth:`assert_healthy` judges them."""

    def __init__(self, records: Iterable[InitRecord] = (),
                 skipped: Iterable[SkippedParameter] = (), *, graph: str = "",
                 residual_additions: int = 0, branch_scale: float | None = None,
                 input_ms: float = 1.0, context=None) -> None:
        super().__init__(records)
        self.skipped = list(skipped)
        self.graph = graph
        self.residual_additions = residual_additions
        self.branch_scale = branch_scale
        self.input_ms = input_ms
        self._context = context

    def __repr__(self):
        return f"InitReport({list.__repr__(self)}, skipped={self.skipped!r})"

    def table(self):
        """The per-record table: name, kind, activation, std, predicted +- spread,
        measured, z."""
        rows = [("name", "kind", "activation", "std", "predicted +- spread", "measured", "z")]
        for r in self:
            predicted = "-" if r.predicted is None else \
                f"{_number(r.predicted)} +- {_number(r.spread, 2)}"
            rows.append((r.name, r.kind + ("" if r.residual_scale is None else
                                           f" (alpha={r.residual_scale:.3g})"),
                         r.activation, _number(r.std), predicted, _number(r.measured),
                         "-" if r.z is None else f"{r.z:+.2f}"))
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
                         for row in rows)

    def __str__(self):
        lines = [f"init_model_ report ({self.graph}; input mean square "
                 f"{self.input_ms:.4g}; {self.residual_additions} residual additions"
                 + ("" if self.branch_scale is None else f", alpha = {self.branch_scale:.4g}")
                 + ")", self.table()]
        if self.skipped:
            lines.append(f"skipped: {', '.join(p.name for p in self.skipped)}")
        return "\n".join(lines)

    def measure(self, model: nn.Module, batch) -> "InitReport":
        r"""Run ``batch`` through ``model`` (in eval mode: dropout off, BatchNorm on its
        running statistics; the model's mode is restored) and record, with forward hooks,
        the mean square per coordinate of each recorded module's output; the predictions
        are recomputed at the batch's input mean square (and, for attention and conv, its
        shapes), and :math:`z = (\text{measured} - \text{predicted})/\text{spread}`.

        Parameters
        ----------
        model : nn.Module
            The model this report was made for.
        batch : torch.Tensor or tuple of torch.Tensor
            The model's input(s): ``model(batch)`` or ``model(*batch)``.

        Returns
        -------
        InitReport
            This report, its records replaced by ones with ``measured`` and ``z``.

        Notes
        -----
        One batch through one network is one draw of the weights: the spread is that of
        one input, which the batch average cannot exceed, so :math:`|z| > 5` has
        probability below :math:`5.7\times 10^{-7}` per layer under the normal
        approximation of :math:`\lVert y\rVert^2/n` (a sum over the layer's units), and
        below 1/25 by Chebyshev's inequality whatever its law.
        """
        if not isinstance(model, nn.Module):
            raise ValueError(f"model must be an nn.Module, got {type(model).__name__}")
        inputs = batch if isinstance(batch, tuple) else (batch,)
        if not all(isinstance(x, torch.Tensor) for x in inputs):
            raise ValueError("batch must be a tensor or a tuple of tensors")
        measured, shapes = _run_with_hooks(model, inputs, _watched(model, self))
        ms = [(float(x.detach().double().pow(2).mean()), 0.0) if x.is_floating_point()
              else None for x in inputs]
        predicted = {} if self._context is None else predictions(
            self._context["graph"], self._context["scales"], ms, self._context["nodes"],
            shapes)
        for i, record in enumerate(self):
            value = measured.get(record.name)
            p, spread, text = predicted.get(record.name, (record.predicted, record.spread,
                                                          record.approximation))
            z = None
            if value is not None and p is not None and spread is not None:
                z = (value - p) / spread if spread > 0 else (0.0 if value == p else math.inf)
            self[i] = record._replace(predicted=p, spread=spread, approximation=text,
                                      measured=value, z=z)
        floats = [m[0] for m in ms if m is not None]
        if floats:
            self.input_ms = floats[0]
        return self

    def assert_healthy(self, band=(0.1, 10.0), *, z_max=5.0, allow_skipped=True) -> None:
        r"""Raise an AssertionError, with the per-layer table, when the model is not
        healthy at initialization.

        Fails when: a predicted mean square of a layer, norm, embedding or attention output
        (not a residual branch's last layer, which alpha shrinks on purpose, nor the
        attention mixture, which averages tokens) leaves ``band`` times the input mean
        square; a measured value (after :meth:`measure`) has :math:`|z| >` ``z_max``; a
        prediction, spread or measurement is NaN or infinite; or, with
        ``allow_skipped=False``, some parameter was left unchanged.

        Parameters
        ----------
        band : (float, float), default (1/10, 10)
            0 < low <= 1 <= high: the allowed ratio predicted / input mean square.  The
            default leaves room for what is healthy: a He-scaled pre-activation is twice
            its input's mean square, and a residual stream at alpha = 1/sqrt(L) grows by
            up to e^(mean branch gain), so ~2e ~ 5.4 after a deep stack of unit-gain
            blocks; exponential growth or decay leaves it within a few layers.
        z_max : float, default 5
            > 0: the largest allowed |z|.  Under the normal approximation a correct
            prediction exceeds 5 with probability 5.7e-7 per layer; by Chebyshev's
            inequality at most 1/z_max^2 whatever the law (see :meth:`measure`).
        allow_skipped : bool, default True
        """
        low, high = _band(band)
        if not (isinstance(z_max, (int, float)) and math.isfinite(z_max) and z_max > 0):
            raise ValueError(f"z_max must be a finite number > 0, got {z_max!r}")
        problems = []
        for r in self:
            values = [v for v in (r.predicted, r.spread, r.measured) if v is not None]
            if not all(math.isfinite(v) for v in values):
                problems.append(f"{r.name}: not finite (predicted {r.predicted}, spread "
                                f"{r.spread}, measured {r.measured})")
                continue
            if r.predicted is not None and r.kind in _JUDGED and r.residual_scale is None:
                # (a residual branch's end is shrunk by alpha on purpose)
                ratio = r.predicted / self.input_ms
                if not low <= ratio <= high:
                    problems.append(f"{r.name}: predicted mean square {r.predicted:.4g} is "
                                    f"{ratio:.3g} x the input's, outside [{low:g}, {high:g}]")
            if r.z is not None and abs(r.z) > z_max:
                problems.append(f"{r.name}: measured {r.measured:.4g} vs predicted "
                                f"{r.predicted:.4g} +- {r.spread:.2g} (z = {r.z:+.2f}, "
                                f"|z| > {z_max:g})")
        if self.skipped and not allow_skipped:
            problems.append("parameters left unchanged: " + ", ".join(
                p.name for p in self.skipped))
        if problems:
            raise AssertionError("the model is not healthy at initialization:\n  "
                                 + "\n  ".join(problems) + "\n" + str(self))


def _band(band):
    try:
        low, high = (float(b) for b in band)
    except (TypeError, ValueError):
        raise ValueError(f"band must be a pair (low, high), got {band!r}") from None
    if not (0 < low <= 1 <= high < math.inf):
        raise ValueError(f"band must satisfy 0 < low <= 1 <= high < inf, got {band!r}")
    return low, high


def run_eval(model, inputs, name):
    """model(*inputs) in eval mode (the model's mode restored), with gradients enabled
    (nn.TransformerEncoderLayer's fused eval path would skip the hooks); a failing forward
    is a ValueError naming the argument ``name``."""
    training = model.training
    try:
        model.eval()
        with torch.enable_grad():
            model(*inputs)
    except (RuntimeError, TypeError, ValueError, IndexError) as error:
        first = (str(error).strip().splitlines() or [""])[0]
        raise ValueError(f"{name}: the model's forward fails on it ({type(error).__name__}: "
                         f"{first})") from None
    finally:
        model.train(training)


def _watched(model, records):
    """{record name: the module whose output is measured}: the record's module (an
    attention's whole module for its out_proj); the attention mixture is not observable."""
    modules = dict(model.named_modules())
    watched = {}
    for record in records:
        name = record.name.rpartition(".")[0] if record.kind == "attention-out" else \
            record.name
        if record.kind != "attention-in" and name in modules:
            watched[record.name] = modules[name]
    return watched


def _run_with_hooks(model, inputs, hooks):
    """({record name: measured mean square}, {id(module): input shape}); ``hooks``:
    record name -> module whose output is measured (its first element for a tuple)."""
    sums, shapes, handles = {}, {}, []

    def output_hook(name):
        def hook(module, args, output):
            out = output[0] if isinstance(output, tuple) else output
            total, count = sums.get(name, (0.0, 0))
            sums[name] = (total + float(out.detach().double().pow(2).sum()),
                          count + out.numel())
        return hook

    def shape_hook(module, args, kwargs):
        given = list(args) + [kwargs[k] for k in ("query", "key", "input") if k in kwargs]
        # attention: the key's shape (its length is T); conv: the input's
        key = given[1] if isinstance(module, nn.MultiheadAttention) and len(given) > 1 \
            else given[0]
        shapes[id(module)] = tuple(key.shape)

    watched = {id(m): m for m in hooks.values()}
    for module in watched.values():
        if isinstance(module, (nn.MultiheadAttention, nn.modules.conv._ConvNd)):
            handles.append(module.register_forward_pre_hook(shape_hook, with_kwargs=True))
    for name, module in hooks.items():
        handles.append(module.register_forward_hook(output_hook(name)))
    try:
        run_eval(model, inputs, "batch")
    finally:
        for handle in handles:
            handle.remove()
    return {name: total / count for name, (total, count) in sums.items() if count}, shapes

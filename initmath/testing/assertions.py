"""Calibrated assertions: simulate the user's networks in torch, test them against initmath.

Each assertion draws independent random networks with the user's own code, reduces each to
one statistic, and runs a test with a stated false-alarm rate (the probability that
correct code fails; default 1e-6, or the test's share of its budget, see
:func:`initmath.testing.false_alarm_budget`) and a stated power (the probability of
catching a stated discrepancy; default 0.99).  A failure raises
:class:`StatisticalAssertionError` saying what was expected, what was measured, the z-score,
the sample count and the smallest error the test could detect.  Seeds are deterministic
(torch's global generator is forked and seeded, so an ``init`` that draws from it is
reproducible and the caller's generator state is left as it was).

torch is imported on first use: ``import initmath.testing`` stays light.
"""
import contextlib
import dataclasses
import itertools
import math
import warnings
from collections.abc import Sequence

import numpy as np

from .. import _validate
from . import _budget
from ._statistics import (
    BATCHES,
    FALSE_ALARM,
    MAX_BATCH_SKEWNESS,
    POWER,
    check_batches,
    check_power,
    holm,
    law_test,
    mean_test,
    min_samples,
)

# Weight entries one simulated chunk may hold: bounds memory whatever the width.
_CHUNK_ENTRIES = 2 ** 24
# The most multiply-adds (and weight draws) one assertion may spend: about the library's
# 30 s budget on a CPU; wider networks are refused rather than left to run for hours.
_MAX_WORK = 2 ** 40
MAX_S = 100.0


class StatisticalAssertionError(AssertionError):
    """A statistical assertion rejected the code under test; ``results`` holds the
    :class:`~initmath.testing.TestResult` of each statistic tested."""

    def __init__(self, message, results):
        super().__init__(message)
        self.results = results


@dataclasses.dataclass(frozen=True)
class Spread:
    """Coefficient of variation and skewness of one sample of a statistic."""
    cv: float
    skewness: float


# ------------------------------------------------------------------ validation
def _widths(width, depth):
    """The layer widths (d_0, d_1, ..., d_L) from an int and a depth, or a sequence."""
    if isinstance(width, Sequence) and not isinstance(width, str):
        widths = tuple(_validate.integer_scalar(w, "width", high=2 ** 20) for w in width)
        if len(widths) < 2:
            raise ValueError(f"width: a sequence of widths needs the input width and at least "
                             f"one layer width, got {width!r}")
        return widths
    d = _validate.integer_scalar(width, "width", high=2 ** 20)
    depth = _validate.integer_scalar(depth, "depth", high=10000)
    return (d,) * (depth + 1)


def _slope(slope):
    return _validate.real_scalar(slope, "slope", 0.0, 1.0)


def _moment(s):
    return _validate.real_scalar(s, "s", 0.0, MAX_S, low_open=True)


def _check_work(work, networks, what):
    if work > _MAX_WORK:
        raise ValueError(f"width: {networks:,} networks {what} would take {work:.3g} "
                         f"multiply-adds, more than 2**40; test narrower layers or fewer "
                         f"samples")


def _check_count(value, name, low):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


# ------------------------------------------------------------------ theory for the budget
def moment_spread(s, width, depth=1, slope=0.0):
    r"""The spread of :math:`R = \lVert x_L\rVert^s / \lVert x_0\rVert^s` for one input of
    a network at the moment-preserving weight std: its coefficient of variation and skewness.

    The layers :math:`x_l = \max(h, a h)`, :math:`h = W_l x_{l-1}`, with :math:`d_l \times
    d_{l-1}` Gaussian weights of std :math:`\bar\sigma_a(s, d_l)`
    (:func:`initmath.critical_sigma`), so that :math:`E R = 1`.  Given :math:`x_{l-1}`,
    the l-th factor has the law of :math:`\bar\sigma^s \lVert\phi_a(g)\rVert^s`,
    :math:`g \sim N(0, I_{d_l})`, independently of the other layers, hence

    .. math:: E R^k = \prod_l \frac{I_a(k s, d_l)}{I_a(s, d_l)^k}, \qquad k = 2, 3.

    Parameters
    ----------
    s : float
        The moment, 0 < s <= 100.
    width : int or sequence of int
        The width of every layer (and of the input), or the widths (d_0, d_1, ..., d_L).
    depth : int, default 1
        L, when ``width`` is one integer.
    slope : float, default 0
        a in [0, 1]: ReLU (0), leaky ReLU or PReLU, linear (1).

    Returns
    -------
    Spread
        ``cv`` = sd / mean and ``skewness`` of R (inf when they overflow float64).

    Examples
    --------
    For linear layers and s = 2, :math:`d R \sim \chi^2_d`: cv = sqrt(2/d), skewness
    sqrt(8/d):

    >>> from initmath.testing import moment_spread
    >>> spread = moment_spread(2.0, 8, slope=1.0)
    >>> round(spread.cv ** 2, 12), round(spread.skewness ** 2, 12)
    (0.25, 1.0)
    """
    from ..critical_variance import log_moment_factor
    s, a = _moment(s), _slope(slope)
    outs = np.asarray(_widths(width, depth)[1:], dtype=np.float64)
    log_i = [np.sum(log_moment_factor(k * s, outs, a)) for k in (1, 2, 3)]
    log_m2 = log_i[1] - 2 * log_i[0]                      # log E R^2, E R = 1
    log_m3 = log_i[2] - 3 * log_i[0]
    variance = math.expm1(log_m2) if log_m2 < 700 else math.inf
    if not 0 < variance < math.inf or log_m3 > 700:
        return Spread(math.sqrt(variance) if variance >= 0 else 0.0, math.inf)
    third = math.exp(log_m3) - 3 * math.exp(log_m2) + 2
    return Spread(math.sqrt(variance), third / variance ** 1.5)


def network_spread(s, widths, slope=0.0):
    """The spread of the per-network statistic of :func:`assert_moment_preserved`.

    The statistic is the mean of R (:func:`moment_spread`) over the d_0 unit inputs:
    independent at depth 1 (distinct columns of W_1: cv and skewness shrink by
    sqrt(d_0)), correlated deeper, where the one-input spread bounds it.

    Parameters
    ----------
    s : float
        The moment, 0 < s <= 100.
    widths : sequence of int
        (d_0, d_1, ..., d_L).
    slope : float, default 0

    Returns
    -------
    Spread

    Examples
    --------
    >>> from initmath.testing import moment_spread, network_spread
    >>> network_spread(2.0, (16, 8)).cv == moment_spread(2.0, (16, 8)).cv / 4
    True
    """
    spread = moment_spread(s, widths, slope=slope)
    shrink = math.sqrt(widths[0]) if len(widths) == 2 else 1.0
    return Spread(spread.cv / shrink, spread.skewness / shrink)


def moment_test_size(s, widths, slope=0.0, discrepancy=0.01, false_alarm=FALSE_ALARM,
                     power=POWER, batches=BATCHES):
    """The networks :func:`assert_moment_preserved` draws (its ``min_samples``).

    Parameters
    ----------
    s : float
        The moment, 0 < s <= 100.
    widths : sequence of int
        (d_0, d_1, ..., d_L).
    slope, discrepancy, false_alarm, power, batches
        As for :func:`assert_moment_preserved` (false_alarm: the call's own level).

    Returns
    -------
    (int, int)
        The count that detects a relative error ``discrepancy`` of sigma with probability
        ``power`` (a moment error of 1 - (1 - discrepancy)^(s L), the spread from
        :func:`network_spread`), and the fewest that keep the batch means near normal
        (the skewness guard of :func:`min_samples`).

    Raises
    ------
    ValueError
        When the statistic is too heavy-tailed for a mean test (naming depth).

    Examples
    --------
    A 1% error of sigma at d = 8, s = 1, at 1e-6 and at a 100-example test's share:

    >>> from initmath.testing import moment_test_size
    >>> moment_test_size(1.0, (8, 8))
    (14720, 192)
    >>> moment_test_size(1.0, (8, 8), false_alarm=0.99e-8)[0]
    19840
    """
    s, slope = _moment(s), _slope(slope)
    widths = _widths(widths, 1)
    spread = network_spread(s, widths, slope)
    if not math.isfinite(spread.skewness):
        raise ValueError(f"depth={len(widths) - 1}: at s = {s:g} the statistic "
                         f"||x_L||^s/||x_0||^s is too heavy-tailed for a mean test; test one "
                         f"layer (depth=1) or the whole law (assert_layer_law)")
    moment_error = -math.expm1(s * (len(widths) - 1) * math.log1p(-discrepancy))
    try:
        need = min_samples(moment_error, spread.cv, false_alarm=false_alarm, power=power,
                           batches=batches, skewness=spread.skewness)
        fewest = min_samples(1.0, 1e-300, false_alarm=false_alarm, power=power,
                             batches=batches, skewness=spread.skewness)
    except ValueError as error:     # too heavy-tailed: name the arguments the caller gave
        raise ValueError(f"depth={len(widths) - 1}, discrepancy={discrepancy:g}: {error}; "
                         f"test one layer (depth=1), a smaller s or the whole law "
                         f"(assert_layer_law)") from None
    return need, fewest


# ------------------------------------------------------------------ simulation
def _torch():
    try:
        import torch
    except ImportError:
        raise ImportError("the assertions of initmath.testing simulate networks in torch: "
                          "pip install initmath[torch]") from None
    return torch


def _resolve_device(device):
    from ..nn.device import resolve_device
    return resolve_device(_budget.default_device() if device is None else device)


@contextlib.contextmanager
def _seeded(torch, seed, device):
    """Fork and seed torch's global generators (the CPU's and ``device``'s): the init's
    draws are reproducible, and the caller's generator state comes back unchanged."""
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), torch.no_grad():
        torch.manual_seed(seed)
        yield


def _fill(torch, init, weights):
    """Each weights[k] (a (d_out, d_in) view, so init sees the right fans) filled by
    init, in place as torch.nn.init does, or by the tensor it returns."""
    for weight in weights:
        out = init(weight)
        if out is not None and out is not weight:
            if not isinstance(out, torch.Tensor) or out.shape != weight.shape:
                raise ValueError(f"init must fill its (d_out, d_in) tensor in place or return "
                                 f"a tensor of that shape, got {type(out).__name__}")
            weight.copy_(out)


def _stack_outputs(torch, init, widths, phi, inputs, networks, device, reduce):
    """reduce(x_L) of independent networks x_l = phi(W_l x_(l-1)), every W_l (d_l x
    d_(l-1)) filled by ``init``, fed the rows of ``inputs``; in float64, chunks of networks
    at a time (x_L of a chunk: (networks, inputs, d_L)), concatenated."""
    chunk = max(1, _CHUNK_ENTRIES // sum(a * b for a, b in itertools.pairwise(widths)))
    x0 = inputs.to(torch.float64)
    out = []
    for start in range(0, networks, chunk):
        x = x0.expand(min(chunk, networks - start), *x0.shape)
        for d_in, d_out in itertools.pairwise(widths):
            weights = torch.empty(x.shape[0], d_out, d_in, device=device)
            _fill(torch, init, weights)
            x = phi(x @ weights.to(torch.float64).transpose(1, 2))
        out.append(reduce(x))
    return torch.cat(out)


def _last_layer_cdfs(law):
    """(P(r_L <= r), P(r_L < r)) of a DepthLaw: they differ at the atom r = 0 (collapse)."""
    cdf = lambda r: law.cdf(r)[-1]
    return cdf, lambda r: np.where(r > 0, cdf(r), 0.0)


def _reset(module):
    """Redraw a module's parameters: its own reset_parameters() if it has one (a custom
    init), else that of every submodule that has one (the way torch builds them)."""
    for sub in [module] if hasattr(module, "reset_parameters") else module.modules():
        reset = getattr(sub, "reset_parameters", None)
        if callable(reset):
            reset()


def _module_statistic(torch, module, redraw, s, inputs, networks, device):
    """Per network: redraw(module), then the mean over the inputs of ||f(x)||^s / ||x||^s."""
    norms0 = inputs.to(torch.float64).norm(dim=1)
    module = module.to(device)
    dtype = next(module.parameters()).dtype
    out = torch.empty(networks, dtype=torch.float64, device=device)
    for k in range(networks):
        redraw(module)
        y = module(inputs.to(dtype)).to(torch.float64).flatten(1)
        out[k] = ((y.norm(dim=1) / norms0) ** s).mean()
    return out


def _module_widths(torch, module):
    linears = [m for m in module.modules() if isinstance(m, torch.nn.Linear)]
    if not linears:
        raise ValueError("init: a module must contain nn.Linear layers (their widths set the "
                         "sample budget); pass width= for other modules")
    return (linears[0].in_features, *[m.out_features for m in linears])


# ------------------------------------------------------------------ messages
def _activation_text(a):
    return "ReLU" if a == 0 else "linear" if a == 1 else f"leaky ReLU (slope {a:g})"


def _number(x):
    return f"{x:.6g}" if math.isfinite(x) else str(x)


def _message(title, result, lines=()):
    verdict = (f"|z| = {abs(result.z):.3g} > {result.threshold:.3g}" if result.statistic ==
               "mean" else f"sqrt(n) D = {result.z:.3g} > {result.threshold:.3g}")
    what = ("relative error of the mean" if result.statistic == "mean"
            else "sup-distance between the CDFs")
    body = [
        title,
        f"  expected : {_number(result.expected)}" if result.statistic == "mean" else
        "  expected : the predicted law (distance 0)",
        f"  measured : {_number(result.estimate)} +- {_number(result.standard_error)} "
        f"(standard error)" + (" -- every batch gave the same value: no spread at all"
                               if result.standard_error == 0 else "")
        if result.statistic == "mean" else
        f"  measured : Kolmogorov-Smirnov distance D = {_number(result.estimate)}",
        f"  z-score  : {result.z:.4g} ({verdict}, p = {result.p_value:.3g} at a false-alarm "
        f"rate of {result.false_alarm:.3g})",
        f"  samples  : {result.samples:,}",
        f"  power    : a {what} of {result.detectable:.3g} or more is detected with "
        f"probability {result.power:g}" if result.standard_error > 0 or result.statistic
        == "law" else "  power    : any error (the samples have no spread)",
        *lines,
    ]
    return "\n".join(body)


def _warn_if_skewed(result, batches):
    """Warn when the batch means are clearly more skewed than the calibrated limit: the
    estimate minus three of its standard errors (sqrt(6 / n) / sqrt(m) for the sample
    skewness of n samples in batches of m) still above it."""
    per_batch = result.samples / batches
    noise = 3 * math.sqrt(6 / result.samples / per_batch)
    if abs(result.batch_skewness) - noise > MAX_BATCH_SKEWNESS:
        warnings.warn(f"the batch means are skewed ({result.batch_skewness:.3g}, more than "
                      f"{MAX_BATCH_SKEWNESS}): the false-alarm rate {result.false_alarm:.3g} "
                      f"may not hold; use more samples", RuntimeWarning, stacklevel=3)


# ------------------------------------------------------------------ assertions
def assert_moment_preserved(init, s, width=None, *, depth=1, slope=0.0, convention="norm",
                            discrepancy=0.01, samples=None, max_samples=4_000_000,
                            false_alarm=None, power=POWER, batches=BATCHES, redraw=None,
                            seed=None, device=None):
    r"""Assert that a network initialized by ``init`` preserves :math:`E\lVert x\rVert^s`.

    Draws independent networks :math:`x_l = \max(W_l x_{l-1}, a W_l x_{l-1})` whose
    weights :math:`W_l` (:math:`d_l \times d_{l-1}`) are filled by ``init``, feeds each the
    :math:`d_0` unit basis vectors, and tests
    :math:`E\lVert x_L\rVert^s / \lVert x_0\rVert^s = 1` with a batch-means t test (one
    sample per network: the mean over its inputs).

    Parameters
    ----------
    init : callable or torch.nn.Module
        A weight initializer in the style of ``torch.nn.init``: ``init(weight)`` fills a
        (d_out, d_in) tensor in place (or returns the filled tensor).  Or a whole network
        (an ``nn.Module`` mapping a batch of d_0-vectors to outputs), redrawn for every
        sample by ``redraw``; its nn.Linear widths set the sample budget.
    s : float
        The moment, 0 < s <= 100.
    width : int or sequence of int
        The width of every layer and of the input, or the widths (d_0, ..., d_L); each in
        [1, 2**20].  Read from the nn.Linear layers when ``init`` is a module.
    depth : int, default 1
        L, the number of layers, when ``width`` is one integer.  Depth 1 is the sharp
        test: a layer that preserves the moment for every input makes every stack do so.
    slope : float, default 0
        The activation :math:`\max(h, a h)`: a = 0 ReLU, 0 < a < 1 leaky ReLU / PReLU,
        a = 1 linear; in [0, 1].
    convention : {"norm", "per-neuron"}
        The moment preserved, as in :func:`initmath.critical_sigmas`: ``"norm"`` (the
        paper's), :math:`E\lVert x_L\rVert^s = \lVert x_0\rVert^s`, kept by
        :math:`\sigma_l = \bar\sigma_a(s, d_l)` (the fan-out: ``mode="fan_out"`` of
        :func:`initmath.nn.fractional_moment_normal_`); ``"per-neuron"``, that of a
        typical unit, :math:`E(\lVert x_L\rVert/\sqrt{d_L})^s =
        (\lVert x_0\rVert/\sqrt{d_0})^s` (``mode="fan_in"``, He's at s = 2).  They
        coincide for square layers.
    discrepancy : float, default 0.01
        The relative error of the weight std that the test must catch with probability
        ``power``: the sample count is chosen for it (a moment error of
        :math:`1 - (1 - \text{discrepancy})^{sL}`), from the exact spread of the
        statistic at Gaussian weights (:func:`moment_spread`).
    samples : int, optional
        The number of networks instead (rounded up to a multiple of ``batches``); it must
        still give every batch enough networks for the batch means to be near normal.
    max_samples : int, default 4,000,000
        Refuse (ValueError) rather than simulate more networks than this.
    false_alarm : float, optional
        The probability that correct code fails this call.  Default: the call's share of
        the test's budget (inside ``@pytest.mark.statistical`` or
        :func:`false_alarm_budget`), else 1e-6.
    power : float, default 0.99
    batches : int, default 64
        B, the number of batch means.
    redraw : callable, optional
        For a module: ``redraw(module)`` draws fresh weights; default: ``reset_parameters()``
        of every submodule that has one.
    seed : int, optional
        Default: the budget's per-call seed, else ``INITMATH_SEED`` or 0.
    device : str or torch.device, optional
        Default: the pytest plugin's device (CUDA when present) in a statistical test,
        else the CPU.

    Returns
    -------
    TestResult

    Raises
    ------
    StatisticalAssertionError
        The moment is not preserved (an AssertionError).
    ValueError
        An argument is out of its range, or the test would need more than ``max_samples``
        networks.

    Notes
    -----
    With Gaussian weights of std :math:`\sigma` the statistic's mean is
    :math:`\prod_l \sigma^s I_a(s, d_l)`, so a measured mean :math:`\hat m` reads as the
    weight std :math:`\bar\sigma\,\hat m^{1/(sL)}`; the failure message reports it next to
    the critical :math:`\bar\sigma_a(s, d)` (:func:`initmath.critical_sigma`).

    Examples
    --------
    The critical std passes; Kaiming's std at s = 1, d = 8 (8.8% too small) fails:

    >>> import torch
    >>> from initmath import critical_sigma, kaiming_sigma
    >>> from initmath.testing import assert_moment_preserved
    >>> good = lambda w: torch.nn.init.normal_(w, std=float(critical_sigma(1.0, 8)))
    >>> assert_moment_preserved(good, s=1.0, width=8).passed
    True
    >>> bad = lambda w: torch.nn.init.normal_(w, std=float(kaiming_sigma(8)))
    >>> assert_moment_preserved(bad, s=1.0, width=8)        # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    initmath.testing.assertions.StatisticalAssertionError: E||x_1||^1 / ||x_0||^1 = 1 ...
    """
    torch = _torch()
    s, a = _moment(s), _slope(slope)
    power, batches = check_power(power), check_batches(batches)
    discrepancy = _validate.real_scalar(discrepancy, "discrepancy", 0.0, 0.5, low_open=True)
    samples = _check_count(samples, "samples", 2)
    max_samples = _check_count(max_samples, "max_samples", 2 * batches)
    if isinstance(init, torch.nn.Module):
        if next(init.parameters(), None) is None:
            raise ValueError(f"init: the module {type(init).__name__} has no parameters to "
                             f"draw")
        widths = _module_widths(torch, init) if width is None else _widths(width, depth)
        redraw = _reset if redraw is None else redraw
    elif callable(init):
        if width is None:
            raise ValueError("width is required when init is a weight initializer")
        widths = _widths(width, depth)
    else:
        raise ValueError(f"init must be a callable init(weight) or a torch.nn.Module, got "
                         f"{type(init).__name__}")
    layers = len(widths) - 1
    per_neuron = _validate.choice(convention, "convention", ("norm", "per-neuron")) \
        == "per-neuron"
    level, seed = _budget.level_and_seed(false_alarm, seed)

    need, calibrated = moment_test_size(s, widths, a, discrepancy, level, power, batches)
    if samples is not None:
        if samples < calibrated:
            raise ValueError(f"samples={samples}: the batch means of this statistic are near "
                             f"normal only from {calibrated:,} networks on")
        need = -(-samples // batches) * batches
    if need > max_samples:
        raise ValueError(f"discrepancy={discrepancy:g} at s = {s:g}, widths {widths}: the "
                         f"test needs {need:,} networks, more than max_samples = "
                         f"{max_samples:,}; allow more, accept a larger discrepancy, or test "
                         f"depth=1")
    _check_work(need * (widths[0] + 1) * sum(a * b for a, b in zip(widths[1:], widths[:-1])),
                need, f"of widths {widths} on {widths[0]} inputs each")

    device = _resolve_device(device)
    with _seeded(torch, seed, device):
        inputs = torch.eye(widths[0], dtype=torch.float64, device=device)
        if isinstance(init, torch.nn.Module):
            values = _module_statistic(torch, init, redraw, s, inputs, need, device)
        else:
            norms0 = inputs.norm(dim=1)
            values = _stack_outputs(torch, init, widths, lambda h: torch.maximum(h, a * h),
                                    inputs, need, device,
                                    lambda x: ((x.norm(dim=2) / norms0) ** s).mean(dim=1))
    if per_neuron:  # (||x_L|| / sqrt(d_L))^s / (||x_0|| / sqrt(d_0))^s
        values = values * (widths[0] / widths[-1]) ** (s / 2)
    result = mean_test(values.cpu().numpy(), 1.0, false_alarm=level, power=power,
                       batches=batches)
    if not result.passed:
        from ..critical_variance import critical_sigmas
        target = critical_sigmas(s, list(widths), a, convention=convention)
        ratio = result.estimate ** (1 / (s * layers)) if result.estimate > 0 else 0.0
        sigma_error = -math.expm1(math.log1p(-min(result.detectable, 1.0)) / (s * layers))
        shown = ", ".join(f"{t:.6g}" for t in target)
        name = (f"E||x_{layers}||^{s:g} / ||x_0||^{s:g}" if not per_neuron else
                f"E(||x_{layers}||/sqrt(d_{layers}))^{s:g} / (||x_0||/sqrt(d_0))^{s:g}")
        raise StatisticalAssertionError(_message(
            f"{name} = 1 (the moment preserved) is rejected", result,
            [f"  network  : widths {widths}, activation {_activation_text(a)}, mean over the "
             f"{widths[0]} unit inputs of each of {result.samples:,} networks",
             f"  as sigma : with Gaussian weights this is a std {ratio:.6g} times the "
             f"critical sigma ({(ratio - 1) * 100:+.3g}%"
             + (f"; the test detects {sigma_error:.2%} with probability {power:g}"
                if result.standard_error > 0 else "") + "); critical sigma per layer "
             f"({convention} convention) = {shown} (initmath.critical_sigmas)"]), [result])
    return result


def assert_layer_law(init, width, depth, sigma, activation="relu", *, sigma_b=0.0,
                     discrepancy=0.05, samples=None, max_samples=4_000_000, false_alarm=None,
                     power=POWER, seed=None, device=None):
    r"""Assert that the norm :math:`\lVert x_L\rVert` of networks initialized by ``init``
    has initmath's exact finite-width law (:func:`initmath.finite_depth.depth_law`).

    Draws independent networks :math:`x_l = \phi(W_l x_{l-1})` of width d (weights filled
    by ``init``) with one input of norm 1 each (a fixed random direction), and compares
    the law of :math:`\lVert x_L\rVert` with the law predicted for Gaussian weights of std
    ``sigma`` by a Kolmogorov-Smirnov test (exact law of the statistic, so valid whatever
    the tails; a collapse to 0 is an atom of the law and is allowed for).

    Parameters
    ----------
    init : callable
        ``init(weight)`` fills a (d, d) tensor in place (or returns it), as
        ``torch.nn.init`` does.
    width : int
        d, in [1, 2**20] (and as :func:`~initmath.finite_depth.depth_law` allows).
    depth : int
        L, in [1, 1000].
    sigma : float
        The weight std the init claims, > 0 (e.g. ``initmath.critical_sigma(s, d, a)``).
    activation : str, torch.nn.Module or callable, default "relu"
        phi, as :func:`initmath.activation` reads it (applied in torch: a name torch
        knows, a module, or a torch-callable).
    sigma_b : float, default 0
        Not simulated here (the init fills weights only); must be 0.
    discrepancy : float, default 0.05
        The sup-distance between the true and the predicted CDF that the test must catch
        with probability ``power``; sets the number of networks.
    samples, max_samples, false_alarm, power, seed, device
        As for :func:`assert_moment_preserved`.

    Returns
    -------
    TestResult

    Examples
    --------
    >>> import torch
    >>> from initmath.testing import assert_layer_law
    >>> init = lambda w: torch.nn.init.normal_(w, std=0.5)
    >>> assert_layer_law(init, width=8, depth=5, sigma=0.5).passed
    True
    """
    torch = _torch()
    from ..activations import activation as resolve_activation
    from ..finite_depth import depth_law
    d = _validate.integer_scalar(width, "width", high=2 ** 20)
    depth = _validate.integer_scalar(depth, "depth", high=1000)
    sigma = _validate.real_scalar(sigma, "sigma", 0.0, math.inf, low_open=True, high_open=True)
    if isinstance(sigma_b, bool) or not isinstance(sigma_b, (int, float)) or sigma_b != 0:
        raise ValueError(f"sigma_b must be 0 (init fills weights only), got {sigma_b!r}")
    discrepancy = _validate.real_scalar(discrepancy, "discrepancy", 0.0, 1.0, low_open=True,
                                        high_open=True)
    power = check_power(power)
    samples = _check_count(samples, "samples", 2)
    max_samples = _check_count(max_samples, "max_samples", 2)
    if not callable(init):
        raise ValueError(f"init must be a callable init(weight), got {type(init).__name__}")
    phi = _torch_activation(torch, activation)
    law = depth_law(depth, d, resolve_activation(activation), sigma)
    level, seed = _budget.level_and_seed(false_alarm, seed)
    n = min_samples(discrepancy, false_alarm=level, power=power) if samples is None else samples
    if n > max_samples:
        given = f"samples={n}" if samples is not None else f"discrepancy={discrepancy:g}"
        raise ValueError(f"{given}: the test needs {n:,} networks, more than max_samples = "
                         f"{max_samples:,}; allow more or accept a larger discrepancy")
    _check_work(n * depth * d * (d + 1), n, f"of width {d} and depth {depth}")

    device = _resolve_device(device)
    with _seeded(torch, seed, device):
        direction = torch.randn(1, d, dtype=torch.float64, device=device)
        values = _stack_outputs(torch, init, (d,) * (depth + 1), phi,
                                direction / direction.norm(), n, device,
                                lambda x: x.norm(dim=2)[:, 0]).cpu().numpy()
    cdf, cdf_left = _last_layer_cdfs(law)
    result = law_test(values, cdf, cdf_left=cdf_left, false_alarm=level, power=power)
    if not result.passed:
        median = float(np.median(values))
        raise StatisticalAssertionError(_message(
            f"the law of ||x_{depth}|| (width {d}, {getattr(activation, 'name', activation)!r}, "
            f"sigma = {sigma:.6g}) is "
            f"rejected", result,
            [f"  median   : simulated {median:.6g}, predicted "
             f"{float(law.quantile(0.5)[-1]):.6g}; P(collapse to 0): simulated "
             f"{np.mean(values == 0):.4g}, predicted {law.collapse[-1]:.4g}"]), [result])
    return result


def _torch_activation(torch, activation):
    """phi as a torch function: a module, a torch-callable, an initmath Activation (its
    float64 numpy function, applied on the CPU), or a name in torch.nn.functional
    (initmath's names: "relu", "tanh", "gelu", "silu", "identity", ...)."""
    from ..activations import Activation
    if isinstance(activation, Activation):
        return lambda x: torch.as_tensor(activation.numpy(x.cpu().numpy()), dtype=x.dtype,
                                         device=x.device)
    if isinstance(activation, torch.nn.Module) or callable(activation):
        return activation
    name = str(activation).lower().replace("-", "_")
    if name in ("identity", "linear"):
        return lambda x: x
    function = getattr(torch.nn.functional, name, None) or getattr(torch, name, None)
    if function is None:
        raise ValueError(f"activation {activation!r}: no torch function of that name; pass "
                         f"the torch module or function")
    return function


def assert_matches(theory, simulate, samples=None, *, cv=None, discrepancy=None,
                   max_samples=4_000_000, false_alarm=None, power=POWER, batches=BATCHES,
                   cdf_left=None, seed=None, device=None):
    r"""Assert that a simulation agrees with a formula of your own.

    Parameters
    ----------
    theory : float, sequence of float, or callable
        The predicted mean of the simulated statistic (a batch-means t test), or the
        predicted means of k statistics at once (k tests, Holm's procedure keeping the
        family's false-alarm rate), or a CDF ``theory(x)`` of float64 arrays (a
        Kolmogorov-Smirnov test of the whole law).
    simulate : callable
        ``simulate(generator, n)`` returns n independent samples (shape (n,), or (n, k)
        for k means): a torch tensor or anything numpy reads.  ``generator`` is a
        ``torch.Generator`` on ``device``, seeded (use it for every draw).
    samples : int, optional
        n.  Default: the count that detects ``discrepancy`` with probability ``power``
        (:func:`min_samples`, which for means also needs ``cv``).
    cv : float, optional
        The coefficient of variation of one sample (sd / |mean|), to size n for means.
    discrepancy : float, optional
        The relative error of a mean (sup-distance of CDFs for a law) to detect.
    max_samples, false_alarm, power, batches, seed, device
        As for :func:`assert_moment_preserved`.
    cdf_left : callable, optional
        For a law with atoms: P(X < x), the left limit of ``theory``.

    Returns
    -------
    TestResult or list of TestResult

    Examples
    --------
    The mean of :math:`\lVert g\rVert^2` for :math:`g \sim N(0, I_5)` is 5:

    >>> import torch
    >>> from initmath.testing import assert_matches
    >>> def simulate(generator, n):
    ...     g = torch.randn(n, 5, generator=generator, dtype=torch.float64)
    ...     return (g * g).sum(dim=1)
    >>> assert_matches(5.0, simulate, samples=64_000).passed
    True
    >>> assert_matches(5.1, simulate, samples=64_000)     # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    initmath.testing.assertions.StatisticalAssertionError: the simulation's mean ...
    """
    torch = _torch()
    power, batches = check_power(power), check_batches(batches)
    samples = _check_count(samples, "samples", 2)
    if not callable(simulate):
        raise ValueError(f"simulate must be a callable simulate(generator, n), got "
                         f"{type(simulate).__name__}")
    law = callable(theory)
    if not law:
        expected = np.atleast_1d(np.asarray(theory, dtype=np.float64))
        if expected.ndim != 1 or not expected.size or not np.isfinite(expected).all():
            raise ValueError(f"theory must be a finite number, a sequence of them or a CDF, "
                             f"got {theory!r}")
    level, seed = _budget.level_and_seed(false_alarm, seed)
    if samples is None:
        if discrepancy is None or (cv is None and not law):
            raise ValueError("samples: give samples=, or discrepancy= (and cv= for a mean) to "
                             "size the test")
        samples = min_samples(discrepancy, cv, false_alarm=level, power=power,
                              batches=batches)
    elif not law:
        samples = -(-samples // batches) * batches
        if samples < 2 * batches:
            raise ValueError(f"samples must be at least 2 * batches = {2 * batches}")
    max_samples = _check_count(max_samples, "max_samples", 2)
    if samples > max_samples:
        raise ValueError(f"samples: the test needs {samples:,} samples, more than "
                         f"max_samples = {max_samples:,}; allow more or accept a larger "
                         f"discrepancy")

    device = _resolve_device(device)
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    values = simulate(generator, samples)
    values = np.asarray(values.detach().cpu() if isinstance(values, torch.Tensor) else values,
                        dtype=np.float64)
    if values.shape[0] != samples:
        raise ValueError(f"simulate returned {values.shape[0]} samples, {samples} were asked")
    if law:
        result = law_test(values, theory, cdf_left=cdf_left, false_alarm=level, power=power)
        if not result.passed:
            raise StatisticalAssertionError(_message(
                "the simulation's law differs from the predicted CDF", result), [result])
        return result
    values = values.reshape(samples, -1)
    if values.shape[1] != expected.size:
        raise ValueError(f"simulate returned {values.shape[1]} statistics per sample, theory "
                         f"has {expected.size}")
    # Thresholds and power at the Bonferroni share; the verdicts are Holm's (which rejects
    # whatever Bonferroni rejects, and sometimes more).
    results = [mean_test(column, mu, false_alarm=level / expected.size, power=power,
                         batches=batches) for column, mu in zip(values.T, expected)]
    rejected = holm([r.p_value for r in results], level)
    results = [dataclasses.replace(r, passed=not bad) for r, bad in zip(results, rejected)]
    if rejected.any():
        failed = [f"statistic {i}: " + _message(
            f"the simulation's mean differs from theory[{i}]" if expected.size > 1 else
            "the simulation's mean differs from the theory", results[i])
            for i in np.flatnonzero(rejected)]
        title = "" if expected.size == 1 else (
            f"{rejected.sum()} of {expected.size} statistics rejected (Holm, family-wise "
            f"false-alarm rate {level:.3g})\n")
        raise StatisticalAssertionError(
            title + "\n".join(f.removeprefix("statistic 0: ") if expected.size == 1 else f
                              for f in failed), results)
    for result in results:
        _warn_if_skewed(result, batches)
    return results[0] if expected.size == 1 else results


__all__ = ["Spread", "StatisticalAssertionError", "assert_layer_law", "assert_matches",
           "assert_moment_preserved", "moment_spread", "moment_test_size", "network_spread"]

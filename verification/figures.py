"""Monte Carlo points for the figures of :mod:`initmath.outputs.plots`.

A figure draws initmath's exact curves and overlays simulated points given to it as
data; :func:`figure_points` simulates them with this package's torch layer::

    from initmath.outputs.plots import gh_figure3
    from verification.figures import figure_points

    gh_figure3("figure3.png", monte_carlo=figure_points("gh-figure3", seed=0), seed=0)

Each batch of networks draws from its own generator, seeded by (seed, "plots/LABEL") as
chunk 0 of a check of that name (:func:`verification.core.chunk_seed`), so a seed gives
the same points on the same device whatever else is simulated.  torch is imported on
the first call: this module imports without it, and the ImportError then says what to
do instead.
"""
import math

import numpy as np
from scipy.special import logsumexp

from initmath import _validate
from initmath.critical_variance import critical_sigma, kaiming_sigma
from initmath.outputs import plots
from initmath.outputs.plots import MonteCarloPoints, Points

_NO_TORCH = ("monte_carlo=True simulates the networks with torch and the verification "
             "package (pip install 'initmath[figures]'); pass monte_carlo=False to draw the "
             "exact curves only")


def figure_points(name: str, *, seed: int = 0, quick: bool = False,
                  device: str = "auto") -> MonteCarloPoints:
    """The simulated points that figure ``name`` (a key of ``plots.PLOTS``) overlays.

    Parameters
    ----------
    name : str
        The figure, e.g. ``"gh-figure3"``.
    seed : int, default 0
        An integer in [0, 2**63 - 1]; the same seed gives the same points.
    quick : bool, default False
        Small budgets (a few seconds in all, for tests).
    device : str, default "auto"
        A torch device name for :func:`initmath.nn.device.resolve_device`.

    Returns
    -------
    initmath.outputs.plots.MonteCarloPoints

    Raises
    ------
    ValueError
        If name is not a figure, seed is not an integer in [0, 2**63 - 1], quick is not
        a bool, or device is not a device of this machine.
    ImportError
        If torch is missing.
    """
    _validate.choice(name, "name", tuple(plots.PLOTS))
    plots.check_options(seed=seed, quick=quick)
    simulator = _Simulator(int(seed), device)
    budget, curves = _FIGURES[name](simulator, bool(quick))
    return MonteCarloPoints(name, int(seed), budget, curves)


class _Simulator:
    """The torch layer (imported on first use) with one seed per figure: each batch of
    networks draws from its own generator seeded by (seed, label)."""

    def __init__(self, seed, device):
        try:
            import torch

            from initmath.nn.device import resolve_device

            from . import core, simulate
        except ImportError as error:
            raise ImportError(_NO_TORCH) from error
        self.torch, self.core, self.simulate, self.seed = torch, core, simulate, seed
        self.device = resolve_device(device)

    def generator(self, label):
        generator = self.torch.Generator(device=self.device)
        return generator.manual_seed(self.core.chunk_seed(self.seed, f"plots/{label}", 0))

    def log_ratios(self, d, sigma, layers, n, a, label):
        """log r_j of n networks of `layers` square layers (n x layers numpy array, -inf
        where a ReLU state died): float64 sums are exact products of the norms."""
        generator = self.generator(label)
        ratios = self.simulate.norm_ratios([d] * (layers + 1), [sigma] * layers, n,
                                           generator, self.simulate.leaky_relu(a))
        with np.errstate(divide="ignore"):
            return np.log(ratios.cpu().numpy())

    def means(self, simulate, n, label):
        """Sample mean and its standard error of an iid statistic simulate(generator, n)
        (a check's simulator)."""
        generator = self.generator(label)
        return _mean_se(simulate(generator, n).double().cpu().numpy())

    def log_mean_exp(self, values):
        """log of the sample mean of exp(values) and its standard error by batch means.

        exp(values) is heavy-tailed (a product over layers), so its sample variance is
        unreliable; the mean of each of CHUNKS chunks is near normal, and the standard
        error of the overall mean is the spread of the chunk means / sqrt(CHUNKS), carried
        to the log by the delta method (relative error of the mean).  Computed in log
        space: no overflow.
        """
        chunks = self.core.CHUNKS
        table = np.asarray(values).reshape(chunks, -1)
        chunk_logs = logsumexp(table, axis=1) - math.log(table.shape[1])
        log_mean = logsumexp(chunk_logs) - math.log(chunks)
        return log_mean, np.exp(chunk_logs - log_mean).std(ddof=1) / math.sqrt(chunks)


def _mean_se(values):
    values = np.asarray(values)
    return values.mean(), values.std(ddof=1) / math.sqrt(values.size)


# --------------------------------------------------------------------------- the figures
# Each returns (budget, curves) as MonteCarloPoints documents them.
def _figure1(simulator, quick):
    """log E||x_k||^alpha at k = layers: one sample of networks at sigma = 1, shifted
    by layers log sigma_0(s, d) for each s (exact: the layers are positively
    homogeneous)."""
    layers, networks = (5, 1 << 10) if quick else (20, 1 << 14)
    log_norms = simulator.log_ratios(plots.FIGURE1_D, 1.0, layers, networks, 0.0,
                                     "figure1").sum(axis=1)
    curves = {}
    for s in plots.FIGURE1_S:
        shifted = log_norms + layers * math.log(critical_sigma(s, plots.FIGURE1_D))
        log_mean, se = np.array([simulator.log_mean_exp(a * shifted)
                                 for a in plots.FIGURE1_ALPHAS]).T
        curves[s] = Points(np.array(plots.FIGURE1_ALPHAS), log_mean, se)
    return {"layers": layers, "networks": networks}, curves


def _figure2(simulator, quick):
    """The sorted log||x_k|| of the networks still alive at depth k, per sigma."""
    networks = 200 if quick else 2000
    curves = {}
    for i, (_, sigma) in enumerate(plots._figure2_sigmas()):
        log_ratios = simulator.log_ratios(plots.FIGURE2_D, sigma, plots.FIGURE2_K, networks,
                                          0.0, f"figure2/{i}")
        curves[i] = np.sort(log_ratios.sum(axis=1)[np.isfinite(log_ratios).all(axis=1)])
    return {"networks": networks}, curves


def _figure3(simulator, quick):
    """sigma_0(s, d) = (mean r^s)^(-1/s) from one-layer factors at sigma = 1, standard
    error by the delta method."""
    layers, networks = (4, 128) if quick else (8, 4096)
    s = np.array(plots.FIGURE3_S)
    curves = {}
    for width in plots.FIGURE3_SIMULATED_D:
        r = np.exp(simulator.log_ratios(width, 1.0, layers, networks, 0.0,
                                        f"figure3/{width}").ravel())
        means, ses = np.array([_mean_se(r ** order) for order in s]).T
        sigma_hat = means ** (-1 / s)
        curves[width] = Points(s, sigma_hat, sigma_hat * ses / (s * means))
    return {"layers": layers, "networks": networks}, curves


def _lyapunov(simulator, quick):
    """The mean of log r over the layer factors with r > 0, at sigma / Kaiming in
    LYAPUNOV_POINTS."""
    layers, networks = (4, 128) if quick else (8, 2000)
    curves = {}
    for d in plots.LYAPUNOV_D:
        for a in plots.LYAPUNOV_A:
            kaiming = float(kaiming_sigma(d, a))
            estimates = []
            for point in plots.LYAPUNOV_POINTS:
                log_r = simulator.log_ratios(d, point * kaiming, layers, networks, a,
                                             f"lyapunov/d={d} a={a:g}/{point}")
                estimates.append(_mean_se(log_r[np.isfinite(log_r)]))
            mean, se = np.array(estimates).T
            curves[d, a] = Points(np.array(plots.LYAPUNOV_POINTS), mean, se)
    return {"layers": layers, "networks": networks}, curves


def _ldlt(simulator, quick):
    """Var[y_i] of torch LDLT layers (alpha = gamma = 1) at sigma in LDLT_POINTS."""
    from .wishart import ldlt_layer_simulator
    layers = 128 if quick else 4000
    curves = {}
    for m, n in plots.LDLT_SHAPES:
        mean, se = np.array([simulator.means(ldlt_layer_simulator(m, n, s, 1.0, 1.0), layers,
                                             f"ldlt/{m}x{n}/{s}")
                             for s in plots.LDLT_POINTS]).T
        curves[m, n] = Points(np.array(plots.LDLT_POINTS), mean, se)
    return {"layers": layers}, curves


def _hessian(simulator, quick):
    """sigma = 1 / mean ||J||_2 at d_in = 64 for J = W (a = None) and the ReLU Jacobian
    (a = 0), standard error by the delta method."""
    from .hessian import spectral_norm_simulator
    matrices = 64 if quick else 1024
    d_out = [p for p in plots.HESSIAN_POINTS if not quick or p <= 16]
    curves = {}
    for a in (None, 0.0):
        mean, se = np.array([simulator.means(spectral_norm_simulator(plots.HESSIAN_D_IN, p, a),
                                             matrices, f"hessian/{a}/{p}")
                             for p in d_out]).T
        curves[a] = Points(np.array(d_out), 1 / mean, se / mean ** 2)
    return {"matrices": matrices}, curves


_TORCH_MODULES = {"relu": "ReLU", "gelu": "GELU", "tanh": "Tanh", "silu": "SiLU"}


def _depth_law(simulator, quick):
    """q_L = g^2 ||x_L||^2 / d of networks of the real torch modules at the figure's std
    g / sqrt(d), x_0 = (1, ..., 1) / g (q_0 = 1): the mean (iid standard error) and the
    sample quantiles, whose standard error is the spread of CHUNKS chunks' quantiles over
    sqrt(CHUNKS)."""
    torch = simulator.torch
    networks = 512 if quick else 4096
    depth, d = (8 if quick else plots.DEPTH_LAW_DEPTH), plots.DEPTH_LAW_D
    layers = np.arange(1, depth + 1)
    curves = {}
    for name in plots.DEPTH_LAW_ACTIVATIONS:
        generator = simulator.generator(f"depth-law/{name}")
        module = getattr(torch.nn, _TORCH_MODULES[name])()
        sigma = plots.depth_law_sigma(name)
        g2 = d * sigma ** 2
        x = torch.ones(networks, d, 1, device=simulator.device) / math.sqrt(g2)
        q = []
        for _ in layers:
            w = torch.randn(networks, d, d, generator=generator, device=simulator.device)
            x = module(sigma * torch.bmm(w, x))
            q.append(g2 * x.double().square().sum((1, 2)).cpu().numpy() / d)
        q = np.array(q).T                                 # networks x depth
        mean, se = np.array([_mean_se(column) for column in q.T]).T
        curves[name, "mean"] = Points(layers, mean, se)
        chunks = q.reshape(simulator.core.CHUNKS, -1, depth)
        for p in plots.DEPTH_LAW_QUANTILES:
            spread = np.quantile(chunks, p, axis=1).std(axis=0, ddof=1)
            curves[name, p] = Points(layers, np.quantile(q, p, axis=0),
                                     spread / math.sqrt(simulator.core.CHUNKS))
    return {"networks": networks, "depth": depth}, curves


_FIGURES = {"gh-figure1": _figure1, "gh-figure2": _figure2, "gh-figure3": _figure3,
            "lyapunov": _lyapunov, "ldlt-variance": _ldlt, "hessian-vs-glorot": _hessian,
            "depth-law": _depth_law}

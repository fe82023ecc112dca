r"""The papers' theory figures, drawn from initmath's exact formulas (needs matplotlib).

Every figure is a function ``(out=None, *, monte_carlo=None, seed=0, quick=False)``
returning a :class:`matplotlib.figure.Figure`; ``out`` (a ``.png`` or ``.pdf`` path)
also writes it.  :data:`PLOTS` maps the names used by ``initmath plot NAME`` to them:

===================== ==========================================================
``gh-figure1``        Gürbüzbalaban & Hu, Figure 1: log(σ̄₀² − 2/d) against log d,
                      and the growth of E‖x_k‖^α at σ = σ̄₀(s, 64), k = 500
``gh-figure2``        Gürbüzbalaban & Hu, Figure 2: the law of log‖x_100‖ (ReLU, d = 64)
``gh-figure3``        Gürbüzbalaban & Hu, Figure 3: σ̄₀(s, d) against d and s
``lyapunov``          μ_a(σ) and its zero crossing edge_sigma(d, a)
``ldlt-variance``     Var[y_i] of the LDLT layer against σ (Juston et al.)
``hessian-vs-glorot`` Skorski's 1/E‖J‖₂ (Gordon, exact, Tracy–Widom, ReLU) and Glorot
``depth-law``         the law of ‖x_L‖²/d across depth at width 16 for ReLU, GELU, tanh,
                      SiLU (any-activation finite-depth law) against mean field
===================== ==========================================================

Curves are initmath's exact values.  A figure never simulates: Monte Carlo points are
data given to it as ``monte_carlo``, a :class:`MonteCarloPoints` computed by the torch
layer (``verification.figures.figure_points(name, seed=..., quick=...)``: fresh Gaussian
weights, batched matmul, float64 log norm ratios), and are overlaid with error bars of
± 2 standard errors; each figure's function says how its points and their standard
errors are computed.  ``quick=True`` uses coarse grids (for tests).  Every plotted line
carries a ``gid`` (e.g. ``"exact s=0.5"``, ``"mc s=0.5"``), so its data can be read back
with ``line.get_xdata()`` / ``line.get_ydata()``.

matplotlib is imported inside the functions; this module imports neither torch nor the
``verification`` package (which depends on initmath, never the reverse), and
``import initmath`` imports neither matplotlib nor this module.
"""
import math
import numbers
import os
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from .. import _docs, _validate
from ..activations import activation as resolve_activation
from ..critical_variance import critical_sigma, critical_variance, kaiming_sigma, log_moment_factor
from ..finite_depth import depth_law
from ..hessian import glorot_sigma, hessian_sigma
from ..ldlt import ldlt_output_variance, ldlt_series_radius
from ..lyapunov import edge_sigma, log_norm_distribution, lyapunov_exponent, stochastic_dominance
from ..mean_field import gain, variance_map

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "ERROR_BAR_SE",
    "PLOTS",
    "MonteCarloPoints",
    "Points",
    "anyinit_comparison_figure",
    "check_options",
    "depth_law_figure",
    "gh_figure1",
    "gh_figure2",
    "gh_figure3",
    "hessian_vs_glorot_figure",
    "ldlt_variance_figure",
    "lyapunov_figure",
]

FORMATS = ("png", "pdf")
# Error bars span this many standard errors on each side.
ERROR_BAR_SE = 2
_DPI = 110
# Seeds are hashed into 63-bit generator seeds; any integer in [0, SEED_MAX] is accepted.
SEED_MAX = 2 ** 63 - 1


class Points(NamedTuple):
    """Simulated estimates ``y`` with standard errors ``se`` at the abscissae ``x`` of
    one curve (numpy arrays of one length)."""
    x: np.ndarray
    y: np.ndarray
    se: np.ndarray


class MonteCarloPoints(NamedTuple):
    """The simulated data one figure overlays (``verification.figures.figure_points``).

    ``figure`` is its :data:`PLOTS` name and ``seed`` the seed the points were drawn
    with; ``budget`` holds the sample sizes (e.g. ``layers`` and ``networks``, which
    gh-figure1 and gh-figure3 state in their titles); ``curves`` maps each simulated
    curve, keyed by the figure's own parameter (s, d, (d, a), (m, n), a), to its
    :class:`Points`, or for ``gh-figure2`` (keyed by the index of the σ) to the sorted
    samples of log‖x_k‖.
    """
    figure: str
    seed: int
    budget: dict
    curves: dict


# --------------------------------------------------------------------------- helpers
def check_options(out: str | os.PathLike | None = None, *, seed: int = 0,
                  quick: bool = False) -> None:
    """The checks every figure makes before any work (the command line and
    ``verification.figures`` make them too, before simulating).

    Parameters
    ----------
    out : str or path-like, optional
        Where a figure is to be written.
    seed : int, default 0
        The seed of the simulated points.
    quick : bool, default False

    Returns
    -------
    None

    Raises
    ------
    ValueError
        If out is not None or a path ending in .png or .pdf in an existing folder, seed
        is not an integer in [0, 2**63 - 1], or quick is not a bool.

    Examples
    --------
    >>> check_options("figure.jpg")
    Traceback (most recent call last):
    ...
    ValueError: the suffix of out must be one of 'png', 'pdf'; got 'jpg'
    """
    if out is not None:
        if not isinstance(out, (str, os.PathLike)):
            raise ValueError(f"out must be None, a str or a path, got {type(out).__name__}")
        path = os.fspath(out)
        if not isinstance(path, str):
            raise ValueError(f"out must be a text path, got {path!r}")
        suffix = os.path.splitext(path)[1].lstrip(".").lower()
        _validate.choice(suffix, "the suffix of out", FORMATS)
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise ValueError(f"out: the folder {folder!r} of {path!r} does not exist")
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral) or not (
            0 <= seed <= SEED_MAX):
        raise ValueError(f"seed must be an integer in [0, 2**63 - 1], got {seed!r}")
    if not _is_flag(quick):
        raise ValueError(f"quick must be True or False, got {quick!r}")


def _is_flag(value):
    return isinstance(value, (bool, np.bool_)) or (
        isinstance(value, numbers.Integral) and value in (0, 1))


def _start(out, monte_carlo, seed, quick, name):
    """Check the options before any work; the points to overlay, or None."""
    check_options(out, seed=seed, quick=quick)
    call = f"verification.figures.figure_points({name!r}, seed={seed}, quick={bool(quick)})"
    if monte_carlo is None or (_is_flag(monte_carlo) and not monte_carlo):
        return None
    if _is_flag(monte_carlo):
        raise ValueError(f"monte_carlo=True: a figure does not simulate; pass the points of "
                         f"{call} (needs torch), or None for the exact curves only")
    if not (isinstance(monte_carlo, MonteCarloPoints) and monte_carlo.figure == name):
        raise ValueError(f"monte_carlo must be None, False or the points of {call}, got "
                         f"{_validate.shown(monte_carlo)}")
    if monte_carlo.seed != seed:
        raise ValueError(f"monte_carlo: points drawn with seed {monte_carlo.seed}, but "
                         f"seed={seed} (pass the seed they were drawn with)")
    return monte_carlo


def _figure(columns, width, height=3.8):
    """A standalone Figure (no pyplot state, no GUI backend) and its row of axes."""
    from matplotlib.figure import Figure
    figure = Figure(figsize=(width, height), layout="constrained")
    return figure, figure.subplots(1, columns, squeeze=False)[0]


def _finish(figure, out):
    if out is not None:
        figure.savefig(out, dpi=_DPI)
    return figure


def _curve(ax, x, y, gid, **style):
    (line,) = ax.plot(x, y, gid=gid, **style)
    return line


def _points(ax, x, y, se, gid, **style):
    """Simulated points with ± ERROR_BAR_SE standard errors; the marker line gets gid."""
    container = ax.errorbar(x, y, yerr=ERROR_BAR_SE * np.asarray(se), fmt="o", ms=3.5,
                            capsize=2, lw=1, **style)
    container.lines[0].set_gid(gid)
    return container


def _log_ticks(axis, values):
    """Plain tick labels at these values of a log axis (ax.xaxis or ax.yaxis), no minor."""
    axis.set_ticks(values, labels=[f"{v:g}" for v in values])
    axis.set_ticks([], minor=True)


def _colours():
    import matplotlib
    return matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]


def _budget(quick, full, small):
    return small if quick else full


_fill = _docs.fill(figure="""\
Parameters
----------
out : str or path-like, optional
    Also write the figure there; the suffix picks the format (``.png`` or ``.pdf``).
monte_carlo : MonteCarloPoints, optional
    The simulated points to overlay, ``verification.figures.figure_points(NAME,
    seed=seed, quick=quick)`` (needs torch); None or False (default): the exact
    curves only.
seed : int, default 0
    The seed the points were drawn with, an integer in [0, 2**63 - 1] (checked
    against them, so that a figure shows the run it is asked for).
quick : bool, default False
    Coarse grids for the exact curves (a few seconds in all).

Returns
-------
matplotlib.figure.Figure

Raises
------
ValueError
    If out is not a path ending in .png or .pdf in an existing folder, seed is not
    an integer in [0, 2**63 - 1], quick is not a bool, or monte_carlo is not None,
    False or this figure's points of this seed (True: a figure does not simulate).
ImportError
    If matplotlib is missing.

Examples
--------""")


# --------------------------------------------------------------------------- Figure 1
# Right panel: the paper's width, depth and moment orders; the simulated depth is smaller
# because the relative variance of ||x_k||^alpha, (I(2 alpha)/I(alpha)^2)^k - 1, is
# ~e^{80} at k = 500, alpha = 2 (no sample can estimate the mean), but ~3 at k = 20.
FIGURE1_D, FIGURE1_K = 64, 500
FIGURE1_S = (0.25, 0.5, 1.0, 1.5, 2.0)
FIGURE1_ALPHAS = (0.5, 1.0, 1.5, 2.0, 2.5)


def _figure1_growth(alpha, s, d=FIGURE1_D, k=FIGURE1_K):
    """log E||x_k||^alpha = k [alpha log sigma + log I_0(alpha, d)] at sigma = sigma_0(s, d)."""
    return k * (alpha * np.log(critical_sigma(s, d)) + log_moment_factor(alpha, d))


@_fill
def gh_figure1(out: str | os.PathLike | None = None, *,
               monte_carlo: MonteCarloPoints | None = None, seed: int = 0,
               quick: bool = False) -> "Figure":
    r"""Gürbüzbalaban & Hu, Figure 1 (ReLU).

    *Left*: :math:`\log(\bar\sigma_0^2(s, d) - 2/d)` against :math:`\log d` for
    s = 0.25, 0.5, 1, 1.5 (exact), with Corollary 4's asymptote
    :math:`-2\log d + \log(5(2-s)/2)` dashed; the legend gives the slope between the
    two largest d.  No simulation: the difference is O(1/d²) of a quantity O(1/d).

    *Right*: the growth of the α-th moment through k = 500 layers of width 64 at
    :math:`\sigma = \bar\sigma_0(s, 64)`.  Layer factors are iid (Theorem 1), so

    .. math:: \log E\lVert x_k\rVert^\alpha = \log\lVert x_0\rVert^\alpha
              + k\,[\alpha\log\bar\sigma_0(s, d) + \log I_0(\alpha, d)]
              = k\,[\log I_0(\alpha, d) - \tfrac\alpha s \log I_0(s, d)]

    (‖x_0‖ = 1): 0 at α = s and at α = 0, negative between, positive and convex beyond.
    Simulated points (``verification.figures``): 16384 networks (1024 with quick) of
    k_sim = 20 layers (5 with quick) at σ = 1, whose float64 log norm ratios are shifted
    by k_sim log σ̄₀(s, d) (exact, the layers being positively homogeneous), one sample
    for all s; the log of the sample mean of ‖x_{k_sim}‖^α is scaled here by k/k_sim.
    Standard error: batch means over 32 chunks, scaled alike.  (M. Gurbuzbalaban and
    Y. Hu, AISTATS 2021, Theorem 1, Corollary 4, Figure 1.)

    %(figure)s
    >>> import math
    >>> from initmath.outputs.plots import gh_figure1
    >>> figure = gh_figure1(monte_carlo=False, quick=True)
    >>> right = figure.axes[1]
    >>> line = next(l for l in right.get_lines() if l.get_gid() == "exact s=1")
    >>> alpha, growth = line.get_xdata(), line.get_ydata()
    >>> bool(abs(growth[alpha == 1]) < 1e-9)            # the moment of order s is preserved
    True
    """
    points = _start(out, monte_carlo, seed, quick, "gh-figure1")
    figure, (left, right) = _figure(2, 10)
    colours = _colours()
    d = np.unique(np.round(np.logspace(np.log10(4), 4, _budget(quick, 60, 8))).astype(int))
    for s, colour in zip(FIGURE1_S[:-1], colours):
        excess = np.log(critical_variance(s, d) - 2 / d)
        slope = (excess[-1] - excess[-2]) / math.log(d[-1] / d[-2])
        _curve(left, np.log(d), excess, f"exact s={s:g}", color=colour,
               label=f"s = {s:g} (slope {slope:.4f} at d = {d[-1]})")
        _curve(left, np.log(d), -2 * np.log(d) + math.log(5 * (2 - s) / 2),
               f"corollary4 s={s:g}", color=colour, ls="--", lw=1)
    left.set(xlabel=r"$\log d$", ylabel=r"$\log(\bar\sigma_0^2(s,d) - 2/d)$",
             title="exact (solid), Corollary 4: $-2\\log d + \\log(5(2-s)/2)$ (dashed)")
    left.title.set_fontsize(9)
    left.legend(fontsize=8)

    # The grid contains every s, where the curve is exactly 0.
    alpha = np.union1d(np.linspace(0.02, 3, _budget(quick, 150, 30)), FIGURE1_S)
    for s, colour in zip(FIGURE1_S, colours):
        _curve(right, alpha, _figure1_growth(alpha, s), f"exact s={s:g}", color=colour,
               label=rf"$\sigma = \bar\sigma_0({s:g}, {FIGURE1_D})$")
        right.plot([s], [0], "D", color=colour, ms=5, mfc="none")
    title = f"k = {FIGURE1_K}, d = {FIGURE1_D}: exact (lines)"
    if points is not None:
        layers, networks = points.budget["layers"], points.budget["networks"]
        scale = FIGURE1_K / layers
        for s, colour in zip(FIGURE1_S, colours):
            alphas, log_mean, se = points.curves[s]
            _points(right, alphas, scale * log_mean, scale * se, f"mc s={s:g}", color=colour)
        title += (f";\nsimulated at k = {layers} ({networks} networks), "
                  f"log-moment × {scale:g} (± {ERROR_BAR_SE} s.e.)")
    right.axhline(0, color="grey", lw=0.8)
    right.set(xlabel=r"moment order $\alpha$",
              ylabel=rf"$\log E\|x_{{{FIGURE1_K}}}\|^\alpha$  ($\|x_0\| = 1$)", title=title)
    right.title.set_fontsize(9)
    right.secondary_yaxis("right", functions=(lambda y: y / FIGURE1_K,
                                              lambda y: y * FIGURE1_K)).set_ylabel(
        "per layer")
    right.legend(fontsize=8, title="◇: α = s (preserved)", title_fontsize=8)
    return _finish(figure, out)


# --------------------------------------------------------------------------- Figure 2
FIGURE2_D, FIGURE2_K = 64, 100


def _figure2_sigmas():
    """Kaiming sigma^2 = 2/d and the paper's s ~ 1 scheme sigma^2 = 2/d + 5/(2 d^2)."""
    d = FIGURE2_D
    return [(r"Kaiming $\sigma^2 = 2/d$", math.sqrt(2 / d)),
            (r"$\sigma^2 = 2/d + 5/(2d^2)$", math.sqrt(2 / d + 5 / (2 * d * d)))]


@_fill
def gh_figure2(out: str | os.PathLike | None = None, *,
               monte_carlo: MonteCarloPoints | None = None, seed: int = 0,
               quick: bool = False) -> "Figure":
    r"""Gürbüzbalaban & Hu, Figure 2: pdf and cdf of :math:`R_k = \log\lVert x_k\rVert`
    (given x_k ≠ 0) for a ReLU network, d = 64, k = 100, ‖x_0‖ = 1, under Kaiming's
    σ² = 2/d and the s ≈ 1 scheme σ² = 2/d + 5/(2d²).

    Curves: the exact finite-k law (:func:`initmath.log_norm_distribution`, Gil-Pelaez
    inversion) and, dotted, its normal approximation.  Simulated: histograms and empirical
    CDFs of the networks that stay alive among 2000 per σ (200 with quick).  The larger σ moves the
    whole law right by k log(σ₂/σ₁) (Remark 6: dominance at every depth).

    %(figure)s
    >>> from initmath.outputs.plots import gh_figure2
    >>> cdf = gh_figure2(monte_carlo=False, quick=True).axes[1]
    >>> kaiming, scheme = (l.get_ydata() for l in cdf.get_lines()
    ...                    if l.get_gid().startswith("exact cdf"))
    >>> bool((kaiming >= scheme - 1e-9).all())                 # first-order dominance
    True
    """
    points = _start(out, monte_carlo, seed, quick, "gh-figure2")
    figure, (ax_pdf, ax_cdf) = _figure(2, 10, 4)
    cases = _figure2_sigmas()
    laws = [log_norm_distribution(FIGURE2_K, sigma, FIGURE2_D) for _, sigma in cases]
    spread = 4 * math.sqrt(laws[0].variance)
    r = np.linspace(min(law.mean for law in laws) - spread,
                    max(law.mean for law in laws) + spread, _budget(quick, 400, 80))
    for i, ((label, _), law, colour) in enumerate(zip(cases, laws, _colours())):
        _curve(ax_pdf, r, law.pdf(r), f"exact pdf {i}", color=colour, lw=2,
               label=f"exact law, {label}")
        _curve(ax_pdf, r, law.normal_pdf(r), f"normal pdf {i}", color=colour, lw=1, ls=":")
        _curve(ax_cdf, r, law.cdf(r), f"exact cdf {i}", color=colour, lw=1.2, ls="--",
               label=f"exact, {label}")
        if points is None:
            continue
        samples = points.curves[i]
        ax_pdf.hist(samples, bins=40, density=True, color=colour, alpha=0.3,
                    label=f"simulated ({samples.size} networks)")
        ax_cdf.step(samples, np.arange(1, samples.size + 1) / samples.size, where="post",
                    color=colour, alpha=0.35, lw=4, gid=f"mc cdf {i}",
                    label=f"empirical, {label}")
    shift = stochastic_dominance(FIGURE2_K, cases[0][1], cases[1][1], FIGURE2_D)["shift"]
    ax_pdf.set(xlabel=r"$R_k = \log\|x_k\|$", ylabel="density",
               title=f"pdf, d = {FIGURE2_D}, k = {FIGURE2_K}, ReLU (dotted: normal)")
    ax_cdf.set(xlabel=r"$R_k = \log\|x_k\|$", ylabel=r"$P(R_k \leq r)$",
               title=rf"cdf (shift $k\log(\sigma_2/\sigma_1)$ = {shift:.3f})")
    for ax in (ax_pdf, ax_cdf):
        ax.legend(fontsize=7, loc="upper left")
        ax.grid(alpha=0.3)
    return _finish(figure, out)


# --------------------------------------------------------------------------- Figure 3
FIGURE3_S = (0.25, 0.5, 1.0, 2.0, 4.0)
FIGURE3_D = (2, 8, 64, 512)
# Widths simulated in panel (b): d^2 weights per layer factor; 512 would cost 64x d = 64.
FIGURE3_SIMULATED_D = (2, 8, 64)


@_fill
def gh_figure3(out: str | os.PathLike | None = None, *,
               monte_carlo: MonteCarloPoints | None = None, seed: int = 0,
               quick: bool = False) -> "Figure":
    r"""Gürbüzbalaban & Hu, Figure 3: the dependence of :math:`\bar\sigma_0(s, d)` on
    d and s (ReLU).

    *Left*: σ̄₀(s, d) against d on log-log axes for several s (decreasing in d,
    Corollary 9; ~ √(2/d)).  *Right*: σ̄₀(s, d)/√(2/d), the ratio to Kaiming, against
    s for several d: decreasing in s, 1 at s = 2.  Simulated (right, d ≤ 64): from
    iid one-layer factors r = ‖φ₀(W x)‖/‖x‖ at σ = 1 (8 layers × 4096 networks; 4 × 128
    with quick), :math:`\hat\sigma = (\overline{r^s})^{-1/s}`, standard error
    :math:`\hat\sigma\,\mathrm{sd}(r^s)/(s\,\overline{r^s}\sqrt N)` (delta method).

    %(figure)s
    >>> import numpy as np
    >>> from initmath.outputs.plots import gh_figure3
    >>> left = gh_figure3(monte_carlo=False, quick=True).axes[0]
    >>> sigma = [l.get_ydata() for l in left.get_lines() if l.get_gid().startswith("exact")]
    >>> bool(all((np.diff(y) < 0).all() for y in sigma))       # decreasing in d
    True
    """
    points = _start(out, monte_carlo, seed, quick, "gh-figure3")
    figure, (left, right) = _figure(2, 10)
    colours = _colours()
    d = np.unique(np.round(np.logspace(0, 3, _budget(quick, 60, 10))).astype(int))
    for s, colour in zip(FIGURE3_S, colours):
        _curve(left, d, critical_sigma(s, d), f"exact s={s:g}", color=colour,
               label=f"s = {s:g}")
    left.set(xscale="log", yscale="log", xlabel="width d", ylabel=r"$\bar\sigma_0(s, d)$",
             title="exact (decreasing in d and in s)")
    left.legend(fontsize=8)

    # sigma_0 -> infinity as s -> 0 (the ReLU atom at 0: I(s, d) -> 1 - 2^-d): log axis.
    s = np.geomspace(0.1, 4, _budget(quick, 120, 20))
    for width, colour in zip(FIGURE3_D, colours):
        kaiming = kaiming_sigma(width)
        _curve(right, s, critical_sigma(s, width) / kaiming, f"exact d={width}",
               color=colour, label=f"d = {width}")
        if points is None or width not in FIGURE3_SIMULATED_D:
            continue
        s_points, sigma_hat, se = points.curves[width]
        _points(right, s_points, sigma_hat / kaiming, se / kaiming, f"mc d={width}",
                color=colour)
    title = "ratio to Kaiming: exact (lines)"
    if points is not None:
        factors = points.budget["layers"] * points.budget["networks"]
        title += f"; simulated d ≤ 64\n({factors} layer factors, ± {ERROR_BAR_SE} s.e.)"
    right.axhline(1, color="grey", lw=0.8)
    right.set(xscale="log", yscale="log", xlabel="moment order s",
              ylabel=r"$\bar\sigma_0(s, d)\,/\,\sqrt{2/d}$", title=title)
    _log_ticks(right.xaxis, [0.1, 0.25, 0.5, 1, 2, 4])
    right.title.set_fontsize(9)
    right.legend(fontsize=8)
    return _finish(figure, out)


# --------------------------------------------------------------------------- Lyapunov
LYAPUNOV_D = (2, 8, 64)
LYAPUNOV_A = (0.0, 1.0)
LYAPUNOV_EDGE_A = (0.0, 0.01, 0.5, 1.0)
# sigma / Kaiming at which mu is simulated.
LYAPUNOV_POINTS = (0.6, 0.9, 1.3, 1.9)


@_fill
def lyapunov_figure(out: str | os.PathLike | None = None, *,
                    monte_carlo: MonteCarloPoints | None = None, seed: int = 0,
                    quick: bool = False) -> "Figure":
    r"""The Lyapunov exponent μ_a(σ) = log σ + ½ E log Z' (Theorems 5, 11) and its zero.

    *Left*: μ_a(σ) against σ/σ_K, σ_K = √(2/((1+a²)d)) (Kaiming), for d = 2, 8, 64 and
    a = 0 (ReLU, solid; conditional on survival) and a = 1 (linear, dashed); ✕ marks the
    zero crossing σ = edge_sigma(d, a), above which log‖x_k‖ drifts to +∞.  Every
    curve is negative at σ_K (Jensen).  Simulated: the mean of log r = log(‖x_{j+1}‖/‖x_j‖)
    over the factors with r > 0 (8 layers × 2000 networks per point; 4 × 128 with
    quick), standard error sd(log r)/√N (light tails).

    *Right*: edge_sigma(d, a)/σ_K against d (exact) for a = 0, 0.01, 0.5, 1: the edge
    tends to Kaiming's σ as d grows; at small d a leaky ReLU with tiny a sits far above
    ReLU, which is conditioned on x_k ≠ 0.

    %(figure)s
    >>> import numpy as np
    >>> from initmath.outputs.plots import lyapunov_figure
    >>> left = lyapunov_figure(monte_carlo=False, quick=True).axes[0]
    >>> exact = [l for l in left.get_lines() if (l.get_gid() or "").startswith("exact")]
    >>> all(np.allclose(np.diff(l.get_ydata()) / np.diff(np.log(l.get_xdata())), 1)
    ...     for l in exact)                                     # slope 1 in log sigma
    True
    """
    points = _start(out, monte_carlo, seed, quick, "lyapunov")
    figure, (left, right) = _figure(2, 10.5, 4)
    colours = _colours()
    ratio = np.geomspace(0.5, 2.2, _budget(quick, 100, 12))
    for d, colour in zip(LYAPUNOV_D, colours):
        for a, style in zip(LYAPUNOV_A, ("-", "--")):
            kaiming = float(kaiming_sigma(d, a))
            tag = f"d={d} a={a:g}"
            _curve(left, ratio, lyapunov_exponent(ratio * kaiming, d, a), f"exact {tag}",
                   color=colour, ls=style, label=f"d = {d}, a = {a:g}")
            left.plot(edge_sigma(d, a) / kaiming, 0, "x", color=colour, ms=8, mew=2,
                      gid=f"edge {tag}")
            if points is None:
                continue
            _points(left, *points.curves[d, a], f"mc {tag}", color=colour,
                    mfc="white" if a else colour)
    left.axhline(0, color="grey", lw=0.8)
    left.axvline(1, color="grey", lw=0.8, ls=":")
    left.set(xscale="log", xlabel=r"$\sigma / \sigma_{Kaiming}$,  "
                                  r"$\sigma_{Kaiming} = \sqrt{2/((1+a^2)d)}$",
             ylabel=r"$\mu_a(\sigma)$ (per layer)",
             title="exact (lines), ✕ = edge_sigma" + (
                 f", simulated mean log r (± {ERROR_BAR_SE} s.e.)" if points is not None else ""))
    _log_ticks(left.xaxis, [0.5, 0.7, 1, 1.4, 2])
    left.title.set_fontsize(9)
    left.legend(fontsize=7, ncol=2, loc="upper left")

    d = np.unique(np.round(np.logspace(0, 3, _budget(quick, 80, 10))).astype(int))
    for a, colour in zip(LYAPUNOV_EDGE_A, colours[3:]):
        _curve(right, d, edge_sigma(d, a) / kaiming_sigma(d, a), f"edge a={a:g}", color=colour,
               label=f"a = {a:g}")
    right.axhline(1, color="grey", lw=0.8)
    right.set(xscale="log", yscale="log", xlabel="width d",
              ylabel=r"edge_sigma$(d, a)\,/\,\sigma_{Kaiming}$",
              title=r"zero of $\mu_a$ relative to Kaiming (exact)")
    right.title.set_fontsize(9)
    right.legend(fontsize=8)
    return _finish(figure, out)


# --------------------------------------------------------------------------- LDLT
LDLT_SHAPES = ((8, 8), (32, 32), (16, 4), (4, 16))
LDLT_POINTS = tuple(np.logspace(-2, 0.3, 7))


@_fill
def ldlt_variance_figure(out: str | os.PathLike | None = None, *,
                         monte_carlo: MonteCarloPoints | None = None, seed: int = 0,
                         quick: bool = False) -> "Figure":
    r"""Output variance of the LDLT / Cholesky Lipschitz layer (Juston et al.) against
    σ√n, α = γ = 1, for shapes 8×8, 32×32, 16×4, 4×16.

    Curves: :func:`initmath.ldlt_output_variance` exact (solid), the 3-term small-σ
    series inside its radius α/(√m+√n)² (dashed) and the Marchenko–Pastur limit (dotted).
    Simulated: the mean over units of y_i² through a torch layer W₀R⁻¹x with R from
    ``torch.linalg.cholesky`` (4000 layers per point, 128 with quick), standard error
    sd/√N over the iid layers.

    %(figure)s
    >>> from initmath.outputs.plots import ldlt_variance_figure
    >>> ax = ldlt_variance_figure(monte_carlo=False, quick=True).axes[0]
    >>> line = next(l for l in ax.get_lines() if l.get_gid() == "exact 8x8")
    >>> bool((line.get_ydata() < 1).all())            # Var y_i < gamma^2 min(m, n) / m
    True
    """
    points = _start(out, monte_carlo, seed, quick, "ldlt-variance")
    figure, (ax,) = _figure(1, 7.5, 4.8)
    sigma = np.logspace(-2.5, 0.5, _budget(quick, 120, 20))
    for (m, n), colour in zip(LDLT_SHAPES, _colours()):
        root_n = math.sqrt(n)
        _curve(ax, sigma * root_n, ldlt_output_variance(m, n, sigma), f"exact {m}x{n}",
               color=colour, label=f"{m}×{n}")
        _curve(ax, sigma * root_n, ldlt_output_variance(m, n, sigma, method="asymptotic"),
               f"asymptotic {m}x{n}", color=colour, ls=":", lw=1)
        inside = sigma ** 2 < ldlt_series_radius(m, n)
        _curve(ax, sigma[inside] * root_n,
               ldlt_output_variance(m, n, sigma[inside], method="series"),
               f"series {m}x{n}", color=colour, ls="--", lw=1)
        if points is None:
            continue
        sigma_points, mean, se = points.curves[m, n]
        _points(ax, sigma_points * root_n, mean, se, f"mc {m}x{n}", color=colour)
    ax.set(xscale="log", xlabel=r"$\sigma\sqrt{n}$",
           ylabel=r"Var$[y_i]$  ($\alpha = \gamma = 1$)")
    ax.set_title("LDLT layer: exact (solid), 3-term series (dashed), MP limit (dotted)"
                 + (f", MC (dots, ± {ERROR_BAR_SE} s.e.)" if points is not None else ""),
                 fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _finish(figure, out)


# --------------------------------------------------------------------------- Hessian
HESSIAN_D_IN = 64
HESSIAN_POINTS = (1, 4, 16, 64, 256)
# The exact ReLU value sums exact norms over the likely numbers of active rows: ~3 s
# per d_out at 256, so its curve stops there.
HESSIAN_RELU_MAX_D_OUT = 256


def _hessian_curves(d_out, relu_d_out):
    """(gid, label, d_out, sigma, style) of every exact curve of the Hessian figure."""
    d_in = HESSIAN_D_IN
    return [("gordon", "Gordon (paper, Eq. 8)", d_out, hessian_sigma(d_in, d_out),
             dict(ls="--")),
            ("exact", "exact 1/E‖W‖", d_out, hessian_sigma(d_in, d_out, method="exact"),
             dict(lw=2)),
            ("tracy-widom", "Tracy–Widom", d_out,
             hessian_sigma(d_in, d_out, method="tracy-widom"), dict(ls=":", lw=2)),
            ("relu", "ReLU exact 1/E‖D₀W‖", relu_d_out,
             hessian_sigma(d_in, relu_d_out, a=0.0, method="exact"), dict(lw=2)),
            ("glorot", "Glorot", d_out, glorot_sigma(d_in, d_out), dict(ls="-.", color="k"))]


@_fill
def hessian_vs_glorot_figure(out: str | os.PathLike | None = None, *,
                             monte_carlo: MonteCarloPoints | None = None, seed: int = 0,
                             quick: bool = False) -> "Figure":
    r"""Skorski's Hessian-norm scale σ = 1/E‖J‖₂ against Glorot's √(2/(d_in+d_out)),
    over d_out at d_in = 64.

    *Left*: σ for a linear layer by Gordon's bound 1/(√d_in + √d_out) (the paper's
    Eq. 8), exactly and by Tracy–Widom, for a ReLU layer (J = D₀W) exactly, and Glorot's σ.
    *Right*: each divided by Glorot's σ; Gordon's ratio lies in [1/2, 1/√2)
    (:func:`initmath.hessian_glorot_ratio`), not Remark 3's "between 1 and 1/√2".
    Simulated (right): 1/(mean of ‖J‖₂) over 1024 matrices per point (64 with quick),
    J = W or the ReLU Jacobian at a random input, standard error
    sd(‖J‖)/(√N mean²) (delta method; ‖J‖₂ is sub-Gaussian).

    %(figure)s
    >>> import numpy as np
    >>> from initmath.outputs.plots import hessian_vs_glorot_figure
    >>> right = hessian_vs_glorot_figure(monte_carlo=False, quick=True).axes[1]
    >>> gordon = next(l for l in right.get_lines() if l.get_gid() == "ratio gordon")
    >>> y = gordon.get_ydata()
    >>> bool(((0.5 <= y) & (y < 2 ** -0.5)).all())
    True
    """
    points = _start(out, monte_carlo, seed, quick, "hessian-vs-glorot")
    figure, (left, right) = _figure(2, 10.5, 4)
    d_out = np.unique(np.round(np.logspace(0, 10, _budget(quick, 21, 5), base=2)).astype(int))
    relu_d_out = d_out[d_out <= _budget(quick, HESSIAN_RELU_MAX_D_OUT, 16)]
    colours = _colours()
    for (gid, label, x, sigma, style), colour in zip(_hessian_curves(d_out, relu_d_out),
                                                     colours):
        style = {"color": colour, **style}
        _curve(left, x, sigma, f"sigma {gid}", label=label, **style)
        _curve(right, x, sigma / glorot_sigma(HESSIAN_D_IN, x), f"ratio {gid}", **style)
    for bound, text in ((0.5, "1/2"), (2 ** -0.5, r"$1/\sqrt{2}$")):
        right.axhline(bound, color="grey", lw=0.8)
        right.text(0.99, bound, text, transform=right.get_yaxis_transform(), ha="right",
                   va="bottom", fontsize=8, color="grey")
    if points is not None:
        for a, colour in ((None, colours[1]), (0.0, colours[3])):
            x, sigma, se = points.curves[a]
            glorot = glorot_sigma(HESSIAN_D_IN, x)
            _points(right, x, sigma / glorot, se / glorot,
                    f"mc {'linear' if a is None else 'relu'}", color=colour)
    left.set(xscale="log", yscale="log", xlabel=r"$d_{out}$",
             ylabel=r"$\sigma$", title=rf"$d_{{in}} = {HESSIAN_D_IN}$: exact curves")
    right.set(xscale="log", xlabel=r"$d_{out}$", ylabel=r"$\sigma\,/\,\sigma_{Glorot}$",
              title="ratio to Glorot" + (f"; simulated 1/E‖J‖ (± {ERROR_BAR_SE} s.e.)"
                                         if points is not None else ""))
    _log_ticks(left.yaxis, [0.03, 0.05, 0.1, 0.2])
    left.legend(fontsize=8)
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.title.set_fontsize(9)
    return _finish(figure, out)


# --------------------------------------------------------------------------- depth law
DEPTH_LAW_D = 16
DEPTH_LAW_DEPTH = 30
DEPTH_LAW_ACTIVATIONS = ("relu", "gelu", "tanh", "silu")
# The band of the finite-width law drawn around its mean, and the quantiles simulated.
DEPTH_LAW_QUANTILES = (0.1, 0.5, 0.9)


def depth_law_sigma(name: str, d: int = DEPTH_LAW_D) -> float:
    """The weight std of the depth-law figure: the exact gain over sqrt(d), the std that
    keeps the pre-activation variance q = 1 at infinite width (He's for ReLU)."""
    return float(gain(name)) / math.sqrt(d)


def depth_law_curves(name: str, depth: int, d: int = DEPTH_LAW_D):
    """(depth law, mean-field path, gain g) for the variance q_L = g^2 ||x_L||^2 / d of the
    next layer's pre-activations, L = 1, ..., depth, started at q_0 = 1 (||x_0|| =
    sqrt(d) / g), at :func:`depth_law_sigma`: the exact finite-width law
    (:func:`initmath.finite_depth.depth_law`) and the iterated infinite-width map
    q_L = g^2 E phi(sqrt(q_{L-1}) z)^2, which the gain keeps at 1."""
    g = float(gain(name))
    law = depth_law(depth, d, name, g / math.sqrt(d), r0=math.sqrt(d) / g)
    phi, path, q = resolve_activation(name), [], 1.0
    for _ in range(depth):
        q = float(variance_map(q, phi, g * g))
        path.append(q)
    return law, np.array(path), g


@_fill
def depth_law_figure(out: str | os.PathLike | None = None, *,
                     monte_carlo: MonteCarloPoints | None = None, seed: int = 0,
                     quick: bool = False) -> "Figure":
    r"""The law of q_L = g²‖x_L‖²/d (the variance of the next pre-activations) across
    depth at width d = 16, exact at finite width, for ReLU, GELU, tanh and SiLU at their
    exact gain g (σ = g/√d, q_0 = 1).

    One panel per activation: initmath's mean of q_L (solid, :func:`initmath.finite_depth.
    depth_law`), its 10%–90% band (shaded) and median (thin), and the infinite-width
    (mean-field) path, which AnyInit-style tools predict (dashed: 1 at every depth, the
    gain's fixed point, with no spread).  Simulated: 4096 networks of the real torch
    modules (512 with quick), depth 30 (8 with quick): the mean of q_L with ± 2 standard
    errors, and the 10%, 50%, 90% sample quantiles (✕; standard error from 32 chunks'
    quantiles).

    %(figure)s
    >>> import numpy as np
    >>> from initmath.outputs.plots import depth_law_figure
    >>> relu = depth_law_figure(monte_carlo=False, quick=True).axes[0]
    >>> mean = next(l for l in relu.get_lines() if l.get_gid() == "exact mean relu")
    >>> bool(np.allclose(mean.get_ydata(), 1, atol=2e-3))  # He keeps E q_L = 1 exactly
    True
    """
    points = _start(out, monte_carlo, seed, quick, "depth-law")
    depth = _budget(quick, DEPTH_LAW_DEPTH, 8)
    figure, axes = _figure(len(DEPTH_LAW_ACTIVATIONS), 13, 3.6)
    colours = _colours()
    layers = np.arange(1, depth + 1)
    for ax, name, colour in zip(axes, DEPTH_LAW_ACTIVATIONS, colours):
        law, path, g = depth_law_curves(name, depth)
        low, median, high = ((g * law.quantile(DEPTH_LAW_QUANTILES)) ** 2 / DEPTH_LAW_D).T
        ax.fill_between(layers, low, high, color=colour, alpha=0.2, lw=0,
                        label="initmath 10–90%")
        _curve(ax, layers, g * g * law.mean, f"exact mean {name}", color=colour, lw=2,
               label="initmath mean")
        _curve(ax, layers, median, f"exact median {name}", color=colour, lw=0.8)
        _curve(ax, layers, path, f"mean field {name}", color="k", ls="--",
               label="infinite width")
        if points is not None:
            _points(ax, *points.curves[name, "mean"], f"mc mean {name}", color=colour,
                    label="simulated mean")
            for p in DEPTH_LAW_QUANTILES:
                x, y, se = points.curves[name, p]
                container = ax.errorbar(x, y, yerr=ERROR_BAR_SE * se, fmt="x", ms=4, lw=0.8,
                                        color="grey")
                container.lines[0].set_gid(f"mc quantile {p:g} {name}")
        ax.set(yscale="log", xlabel="layer L", title=f"{name}, d = {DEPTH_LAW_D}, "
               f"σ = gain/√d")
        ax.title.set_fontsize(9)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(r"$q_L = g^2 \Vert x_L\Vert^2 / d$")
    axes[0].legend(fontsize=7, loc="lower left")
    return _finish(figure, out)


# --------------------------------------------------------------------------- AnyInit
def anyinit_comparison_figure(rows: list, out: str | os.PathLike | None = None) -> "Figure":
    r"""initmath's finite-width prediction against AnyInit's and the Monte Carlo truth,
    per layer: one panel per row of ``benchmarks/compare_anyinit.py`` (its JSON ``rows``).

    Each panel: the simulated mean of ‖x_l‖²/d_l (± 2 standard errors) and median (✕),
    AnyInit's predicted second moment (dashed), and, where initmath has it, its exact
    finite-width mean (solid) with ± one finite-width standard deviation (shaded).  Not
    in :data:`PLOTS`: the data come from the comparison script, which needs the optional
    ``anyinit`` package (``pip install 'initmath[compare]'``).

    Parameters
    ----------
    rows : list of dict
        Rows with the keys ``model``, ``mode``, ``labels``, ``anyinit``, ``mc_mean``,
        ``mc_se``, ``mc_median`` and optionally ``initmath_mean``, ``initmath_spread``
        (per-layer lists; None for a missing value).
    out : str or path-like, optional
        Also write the figure there (``.png`` or ``.pdf``).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If rows is empty or a row lacks a key, or out is not a path ending in .png or
        .pdf in an existing folder.

    Examples
    --------
    >>> from initmath.outputs.plots import anyinit_comparison_figure
    >>> row = {"model": "mlp-relu-d16-L3", "mode": "analytic", "labels": ["1", "2", "3"],
    ...        "anyinit": [1, 1, 1], "mc_mean": [1.0, 0.99, 1.02], "mc_se": [.01] * 3,
    ...        "mc_median": [.9, .8, .7], "initmath_mean": [1, 1, 1],
    ...        "initmath_spread": [.3, .45, .6]}
    >>> ax = anyinit_comparison_figure([row]).axes[0]
    >>> [line.get_gid() for line in ax.get_lines()][:2]
    ['anyinit mlp-relu-d16-L3 analytic', 'initmath mlp-relu-d16-L3 analytic']
    """
    check_options(out)
    required = ("model", "mode", "labels", "anyinit", "mc_mean", "mc_se", "mc_median")
    if not isinstance(rows, (list, tuple)) or not rows:
        raise ValueError(f"rows must be a non-empty list of comparison rows, got "
                         f"{_validate.shown(rows)}")
    for row in rows:
        missing = [key for key in required if key not in row]
        if missing:
            raise ValueError(f"rows: a row lacks {', '.join(missing)}")
    figure, axes = _figure(len(rows), 3.3 * len(rows) + 0.5, 3.6)
    colours = _colours()
    for ax, row in zip(axes, rows):
        tag = f"{row['model']} {row['mode']}"
        values = {key: np.array([math.nan if v is None else v for v in row[key]], float)
                  for key in (*required[3:], "initmath_mean", "initmath_spread") if key in row}
        x = np.arange(1, len(values["mc_mean"]) + 1)
        _curve(ax, x, values["anyinit"], f"anyinit {tag}", color="k", ls="--",
               label=f"AnyInit ({row['mode']})")
        if "initmath_mean" in values:
            mean, spread = values["initmath_mean"], values["initmath_spread"]
            _curve(ax, x, mean, f"initmath {tag}", color=colours[0], lw=2,
                   label="initmath (finite width)")
            ax.fill_between(x, np.maximum(mean - spread, 0), mean + spread,
                            color=colours[0], alpha=0.2, lw=0)
        _points(ax, x, values["mc_mean"], values["mc_se"], f"mc {tag}", color=colours[1],
                label="simulated mean")
        ax.plot(x, values["mc_median"], "x", color="grey", ms=4, gid=f"mc median {tag}",
                label="simulated median")
        ax.set(xlabel="layer", title=tag)
        ax.title.set_fontsize(9)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(r"$\Vert x_l\Vert^2 / d_l$")
    axes[0].legend(fontsize=7)
    return _finish(figure, out)


PLOTS = {"gh-figure1": gh_figure1, "gh-figure2": gh_figure2, "gh-figure3": gh_figure3,
         "lyapunov": lyapunov_figure, "ldlt-variance": ldlt_variance_figure,
         "hessian-vs-glorot": hessian_vs_glorot_figure, "depth-law": depth_law_figure}

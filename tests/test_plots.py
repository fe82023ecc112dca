"""Tests of initmath.plots: every figure renders to png and pdf, its curves are initmath's
exact values, and its simulated points agree with them within their standard errors
while rejecting a wrong formula (negative controls)."""
import importlib.util
import math
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

pytest.importorskip("matplotlib")

from initmath import (
    critical_sigma,
    critical_variance,
    edge_sigma,
    glorot_sigma,
    hessian_sigma,
    ldlt_output_variance,
    log_norm_distribution,
    lyapunov_exponent,
    moment_factor,
)
from initmath.outputs import plots
from verification.figures import figure_points

HAVE_TORCH = importlib.util.find_spec("torch") is not None
needs_torch = pytest.mark.skipif(not HAVE_TORCH, reason="torch is not installed")
PNG_HEADER = b"\x89PNG\r\n\x1a\n"
# Simulated points must lie within this many standard errors of the exact value (the
# false-alarm rate of about 25 points per figure is then below 1e-4), and a wrong
# formula must be farther than this from at least one point.
Z_MAX = 5.0


@pytest.fixture(scope="module")
def figures(tmp_path_factory):
    """Every registry entry rendered once (quick; simulated points when torch is there)."""
    folder = tmp_path_factory.mktemp("figures")
    return {name: (function(folder / f"{name}.png", quick=True,
                            monte_carlo=figure_points(name, quick=True) if HAVE_TORCH else None),
                   folder / f"{name}.png") for name, function in plots.PLOTS.items()}


def _line(ax, gid):
    (line,) = [line for line in ax.get_lines() if line.get_gid() == gid]
    return np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)


def _points(ax, gid):
    """x, y and standard error of the simulated points whose marker line has this gid."""
    (container,) = [c for c in ax.containers if c.lines[0].get_gid() == gid]
    x, y = (np.asarray(v, float) for v in container.lines[0].get_data())
    segments = np.array(container.lines[2][0].get_segments())
    se = (segments[:, 1, 1] - segments[:, 0, 1]) / (2 * plots.ERROR_BAR_SE)
    return x, y, se


def _z(ax, gid, theory):
    x, y, se = _points(ax, gid)
    return (y - theory(x)) / se


# --------------------------------------------------------------------------- rendering
def test_registry_names():
    assert set(plots.PLOTS) == {"gh-figure1", "gh-figure2", "gh-figure3", "lyapunov",
                                "ldlt-variance", "hessian-vs-glorot", "depth-law"}


def test_import_initmath_imports_neither_matplotlib_nor_torch():
    code = ("import sys, initmath; a = {'matplotlib', 'torch'} & set(sys.modules); "
            "import initmath.outputs.plots; b = 'torch' in sys.modules; print(sorted(a), b)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.split() == ["[]", "False"]


@pytest.mark.parametrize("name", sorted(plots.PLOTS))
def test_renders_png(figures, name):
    figure, path = figures[name]
    assert path.read_bytes()[:8] == PNG_HEADER and path.stat().st_size > 20_000
    assert len(figure.axes) >= 1 and all(ax.get_xlabel() for ax in figure.axes)


@pytest.mark.parametrize("name", sorted(plots.PLOTS))
def test_renders_pdf(figures, tmp_path, name):
    path = tmp_path / f"{name}.pdf"
    figures[name][0].savefig(path)
    assert path.read_bytes()[:5] == b"%PDF-"


def test_out_pdf_without_monte_carlo(tmp_path):
    """The suffix picks the format; monte_carlo=False draws no points (the doctests run
    every figure this way)."""
    path = tmp_path / "figure.pdf"
    figure = plots.ldlt_variance_figure(path, monte_carlo=False, quick=True)
    assert path.read_bytes()[:5] == b"%PDF-"
    assert not any(ax.containers for ax in figure.axes)


def test_bad_options_raise_before_any_work(tmp_path):
    with pytest.raises(ValueError, match="suffix of out.*png"):
        plots.gh_figure3(tmp_path / "figure.jpg", monte_carlo=False)
    for seed in (-1, 1.5, True, 2 ** 63, 10 ** 400):
        with pytest.raises(ValueError, match="seed"):
            plots.gh_figure3(seed=seed, monte_carlo=False)
    with pytest.raises(ValueError, match="folder"):           # before the work, not after
        plots.gh_figure3(tmp_path / "missing" / "figure.png", monte_carlo=False)
    with pytest.raises(ValueError, match="out must be"):
        plots.gh_figure3(3, monte_carlo=False)
    with pytest.raises(ValueError, match="quick"):
        plots.gh_figure3(quick="yes", monte_carlo=False)


def test_monte_carlo_without_torch_raises(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)         # import torch now fails
    with pytest.raises(ImportError, match="monte_carlo=False"):
        figure_points("gh-figure3", quick=True)


# --------------------------------------------------------------------------- exact curves
def test_figure1_curves_are_the_exact_formulas(figures):
    left, right = figures["gh-figure1"][0].axes[:2]
    for s in (0.25, 0.5, 1.0, 1.5):
        log_d, excess = _line(left, f"exact s={s:g}")
        d = np.round(np.exp(log_d))
        np.testing.assert_allclose(excess, np.log(critical_variance(s, d) - 2 / d), rtol=1e-12)
    for s in plots.FIGURE1_S:
        alpha, growth = _line(right, f"exact s={s:g}")
        np.testing.assert_allclose(
            growth, 500 * np.log(critical_sigma(s, 64) ** alpha * moment_factor(alpha, 64)),
            rtol=1e-10, atol=1e-10)


def test_figure1_slope_minus_two_and_corollary_4_intercept():
    """The paper's claim: log(sigma_0^2 - 2/d) is a line of slope -2 in log d, with
    intercept log(5(2 - s)/2) (Corollary 4); both hold in the limit, at rate 1/d."""
    d = np.array([1e4, 2e4])
    for s in (0.25, 0.5, 1.0, 1.5):
        excess = np.log(critical_variance(s, d) - 2 / d)
        assert (excess[1] - excess[0]) / math.log(2) == pytest.approx(-2, abs=5e-4)
        assert excess[1] + 2 * math.log(d[1]) == pytest.approx(math.log(5 * (2 - s) / 2),
                                                               abs=1e-3)


def test_figure1_moment_is_preserved_at_its_own_order_and_grows_above():
    for s in plots.FIGURE1_S:
        assert plots._figure1_growth(s, s) == pytest.approx(0, abs=1e-9)
        assert plots._figure1_growth(1.1 * s, s) > 0 > plots._figure1_growth(0.9 * s, s)
    # "When s gets smaller, moments grow faster"
    growth = [plots._figure1_growth(3.0, s) for s in plots.FIGURE1_S]
    assert np.all(np.diff(growth) < 0)


def test_figure2_curves_are_the_exact_law(figures):
    pdf_ax, cdf_ax = figures["gh-figure2"][0].axes
    for i, (_, sigma) in enumerate(plots._figure2_sigmas()):
        law = log_norm_distribution(100, sigma, 64)
        r, pdf = _line(pdf_ax, f"exact pdf {i}")
        np.testing.assert_allclose(pdf, law.pdf(r), rtol=1e-12, atol=1e-15)
        r, cdf = _line(cdf_ax, f"exact cdf {i}")
        np.testing.assert_allclose(cdf, law.cdf(r), rtol=1e-12, atol=1e-15)


def test_figure3_curves_are_critical_sigma(figures):
    left, right = figures["gh-figure3"][0].axes[:2]
    for s in plots.FIGURE3_S:
        d, sigma = _line(left, f"exact s={s:g}")
        np.testing.assert_allclose(sigma, critical_sigma(s, d), rtol=1e-14)
    for d in plots.FIGURE3_D:
        s, ratio = _line(right, f"exact d={d}")
        np.testing.assert_allclose(ratio, critical_sigma(s, d) * math.sqrt(d / 2), rtol=1e-14)
        assert np.all(np.diff(ratio) < 0)                       # decreasing in s


def test_lyapunov_curves_and_edges(figures):
    left, right = figures["lyapunov"][0].axes[:2]
    for d in plots.LYAPUNOV_D:
        for a in plots.LYAPUNOV_A:
            kaiming = math.sqrt(2 / ((1 + a * a) * d))
            ratio, mu = _line(left, f"exact d={d} a={a:g}")
            np.testing.assert_allclose(mu, lyapunov_exponent(ratio * kaiming, d, a),
                                       rtol=1e-13, atol=1e-15)
            edge, zero = _line(left, f"edge d={d} a={a:g}")
            assert zero[0] == 0 and abs(lyapunov_exponent(edge[0] * kaiming, d, a)) < 1e-14
            assert edge[0] > 1                                  # mu < 0 at Kaiming (Jensen)
    for a in plots.LYAPUNOV_EDGE_A:
        d, ratio = _line(right, f"edge a={a:g}")
        np.testing.assert_allclose(ratio, edge_sigma(d, a) * np.sqrt((1 + a * a) * d / 2),
                                   rtol=1e-14)


def test_ldlt_curves(figures):
    (ax,) = figures["ldlt-variance"][0].axes
    for m, n in plots.LDLT_SHAPES:
        for method in ("exact", "series", "asymptotic"):
            x, y = _line(ax, f"{method} {m}x{n}")
            np.testing.assert_allclose(y, ldlt_output_variance(m, n, x / math.sqrt(n),
                                                               method=method), rtol=1e-12)


def test_hessian_curves(figures):
    left, right = figures["hessian-vs-glorot"][0].axes
    theory = {"gordon": lambda d: hessian_sigma(64, d),
              "exact": lambda d: hessian_sigma(64, d, method="exact"),
              "tracy-widom": lambda d: hessian_sigma(64, d, method="tracy-widom"),
              "relu": lambda d: hessian_sigma(64, d, a=0.0, method="exact"),
              "glorot": lambda d: glorot_sigma(64, d)}
    for gid, sigma in theory.items():
        d, y = _line(left, f"sigma {gid}")
        np.testing.assert_allclose(y, sigma(d), rtol=1e-14)
        d, y = _line(right, f"ratio {gid}")
        np.testing.assert_allclose(y, sigma(d) / glorot_sigma(64, d), rtol=1e-14)


# --------------------------------------------------------------------------- simulated points
@needs_torch
def test_figure1_points_agree_and_reject_no_growth(figures):
    right = figures["gh-figure1"][0].axes[1]
    for s in plots.FIGURE1_S:
        z = _z(right, f"mc s={s:g}", lambda alpha: plots._figure1_growth(alpha, s))
        assert np.abs(z).max() < Z_MAX
    # negative control: "E||x_k||^alpha = 1 for every alpha" at sigma_0(0.25, d)
    assert np.abs(_z(right, "mc s=0.25", np.zeros_like)).max() > Z_MAX


@needs_torch
def test_figure2_samples_follow_the_exact_law_and_not_the_other(figures):
    cdf_ax = figures["gh-figure2"][0].axes[1]
    laws = [log_norm_distribution(100, sigma, 64) for _, sigma in plots._figure2_sigmas()]
    for i, law in enumerate(laws):
        samples, _ = _line(cdf_ax, f"mc cdf {i}")
        assert stats.kstest(samples, law.cdf).pvalue > 1e-4
        # negative control: the other sigma's law (shifted by k log(sigma_2/sigma_1))
        assert stats.kstest(samples, laws[1 - i].cdf).pvalue < 1e-4


@needs_torch
def test_figure3_points_agree_and_reject_the_printed_sigma(figures):
    right = figures["gh-figure3"][0].axes[1]
    for d in plots.FIGURE3_SIMULATED_D:
        z = _z(right, f"mc d={d}", lambda s: critical_sigma(s, d) * math.sqrt(d / 2))
        assert np.abs(z).max() < Z_MAX
    # negative control: Theorem 1's printed 1/sqrt(I_0) (errata 1), at d = 2
    printed = lambda s: moment_factor(s, 2) ** -0.5
    assert np.abs(_z(right, "mc d=2", printed)).max() > Z_MAX


@needs_torch
def test_lyapunov_points_agree_and_reject_the_mean_field_exponent(figures):
    left = figures["lyapunov"][0].axes[0]
    for d in plots.LYAPUNOV_D:
        for a in plots.LYAPUNOV_A:
            kaiming = math.sqrt(2 / ((1 + a * a) * d))
            z = _z(left, f"mc d={d} a={a:g}",
                   lambda ratio: lyapunov_exponent(ratio * kaiming, d, a))
            assert np.abs(z).max() < Z_MAX
    # negative control: mu = log sigma + log E Z / 2 = log(sigma / Kaiming) (mean field)
    for d in (2, 8):
        assert np.abs(_z(left, f"mc d={d} a=0", np.log)).max() > Z_MAX


@needs_torch
def test_ldlt_points_agree(figures):
    (ax,) = figures["ldlt-variance"][0].axes
    for m, n in plots.LDLT_SHAPES:
        z = _z(ax, f"mc {m}x{n}", lambda x: ldlt_output_variance(m, n, x / math.sqrt(n)))
        assert np.abs(z).max() < Z_MAX


@needs_torch
def test_hessian_points_agree_and_reject_gordon(figures):
    right = figures["hessian-vs-glorot"][0].axes[1]
    exact = {"linear": lambda d: hessian_sigma(64, d, method="exact"),
             "relu": lambda d: hessian_sigma(64, d, a=0.0, method="exact")}
    for kind, sigma in exact.items():
        z = _z(right, f"mc {kind}", lambda d: sigma(d) / glorot_sigma(64, d))
        assert np.abs(z).max() < Z_MAX
    # negative control: Gordon's bound (the paper's Eq. 8) taken as the exact scale
    gordon = lambda d: hessian_sigma(64, d) / glorot_sigma(64, d)
    assert np.abs(_z(right, "mc linear", gordon)).max() > Z_MAX


def test_depth_law_curves_relu_closed_form_and_mean_field_fixed_point(figures):
    """ReLU at He: E q_L = 1 exactly at every depth and width (the grid's error only); the
    mean-field path stays at the gain's fixed point q = 1 for every activation; at depth 1
    the s = 2 moment is exact at any width, so every mean starts at 1."""
    axes = figures["depth-law"][0].axes
    for ax, name in zip(axes, plots.DEPTH_LAW_ACTIVATIONS):
        _, mean = _line(ax, f"exact mean {name}")
        _, path = _line(ax, f"mean field {name}")
        assert np.allclose(path, 1, atol=1e-12)
        assert abs(mean[0] - 1) < 2e-3
        if name == "relu":
            assert np.allclose(mean, 1, atol=2e-3)


@needs_torch
def test_depth_law_quantiles_agree_and_reject_the_mean_field(figures):
    """The simulated 10%, 50%, 90% quantiles of q_L lie within Z_MAX chunk standard
    errors of depth_law's; the tanh mean (light tails) too.  Negative control: the
    infinite-width prediction (q_L = 1 with no spread) is rejected by the 10% quantile of
    every activation."""
    axes = figures["depth-law"][0].axes
    for ax, name in zip(axes, plots.DEPTH_LAW_ACTIVATIONS):
        law, _, g = plots.depth_law_curves(name, len(_line(ax, f"mean field {name}")[0]))
        for p in plots.DEPTH_LAW_QUANTILES:
            exact = (g * law.quantile(p)) ** 2 / plots.DEPTH_LAW_D
            _, y, se = _points(ax, f"mc quantile {p:g} {name}")
            assert np.abs((y - exact) / se).max() < Z_MAX, (name, p)
        _, y, se = _points(ax, f"mc quantile 0.1 {name}")
        assert np.abs((y - 1) / se).max() > Z_MAX
    _, y, se = _points(axes[2], "mc mean tanh")
    assert np.abs((y - _line(axes[2], "exact mean tanh")[1]) / se).max() < Z_MAX

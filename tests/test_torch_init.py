"""Tests of initmath.nn.init: torch.nn.init-style initializers and the torch namespace."""
import doctest
import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

torch = pytest.importorskip("torch")
import itertools

from torch import nn

import initmath.nn.init as itorch
from initmath import critical_sigma, hessian_sigma
from initmath.activations import activation
from initmath.nn import curvature as torch_tools
from initmath.nn import (
    fractional_moment_normal_,
    fractional_moment_std,
    hessian_normal_,
    hessian_std,
    init_model_,
)
from verification.core import ALPHA

D = torch.float64


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_doctests():
    assert doctest.testmod(itorch, optionflags=doctest.NORMALIZE_WHITESPACE).failed == 0


def test_import_initmath_does_not_import_torch():
    code = "import sys, initmath; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_namespace_is_pytorch_plus_one_home_per_name():
    """``torch`` inside initmath.nn is PyTorch; each public name has one home (its section,
    init or curvature) and the package re-exports the same objects."""
    import initmath.nn as package
    assert itorch.nn is nn
    assert not set(itorch.__all__) & set(torch_tools.__all__)
    for section in (itorch, torch_tools):
        for name in section.__all__:
            assert getattr(package, name) is getattr(section, name)
            assert name in package.__all__


# --------------------------------------------------------------------------- the scales
@pytest.mark.parametrize("shape", [(96, 40), (40, 96), (8, 3, 5), (16, 4, 3, 3), (6, 2, 3, 2, 2)])
@pytest.mark.parametrize("a", [0.0, 0.1, 1.0])
@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
def test_s2_is_torch_kaiming(shape, a, mode):
    """The same standard normals: fractional / kaiming is the ratio of the two stds."""
    w_kaiming = nn.init.kaiming_normal_(torch.empty(shape, dtype=D), a, mode, generator=gen(3))
    w_ours = fractional_moment_normal_(torch.empty(shape, dtype=D), 2.0, a, mode, generator=gen(3))
    ratio = w_ours / w_kaiming
    assert float(ratio.min()) == pytest.approx(1, rel=1e-13)
    assert float(ratio.max()) == pytest.approx(1, rel=1e-13)


@pytest.mark.parametrize("conv, fans", [
    (nn.Conv1d(6, 10, 5), (30, 50)),
    (nn.Conv2d(4, 8, (3, 5), groups=2), (30, 120)),     # fan_in counts in / groups
    (nn.Conv3d(3, 2, (2, 3, 4)), (72, 48)),
])
def test_conv_uses_receptive_field_fans(conv, fans):
    assert nn.init._calculate_fan_in_and_fan_out(conv.weight) == fans
    assert itorch._fans(conv.weight) == fans == itorch._fans(conv.weight.shape)
    fan_in, fan_out = fans
    # a conv weight is scaled as the dense [fan_out, fan_in] matrix of its receptive field
    for mode in ("fan_in", "fan_out"):
        assert fractional_moment_std(conv.weight, 0.5, 0.2, mode) == fractional_moment_std(
            (fan_out, fan_in), 0.5, 0.2, mode)
    assert hessian_std(conv.weight, a=0.0) == hessian_std((fan_out, fan_in), a=0.0)


@given(st.lists(st.integers(1, 9), min_size=2, max_size=4),
       st.floats(0.1, 4.0), st.floats(0.0, 1.0))
def test_mode_convention_and_monotonicity(shape, s, a):
    fan_in, fan_out = itorch._fans(shape)
    norm = fractional_moment_std(shape, s, a, "fan_out")
    neuron = fractional_moment_std(shape, s, a, "fan_in")
    assert norm == pytest.approx(float(critical_sigma(s, fan_out, a)), rel=1e-14)
    assert neuron == pytest.approx(norm * math.sqrt(fan_out / fan_in), rel=1e-14)
    # Corollary 9: strictly decreasing in s
    assert fractional_moment_std(shape, s + 0.5, a, "fan_out") < norm


def test_hessian_auto_method():
    """"auto" is the exact law where it is cheap, Tracy-Widom elsewhere."""
    for shape, a in [((64, 128), None), ((64, 1000), 0.0), ((500, 1), 0.3), ((1, 500), 0.3)]:
        assert hessian_std(shape, a) == hessian_std(shape, a, "exact")
    for shape, a in [((129, 129), None), ((128, 32), 0.0), ((20, 6), 0.3)]:
        assert hessian_std(shape, a) == hessian_std(shape, a, "tracy-widom")
    # the weight is [fan_out, fan_in]: d_in = shape[1]
    assert hessian_std((40, 7), 0.0) == float(hessian_sigma(7, 40, a=0.0, method="exact"))


# --------------------------------------------------------------------------- sampling
@pytest.mark.parametrize("fill, shape, std_args", [
    (fractional_moment_normal_, (1000, 1000), (1.0, 0.0, "fan_in")),
    (fractional_moment_normal_, (256, 64, 5, 5), (0.5, 0.3, "fan_out")),
    (hessian_normal_, (1000, 500), (0.0, "auto")),
])
def test_empirical_std_matches_formula(fill, shape, std_args):
    std_of = fractional_moment_std if fill is fractional_moment_normal_ else hessian_std
    std = std_of(shape, *std_args)
    w = fill(torch.empty(shape), *std_args, generator=gen(1)).double()
    n = w.numel()
    z_crit = stats.norm.isf(ALPHA / 2)
    assert abs(float(w.mean())) <= z_crit * std / math.sqrt(n)
    assert abs(float(w.std()) - std) <= z_crit * std / math.sqrt(2 * n)   # sd(s_hat)


def test_hessian_normal_expected_spectral_norm_is_one():
    """Independent check: E||W||_2 = 1 over many filled 24 x 10 matrices (exact sigma)."""
    g = gen(2)
    w = torch.empty(4000, 24, 10, dtype=D)
    for matrix in w:
        hessian_normal_(matrix, generator=g)
    norms = torch.linalg.matrix_norm(w, ord=2).numpy()
    z = (norms.mean() - 1) / (norms.std() / math.sqrt(norms.size))
    assert abs(z) < stats.norm.isf(ALPHA / 2)


def test_generator_reproducibility():
    w1 = fractional_moment_normal_(torch.empty(30, 20), generator=gen(7))
    w2 = fractional_moment_normal_(torch.empty(30, 20), generator=gen(7))
    w3 = fractional_moment_normal_(torch.empty(30, 20), generator=gen(8))
    assert torch.equal(w1, w2) and not torch.equal(w1, w3)

    def model():
        return nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 4, 5))

    m1, m2 = model(), model()
    r1, r2 = (init_model_(m, "hessian", a=0.0, generator=gen(5)) for m in (m1, m2))
    assert r1 == r2
    assert all(torch.equal(p, q) for p, q in zip(m1.state_dict().values(),
                                                 m2.state_dict().values()))
    torch.manual_seed(4)                    # no generator: torch's global RNG, as nn.init
    h1 = hessian_normal_(torch.empty(5, 5))
    torch.manual_seed(4)
    assert torch.equal(h1, hessian_normal_(torch.empty(5, 5)))


@pytest.mark.parametrize("fill", [fractional_moment_normal_, hessian_normal_])
def test_fill_is_no_grad(fill):
    w = torch.empty(20, 10, requires_grad=True)
    with torch.enable_grad():
        out = fill(w)
    assert out is w and w.is_leaf and w.requires_grad and w.grad_fn is None
    with pytest.raises(RuntimeError):        # what no_grad prevents
        w.normal_()


# --------------------------------------------------------------------------- init_model_
def test_init_model_report_and_schemes_match_torch():
    def model():
        return nn.Sequential(nn.Linear(12, 30), nn.ReLU(), nn.Sequential(nn.Conv1d(3, 5, 4)),
                             nn.ConvTranspose1d(5, 3, 2), nn.BatchNorm1d(3))

    net = model()
    before = net[3].weight.detach().clone()
    # one slope for every layer, against the model's ReLU: an explicit override (issue 13:
    # a=0.1 here used to be applied silently; it now disagrees with the model's ReLU)
    with pytest.warns(itorch.InitCoverageWarning, match="3.weight"):
        report = init_model_(net, "fractional-moment", s=1.5, override_a=0.1, mode="fan_out",
                             generator=gen())
    # the BatchNorm is initialized (weight 1, bias 0)
    assert [(r.name, r.shape, r.kind) for r in report] == [
        ("0", (30, 12), "layer"), ("2.0", (5, 3, 4), "layer"), ("4", (3,), "norm")]
    assert report[1].std == fractional_moment_std((5, 3, 4), 1.5, 0.1, "fan_out")
    assert all(not m.bias.any() for m in (net[0], net[2][0]))
    assert torch.equal(net[3].weight, before)          # ConvTranspose is not walked
    assert [p.name for p in report.skipped] == ["3.weight", "3.bias"]
    assert bool((net[4].weight == 1).all()) and not net[4].bias.any()

    # "kaiming" / "xavier" draw exactly what torch.nn.init draws
    for scheme, params, torch_init in [
            ("kaiming", {"override_a": 0.2, "mode": "fan_out"},
             lambda w, g: nn.init.kaiming_normal_(w, 0.2, "fan_out", generator=g)),
            ("xavier", {"gain": 1.7}, lambda w, g: nn.init.xavier_normal_(w, 1.7, g))]:
        ours, reference, g = model(), model(), gen(9)
        report = init_model_(ours, scheme, generator=gen(9), warn=False, **params)
        for name in ("0", "2.0"):
            torch_init(reference.get_submodule(name).weight, g)
            assert torch.equal(ours.get_submodule(name).weight,
                               reference.get_submodule(name).weight)
    assert report[0].std == pytest.approx(1.7 * math.sqrt(2 / 42), rel=1e-15)


def _norm_ratios(widths, scheme, networks, batch, seed, scale=1.0, **params):
    """||x_L|| / ||x_0||, shape (networks, batch), for ReLU MLPs initialized by init_model_;
    each row is a fresh network (new weights, new inputs), so rows are iid.  A small batch
    suffices: the inputs of one network have nearly the same ratio (DEEP, s = 1: the sd of
    the per-network means is 0.73 at batch 16 and 0.77 at batch 256)."""
    layers = [m for d_in, d_out in itertools.pairwise(widths)
              for m in (nn.Linear(d_in, d_out), nn.ReLU())]
    net, g = nn.Sequential(*layers), gen(seed)
    rows = []
    with torch.no_grad():
        for _ in range(networks):
            init_model_(net, scheme, generator=g, **params)
            for m in net[::2]:
                m.weight.mul_(scale)
            x = torch.randn(batch, widths[0], generator=g)
            rows.append(torch.linalg.vector_norm(net(x).double(), dim=1)
                        / torch.linalg.vector_norm(x.double(), dim=1))
    return torch.stack(rows).numpy()


def _t_statistic(ratios, s, target):
    """t of E[ratio^s] = target from the iid per-network means."""
    means = (ratios ** s).mean(axis=1)
    return (means.mean() - target) / (means.std(ddof=1) / math.sqrt(means.size))


DEEP = [64] * 21                             # depth 20, width 64


@pytest.fixture
def one_thread():
    """Batches of 16 x 64 gain nothing from threads, and on a loaded machine the threads'
    synchronization dominates (measured: 160 ms vs 0.2 ms per forward of DEEP)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_deep_mlp_preserves_fractional_moment(one_thread):
    """E||x_20||^s = ||x_0||^s at the fractional-moment sigma (s = 1, 0.5); negative
    controls: sigma x 1.05 (E = 1.05^20 = 2.65) and He's s = 2 sigma judged at s = 0.5
    (E = (sigma_He / sigma_0.5)^10 = 0.862) must be rejected."""
    t_crit = stats.t.isf(ALPHA / 2, 199)
    frac1 = _norm_ratios(DEEP, "fractional-moment", 200, 16, seed=10, s=1.0)
    assert abs(_t_statistic(frac1, 1.0, 1.0)) < t_crit
    frac_half = _norm_ratios(DEEP, "fractional-moment", 200, 16, seed=11, s=0.5)
    assert abs(_t_statistic(frac_half, 0.5, 1.0)) < t_crit

    too_wide = _norm_ratios(DEEP, "fractional-moment", 200, 16, seed=12, scale=1.05, s=1.0)
    assert abs(_t_statistic(too_wide, 1.0, 1.0)) > t_crit
    assert abs(_t_statistic(too_wide, 1.0, 1.05 ** 20)) < t_crit
    he = _norm_ratios(DEEP, "kaiming", 200, 16, seed=13)
    assert abs(_t_statistic(he, 0.5, 1.0)) > t_crit
    predicted = (math.sqrt(2 / 64) / critical_sigma(0.5, 64)) ** 10
    assert abs(_t_statistic(he, 0.5, predicted)) < t_crit


def test_mode_preserves_the_stated_moment(one_thread):
    """Widths 16 -> 96 -> 24 -> 40: "fan_out" keeps E||x||^s, "fan_in" keeps
    E[(||x|| / sqrt(d))^s]; each must be rejected under the other's criterion."""
    widths, s = [16, 96, 24, 40], 1.0
    per_neuron_target = (widths[-1] / widths[0]) ** (s / 2)
    t_crit = stats.t.isf(ALPHA / 2, 399)
    fan_out = _norm_ratios(widths, "fractional-moment", 400, 16, seed=20, s=s, mode="fan_out")
    fan_in = _norm_ratios(widths, "fractional-moment", 400, 16, seed=21, s=s, mode="fan_in")
    assert abs(_t_statistic(fan_out, s, 1.0)) < t_crit
    assert abs(_t_statistic(fan_in, s, per_neuron_target)) < t_crit
    assert abs(_t_statistic(fan_out, s, per_neuron_target)) > t_crit
    assert abs(_t_statistic(fan_in, s, 1.0)) > t_crit


def test_conv_feature_map_norm_is_the_stated_approximation(one_thread):
    """Conv2d 16 -> 16, 3 x 3, 8 x 8 circular padding, ReLU, white-noise input, "fan_out"
    (the whole map's norm).  s = 2 is exact: E||y||^2 = sigma^2 fan_out ||x||^2 / 2.  At
    s = 1 the receptive-field formula is not: the map's norm is more concentrated than that
    of a dense fan_in -> fan_out layer, so its sigma (He x 1.0044) overshoots and
    E||y|| / ||x|| = 1.0032 +- 0.0003 (4000 draws), which this check must detect."""
    shape, t_crit = (16, 16, 3, 3), stats.t.isf(ALPHA / 2, 1999)
    conv = nn.Conv2d(16, 16, 3, padding=1, padding_mode="circular", bias=False).double()
    g, rows = gen(30), []
    with torch.no_grad():
        for _ in range(2000):
            fractional_moment_normal_(conv.weight, s=1.0, mode="fan_out", generator=g)
            x = torch.randn(4, 16, 8, 8, generator=g, dtype=D)
            rows.append(torch.relu(conv(x)).flatten(1).norm(dim=1) / x.flatten(1).norm(dim=1))
    ratios = torch.stack(rows).numpy()
    he_over_formula = math.sqrt(2 / 144) / fractional_moment_std(shape, 1.0, mode="fan_out")
    assert abs(_t_statistic(ratios * he_over_formula, 2.0, 1.0)) < t_crit
    assert _t_statistic(ratios, 1.0, 1.0) > t_crit
    assert abs(_t_statistic(ratios, 1.0, 1.0032)) < t_crit


# --------------------------------------------------------------------------- validation
@pytest.mark.parametrize("call, match", [
    (lambda: fractional_moment_std((5,)), "fewer than 2 dimensions"),
    (lambda: fractional_moment_normal_(torch.empty(5)), "fewer than 2 dimensions"),
    (lambda: fractional_moment_std((0, 5)), "zero-sized"),
    (lambda: fractional_moment_std((5, True)), "shape"),
    (lambda: fractional_moment_std((5, -1)), "shape"),
    (lambda: fractional_moment_std(5), "shape"),
    (lambda: fractional_moment_std((5, 5), mode="fan_avg"), "mode"),
    (lambda: fractional_moment_std((5, 5), s=0.0), "s must"),
    (lambda: fractional_moment_std((5, 5), s=float("nan")), "s must"),
    (lambda: fractional_moment_std((5, 5), s=[1.0, 2.0]), "s must be a single number"),
    (lambda: fractional_moment_std((5, 5), a=1.5), "a must"),
    (lambda: fractional_moment_normal_(np.zeros((5, 5))), "torch.Tensor"),
    (lambda: hessian_std((5, 5), a=-0.1), "a must"),
    (lambda: hessian_std((5, 5), method="bogus"), "method"),
    (lambda: hessian_std((300, 200), method="exact"), "tracy-widom"),
    (lambda: hessian_std((20, 6), a=0.3, method="exact"), "tracy-widom"),
    (lambda: init_model_(nn.Linear(3, 3), "he"), "scheme"),
    (lambda: init_model_(nn.Linear(3, 3), "hessian", s=1.0), "takes the parameters"),
    (lambda: init_model_(nn.Linear(3, 3), "xavier", gain=0.0), "gain"),
    (lambda: init_model_(nn.Sequential(nn.ReLU())), "no nn.Linear"),
    (lambda: init_model_(lambda x: x), "nn.Module"),
    (lambda: init_model_(nn.LazyLinear(4)), "lazy"),
])
def test_invalid_arguments_raise(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_arguments_checked_before_anything_changes():
    net = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 300), nn.Linear(300, 200))
    before = [p.detach().clone() for p in net.parameters()]
    with pytest.raises(ValueError, match="min\\(d_in, d_out\\) <= 128"):
        init_model_(net, "hessian", method="exact")
    assert all(torch.equal(p, q) for p, q in zip(net.parameters(), before))


@pytest.mark.parametrize("fill", [fractional_moment_normal_, hessian_normal_])
def test_empty_tensor_warns_like_torch(fill):
    w = torch.empty(0, 5)
    with pytest.warns(UserWarning, match="zero-element tensors is a no-op"):
        assert fill(w) is w
    with pytest.raises(ValueError, match="mode|method"):     # arguments are still checked
        fill(w, **({"mode": "x"} if fill is fractional_moment_normal_ else {"method": "x"}))


# --------------------------------------------------------------------------- any activation
def test_elementwise_activation_stds_are_the_library_functions():
    """GELU / SiLU / ELU / Tanh layers: the fractional-moment std is the exact finite-width
    moment_preserving_sigma at the input norm rms sqrt(fan_in) (fan_out: the norm; fan_in:
    the per-unit target, the norm target at rms sqrt(fan_out) times sqrt(fan_out / fan_in)),
    and "kaiming" / "gain" use the exact mean-field gain, not torch's calculate_gain."""
    from initmath.finite_width import moment_preserving_sigma
    from initmath.mean_field import gain

    model = nn.Sequential(nn.Linear(12, 20), nn.GELU(), nn.Linear(20, 20), nn.SiLU(),
                          nn.Linear(20, 9), nn.ELU(alpha=0.5), nn.Linear(9, 16), nn.Tanh())
    phis = ["gelu", "silu", activation("elu", alpha=0.5), "tanh"]
    shapes = [(20, 12), (20, 20), (9, 20), (16, 9)]
    for mode, rms, s in [("fan_out", 0.6, 1.5), ("fan_in", 0.3, 4.0)]:
        report = init_model_(model, s=s, mode=mode, input_rms=rms)
        assert [r.activation for r in report] == [
            "GELU(approximate='none')", "SiLU", "ELU(alpha=0.5)", "Tanh"]
        for record, phi, (fan_out, fan_in) in zip(report, phis, shapes):
            r = rms * math.sqrt(fan_in)
            target = rms * math.sqrt(fan_out if mode == "fan_in" else fan_in)
            expected = float(moment_preserving_sigma(s, fan_out, phi, r=target)) * target / r
            assert record.std == expected
            assert record.a is None
            assert record.moment_factor == pytest.approx(1, rel=1e-12)
    for scheme in ("kaiming", "gain"):
        report = init_model_(model, scheme, mode="fan_out")
        for record, phi, (fan_out, _) in zip(report, phis, shapes):
            assert record.std == float(gain(phi)) / math.sqrt(fan_out)
    tanh = init_model_(model, "gain")[3]
    assert tanh.std == pytest.approx(1.5925374197228 / 3, rel=1e-12)
    assert abs(tanh.std * 3 - nn.init.calculate_gain("tanh")) > 0.07    # torch's 5/3


def test_gain_moment_factor_is_the_variance_map():
    """"gain" keeps the pre-activation variance 1 (the factor is taken at the input norm
    1 / std), so its factor at s = 2 is 1 at any width, in both modes; ReLU's sigma forced
    on a GELU / tanh / SELU layer (override_a=0) has the factor 2 E phi(z)^2, the
    mean-field length map at q = 1, sigma_w^2 = 2 (an independent route)."""
    from initmath.mean_field import variance_map
    net = nn.Sequential(nn.Linear(24, 24), nn.GELU(), nn.Linear(24, 24), nn.ReLU(),
                        nn.Linear(24, 24), nn.Tanh(), nn.Linear(24, 24), nn.SELU(),
                        nn.Linear(24, 5), nn.GELU(), nn.Linear(5, 7))
    for scheme in ("gain", "kaiming"):
        for mode in ("fan_in", "fan_out"):
            for record in init_model_(net, scheme, mode=mode):
                assert record.moment_factor == pytest.approx(1, rel=1e-12)
    forced = init_model_(net, "kaiming", override_a=0.0)
    for record, name in zip(forced, ["gelu", "relu", "tanh", "selu"]):
        assert record.std == pytest.approx(math.sqrt(2 / 24), rel=1e-15)   # torch's
        assert record.moment_factor == pytest.approx(float(variance_map(1.0, name, 2.0)),
                                                     rel=1e-12)
    assert forced[1].moment_factor == pytest.approx(1, rel=1e-13)


def test_piecewise_linear_layers_keep_their_exact_route():
    """ReLU / LeakyReLU / PReLU layers get exactly (==) the stds they always had, whatever
    input_rms (the moment map of a homogeneous phi depends on sigma alone), and these agree
    with the general route, moment_preserving_sigma, to 1e-12."""
    from initmath.finite_width import moment_preserving_sigma

    net = nn.Sequential(nn.Linear(10, 30), nn.ReLU(), nn.Linear(30, 14), nn.LeakyReLU(0.2),
                        nn.Linear(14, 14), nn.PReLU(), nn.Linear(14, 5))
    slopes, shapes = [0.0, 0.2, 0.25, 1.0], [(30, 10), (14, 30), (14, 14), (5, 14)]
    for s, mode in [(1.0, "fan_in"), (0.5, "fan_out"), (2.0, "fan_in")]:
        general = [float(moment_preserving_sigma(s, fan_out, activation(
            "leakyrelu", negative_slope=slope), r=3.0)) * (
                math.sqrt(fan_out / fan_in) if mode == "fan_in" else 1)
            for slope, (fan_out, fan_in) in zip(slopes, shapes)]
        for rms in (1.0, 0.25):
            report = init_model_(net, s=s, mode=mode, input_rms=rms, warn=False)
            for record, slope, other in zip(report, slopes, general):
                assert record.std == fractional_moment_std(record.shape, s, slope, mode)
                assert record.a == slope
                assert record.std == pytest.approx(other, rel=1e-12)
                assert record.moment_factor == pytest.approx(1, rel=1e-12)
    assert report[2].activation == "PReLU(negative_slope=0.25)"
    assert [p.name for p in report.skipped] == ["5.weight"]          # PReLU's own slope


def test_what_still_cannot_be_initialized():
    """A bounded activation at an unreachable input scale and "hessian" for GELU: listed
    with the reason, and a warning.  Now the layer before the LayerNorm gets the
    identity std (kind "before-norm") and the LayerNorm weight 1, bias 0."""
    net = nn.Sequential(nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 8), nn.GELU(),
                        nn.Linear(8, 8), nn.LayerNorm(8), nn.Softmax(dim=-1))
    with pytest.warns(itorch.InitCoverageWarning, match="left 2 parameter"):
        report = init_model_(net)
    assert [(r.name, r.kind) for r in report] == [("2", "layer"), ("4", "before-norm"),
                                                  ("5", "norm")]
    assert report[1].std == fractional_moment_std((8, 8), 1.0, 1.0)
    reasons = {p.name: p.reason for p in report.skipped}
    assert "Tanh" in reasons["0.weight"] and "input_rms" in reasons["0.weight"]
    assert [r.name for r in init_model_(net, input_rms=0.5, warn=False)] == ["0", "2", "4",
                                                                             "5"]
    hessian = init_model_(net, "hessian", warn=False)
    assert "no hessian scale" in {p.name: p.reason for p in hessian.skipped}["2.weight"]
    with pytest.raises(ValueError, match="input_rms must"):
        init_model_(net, input_rms=0.0)
    with pytest.raises(ValueError, match=r"input_rms must be .* \[1e-06, 1e\+06\]"):
        init_model_(net, input_rms=1e7)
    with pytest.raises(ValueError, match="model layer '0': s must"):
        init_model_(net, s=200.0)                         # Tanh, GELU: s <= 100
    assert init_model_(nn.Sequential(nn.Linear(3, 3), nn.ReLU()), s=200.0)[0].moment_factor \
        is None                                           # ReLU: std exists, moment_map not


def _gelu_layer_ratios(width, depth, s, networks, batch, seed, **params):
    """||x_l|| / ||x_0|| for l = 1..depth, shape (networks, batch, depth), of GELU MLPs
    initialized by init_model_, inputs of norm sqrt(width) (unit mean square, the scale the
    std is computed at); each network (row) is fresh, so rows are iid."""
    net = nn.Sequential(*[m for _ in range(depth) for m in (nn.Linear(width, width),
                                                            nn.GELU())])
    g, rows = gen(seed), []
    with torch.no_grad():
        for _ in range(networks):
            report = init_model_(net, generator=g, s=s, **params)
            x = torch.randn(batch, width, generator=g, dtype=D)
            x = x / x.norm(dim=1, keepdim=True) * math.sqrt(width)
            norms = []
            for layer in net[::2]:
                x = nn.functional.gelu(x @ layer.weight.double().T)
                norms.append(x.norm(dim=1) / math.sqrt(width))
            rows.append(torch.stack(norms, 1))
    return torch.stack(rows).numpy(), report


def test_gelu_mlp_keeps_the_moment(one_thread):
    """GELU, width 32, depth 10, s = 1: E||x_l||^s = ||x_0||^s at layer 1 (exact at the
    input scale) and still at layers 2, 3 within the standard error (400 networks x 16
    inputs).  Negative control: ReLU's sigma (override_a=0) on the GELU layers is rejected
    at layer 1, where it matches its own predicted moment factor (0.959)."""
    t_crit = stats.t.isf(ALPHA / 2, 399)
    ratios, report = _gelu_layer_ratios(32, 10, 1.0, 400, 16, seed=40)
    assert all(r.moment_factor == pytest.approx(1, rel=1e-12) for r in report)
    for layer in range(3):
        assert abs(_t_statistic(ratios[..., layer], 1.0, 1.0)) < t_crit
    relu, report = _gelu_layer_ratios(32, 10, 1.0, 400, 16, seed=41, override_a=0.0)
    predicted = report[0].moment_factor
    assert predicted == pytest.approx(0.959068, abs=1e-6)
    assert abs(_t_statistic(relu[..., 0], 1.0, 1.0)) > t_crit
    assert abs(_t_statistic(relu[..., 0], 1.0, predicted)) < t_crit

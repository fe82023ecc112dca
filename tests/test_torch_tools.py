"""Tests for initmath.torch_tools against dense Jacobians / Hessians on small models."""
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")
import itertools

from torch import nn

from initmath.nn import (
    factorized_hessian_form,
    hessian_calibrate_,
    jacobian_spectral_norm,
    layer_hessian_norm,
)

D = torch.float64


def mlp(act, widths=(6, 9, 7, 4), bias=True, seed=0):
    torch.manual_seed(seed)
    layers = []
    for i, (a, b) in enumerate(itertools.pairwise(widths)):
        layers.append(nn.Linear(a, b, bias=bias))
        if i < len(widths) - 2:
            layers.append(act())
    return nn.Sequential(*layers).to(D)


def dense_jacobian_norm(f, x):
    J = torch.autograd.functional.jacobian(f, x).reshape(f(x).numel(), x.numel())
    return float(torch.linalg.matrix_norm(J, ord=2))


def gen(seed=1):
    return torch.Generator().manual_seed(seed)


def test_import_initmath_does_not_import_torch():
    code = "import sys, initmath; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "False"


@pytest.mark.parametrize("act", [nn.ReLU, nn.Tanh, nn.GELU])
@pytest.mark.parametrize("batch", [1, 5])
def test_jacobian_norm_matches_dense(act, batch):
    net = mlp(act)
    torch.manual_seed(3)
    x = torch.randn(batch, 6, dtype=D)
    est = jacobian_spectral_norm(net, x, iters=200, tol=1e-12, generator=gen())
    exact = dense_jacobian_norm(net, x)
    assert est.converged
    assert abs(est.norm - exact) <= 1e-5 * exact
    # batch-flattened operator is block diagonal: its norm is the per-sample maximum
    per_sample = max(dense_jacobian_norm(net, x[i:i + 1]) for i in range(batch))
    assert abs(est.norm - per_sample) <= 1e-5 * per_sample


def test_jacobian_norm_float32_default_settings():
    net = mlp(nn.Tanh).float()
    x = torch.randn(8, 6)
    est = jacobian_spectral_norm(net, x, generator=gen())
    exact = dense_jacobian_norm(net, x)
    assert abs(est.norm - exact) <= 1e-4 * exact
    assert est.iterations <= 50


def test_jacobian_norm_no_grad_side_effects():
    net = mlp(nn.ReLU)
    x = torch.randn(4, 6, dtype=D)
    with torch.no_grad():
        est = jacobian_spectral_norm(net, x, generator=gen())
    assert est.norm > 0
    assert all(p.grad is None for p in net.parameters())
    assert not x.requires_grad


def test_jacobian_norm_linear_map_exact():
    torch.manual_seed(0)
    W = torch.randn(5, 3, dtype=D)
    est = jacobian_spectral_norm(lambda z: z @ W.T, torch.randn(2, 3, dtype=D))
    assert est.norm == pytest.approx(float(torch.linalg.matrix_norm(W, ord=2)), rel=1e-10)


def test_jacobian_norm_constant_map_is_zero():
    assert jacobian_spectral_norm(lambda z: torch.ones(3), torch.randn(2, 2)).norm == 0.0


@pytest.mark.parametrize("bad", [dict(iters=0), dict(iters=1.5), dict(tol=-1.0),
                                 dict(tol=float("nan"))])
def test_jacobian_norm_bad_arguments(bad):
    with pytest.raises(ValueError):
        jacobian_spectral_norm(nn.Identity(), torch.randn(2, 2), **bad)


def test_jacobian_norm_bad_input():
    with pytest.raises(ValueError, match="floating-point"):
        jacobian_spectral_norm(nn.Identity(), torch.ones(2, 2, dtype=torch.long))
    with pytest.raises(ValueError):
        jacobian_spectral_norm(nn.Identity(), [1.0, 2.0])


def dense_layer_hessian(model, loss_fn, x, t, layer_name):
    w0 = dict(model.named_parameters())[layer_name].detach()

    def loss(w):
        out = torch.func.functional_call(model, {layer_name: w}, (x,))
        return loss_fn(out, t)

    H = torch.autograd.functional.hessian(loss, w0)
    return H.reshape(w0.numel(), w0.numel())


@pytest.mark.parametrize("act", [nn.ReLU, nn.Tanh])
@pytest.mark.parametrize("which", [0, 2, 4])
@pytest.mark.parametrize("loss_kind", ["mse", "ce"])
def test_layer_hessian_norm_matches_dense(act, which, loss_kind):
    net = mlp(act)
    torch.manual_seed(5)
    x = torch.randn(7, 6, dtype=D)
    if loss_kind == "mse":
        t = torch.randn(7, 4, dtype=D)
        loss_fn = nn.functional.mse_loss
    else:
        t = torch.randint(0, 4, (7,))
        loss_fn = nn.functional.cross_entropy
    H = dense_layer_hessian(net, loss_fn, x, t, f"{which}.weight")
    exact = float(torch.linalg.eigvalsh(H).abs().max())
    est = layer_hessian_norm(net, loss_fn, (x, t), net[which], iters=200, tol=1e-12,
                             generator=gen())
    assert est.converged
    assert abs(est.norm - exact) <= 1e-8 * exact
    assert all(p.grad is None for p in net.parameters())


def test_layer_hessian_norm_indefinite():
    # saddle: L = w1 * w2 has Hessian [[0, 1], [1, 0]], eigenvalues +-1
    lin = nn.Linear(2, 1, bias=False).to(D)
    loss_fn = lambda out, t: (lin.weight[0, 0] * lin.weight[0, 1]) + 0 * out.sum()
    est = layer_hessian_norm(lin, loss_fn, (torch.ones(1, 2, dtype=D), None), lin)
    assert est.norm == pytest.approx(1.0, rel=1e-12)


def test_layer_hessian_norm_restores_requires_grad():
    net = mlp(nn.Tanh)
    net[0].weight.requires_grad_(False)
    x, t = torch.randn(3, 6, dtype=D), torch.randn(3, 4, dtype=D)
    est = layer_hessian_norm(net, nn.functional.mse_loss, (x, t), net[0])
    assert est.norm > 0
    assert net[0].weight.requires_grad is False


def test_layer_hessian_norm_bad_input():
    net = mlp(nn.Tanh)
    x, t = torch.randn(3, 6, dtype=D), torch.randn(3, 4, dtype=D)
    with pytest.raises(ValueError, match="weight"):
        layer_hessian_norm(net, nn.functional.mse_loss, (x, t), net[1])
    with pytest.raises(ValueError, match="submodule"):
        layer_hessian_norm(net, nn.functional.mse_loss, (x, t), nn.Linear(6, 9))
    with pytest.raises(ValueError, match="pair"):
        layer_hessian_norm(net, nn.functional.mse_loss, x, net[0])
    with pytest.raises(ValueError, match="scalar"):
        layer_hessian_norm(net, lambda o, t: (o - t) ** 2, (x, t), net[0])


def layer_norms(model, x):
    """Dense Jacobian norm of each Linear->activation block at its actual input."""
    from initmath.nn import layer_maps
    prefix, maps = layer_maps(model)
    h = prefix(x)
    out = []
    for _, f in maps:
        out.append(dense_jacobian_norm(f, h))
        h = f(h).detach()
    return out


@pytest.mark.parametrize("act", [nn.ReLU, nn.Tanh])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("target", [1.0, 0.5])
def test_hessian_calibrate(act, bias, target):
    net = mlp(act, widths=(6, 12, 10, 8, 3), bias=bias)
    torch.manual_seed(7)
    x = torch.randn(5, 6, dtype=D)
    before_w = [m.weight.detach().clone() for m in net if isinstance(m, nn.Linear)]
    before_bias = [m.bias.detach().clone() for m in net if isinstance(m, nn.Linear) and bias]
    y0 = net(x).detach()
    report = hessian_calibrate_(net, x, target=target, generator=gen())
    assert [r[0] for r in report] == ["0", "2", "4", "6"]
    for norm in layer_norms(net, x):
        assert abs(norm - target) <= 1e-3 * target
    linears = [m for m in net if isinstance(m, nn.Linear)]
    for (_name, before, scale, after), m, w0 in zip(report, linears, before_w):
        assert torch.allclose(m.weight, scale * w0, rtol=1e-12, atol=0)
        assert abs(after - target) <= 1e-5 * target
        assert before > 0 and scale > 0
    if bias:
        assert all(torch.equal(m.bias, b) for m, b in
                   zip(linears, before_bias))
    y1 = net(x).detach()
    if act is nn.ReLU and not bias:
        # positively homogeneous chain: output scales by the product of the scales
        prod = 1.0
        for *_, scale, _ in report:
            prod *= scale
        assert torch.allclose(y1, prod * y0, rtol=1e-10, atol=1e-12)
        for _name, before, scale, _after in report:
            assert scale == pytest.approx(target / before, rel=1e-10)
    assert not torch.allclose(y1, y0)
    assert all(p.grad is None and p.is_leaf and p.requires_grad for p in net.parameters())


def test_hessian_calibrate_nested_and_prefix():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Sequential(nn.Linear(12, 8), nn.Tanh()),
                        nn.Sequential(nn.Linear(8, 3))).to(D)
    x = torch.randn(4, 3, 4, dtype=D)
    report = hessian_calibrate_(net, x)
    assert [r[0] for r in report] == ["1.0", "2.0"]
    assert all(abs(r[3] - 1.0) <= 1e-5 for r in report)


def test_hessian_calibrate_bad_input():
    net = mlp(nn.ReLU)
    x = torch.randn(3, 6, dtype=D)
    with pytest.raises(ValueError, match="Sequential"):
        hessian_calibrate_(nn.Linear(6, 2), x)
    with pytest.raises(ValueError, match="no nn.Linear"):
        hessian_calibrate_(nn.Sequential(nn.ReLU()), x)
    for bad in (0.0, -1.0, float("inf"), True):
        with pytest.raises(ValueError, match="target"):
            hessian_calibrate_(net, x, target=bad)
    dead = nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 2)).to(D)
    with torch.no_grad():
        dead[0].weight.zero_()
        dead[0].bias.fill_(-1.0)
    with pytest.raises(ValueError, match="zero Jacobian"):
        hessian_calibrate_(dead, x)


def autograd_form(model, loss_fn, x, t, layer_name, g):
    w0 = dict(model.named_parameters())[layer_name].detach()

    def loss(w):
        return loss_fn(torch.func.functional_call(model, {layer_name: w}, (x,)), t)

    return float(torch.autograd.functional.vhp(loss, w0, g)[1].mul(g).sum())


@pytest.mark.parametrize("act", [nn.ReLU, nn.LeakyReLU])
@pytest.mark.parametrize("which", [0, 2, 4])
@pytest.mark.parametrize("loss_kind", ["mse", "ce"])
def test_factorized_form_exact_for_piecewise_linear(act, which, loss_kind):
    net = mlp(act)
    torch.manual_seed(11)
    x = torch.randn(9, 6, dtype=D)
    if loss_kind == "mse":
        t, loss_fn = torch.randn(9, 4, dtype=D), nn.functional.mse_loss
    else:
        t, loss_fn = torch.randint(0, 4, (9,)), nn.functional.cross_entropy
    for seed in range(3):
        g = torch.randn(net[which].weight.shape, dtype=D, generator=gen(seed))
        form = float(factorized_hessian_form(net, loss_fn, (x, t), net[which], g))
        exact = autograd_form(net, loss_fn, x, t, f"{which}.weight", g)
        assert form == pytest.approx(exact, rel=1e-10, abs=1e-14)


def _tanh_gap(which, scale, bias):
    net = mlp(nn.Tanh, bias=bias)
    with torch.no_grad():
        for m in net:
            if isinstance(m, nn.Linear):
                m.weight.mul_(scale)
                if bias:
                    m.bias.mul_(scale)
    torch.manual_seed(11)
    x, t = torch.randn(9, 6, dtype=D), torch.randn(9, 4, dtype=D)
    g = torch.randn(net[which].weight.shape, dtype=D, generator=gen(0))
    form = float(factorized_hessian_form(net, nn.functional.mse_loss, (x, t), net[which], g))
    exact = autograd_form(net, nn.functional.mse_loss, x, t, f"{which}.weight", g)
    return abs(form - exact) / abs(exact)


def test_factorized_form_tanh_only_approximate():
    """For tanh the neglected term grad_z L . D^2_w z [g, g] is nonzero whenever a tanh
    follows the layer; for the last layer (nothing nonlinear after it) the form is exact."""
    for bias in (True, False):
        assert _tanh_gap(4, 1.0, bias) < 1e-12          # last layer: exact
        assert _tanh_gap(0, 1.0, bias) > 1e-2           # first layer at default init
        assert _tanh_gap(2, 1.0, bias) > 1e-3


def test_factorized_form_tanh_first_layer_gap_grows_as_weights_shrink():
    """Counter to the paper's Remark 2: shrinking all weights (and biases) by s makes the
    neglected term ~ s^3 but the Gauss-Newton term ~ s^4 for the first layer of a
    3-layer tanh net (the network input is not small), so the *relative* gap grows."""
    for bias in (True, False):
        gaps = [_tanh_gap(0, s, bias) for s in (1.0, 0.3, 0.1)]
        assert gaps[0] < gaps[1] < gaps[2]
        assert gaps[2] > 0.8


def test_factorized_form_bad_input():
    net = mlp(nn.ReLU)
    x, t = torch.randn(3, 6, dtype=D), torch.randn(3, 4, dtype=D)
    with pytest.raises(ValueError, match="shape"):
        factorized_hessian_form(net, nn.functional.mse_loss, (x, t), net[0],
                                torch.zeros(2, 2, dtype=D))
    with pytest.raises(ValueError, match="nn.Linear"):
        factorized_hessian_form(net, nn.functional.mse_loss, (x, t), nn.Conv1d(1, 1, 1),
                                torch.zeros(1, 1, 1))
    with pytest.raises(ValueError, match="submodule"):
        factorized_hessian_form(net, nn.functional.mse_loss, (x, t), nn.Linear(6, 9),
                                torch.zeros(9, 6))


def test_hessian_scales_quadratically_in_other_layers_jacobians():
    """Theorem 2 as printed bounds ||H_{w^(k)}|| by a product of the *first* powers of the
    other layers' Jacobian norms; since v = B A g F is linear in each of them and
    H[g, g] = v^T H_z v, the Hessian actually scales with their *squares*.  Check on a
    bias-free ReLU net: doubling one other layer's weight multiplies ||H|| by exactly 4."""
    net = mlp(nn.ReLU, bias=False)
    torch.manual_seed(2)
    x, t = torch.randn(5, 6, dtype=D), torch.randn(5, 4, dtype=D)
    kw = dict(iters=200, tol=1e-12, generator=gen())
    h0 = layer_hessian_norm(net, nn.functional.mse_loss, (x, t), net[2], **kw).norm
    with torch.no_grad():
        net[4].weight.mul_(2.0)
    h1 = layer_hessian_norm(net, nn.functional.mse_loss, (x, t), net[2], **kw).norm
    assert h1 / h0 == pytest.approx(4.0, rel=1e-8)


def test_generator_reproducible():
    net = mlp(nn.Tanh).float()
    x = torch.randn(16, 6)
    a = jacobian_spectral_norm(net, x, iters=3, generator=gen(5))
    b = jacobian_spectral_norm(net, x, iters=3, generator=gen(5))
    assert a == b


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    net = mlp(nn.Tanh)
    x, t = torch.randn(4, 6, dtype=D), torch.randn(4, 4, dtype=D)
    kw = dict(iters=200, tol=1e-12, generator=gen())
    cpu = jacobian_spectral_norm(net, x, **kw).norm
    hcpu = layer_hessian_norm(net, nn.functional.mse_loss, (x, t), net[2], **kw).norm
    net.cuda()
    assert jacobian_spectral_norm(net, x.cuda(), **kw).norm == pytest.approx(cpu, rel=1e-8)
    hgpu = layer_hessian_norm(net, nn.functional.mse_loss, (x.cuda(), t.cuda()), net[2], **kw)
    assert hgpu.norm == pytest.approx(hcpu, rel=1e-8)
    report = hessian_calibrate_(net, x.cuda(), generator=gen())
    assert all(abs(r[3] - 1.0) <= 1e-5 for r in report)
    g = torch.randn(9, 6, dtype=D, device="cuda")
    assert factorized_hessian_form(net, nn.functional.mse_loss, (x.cuda(), t.cuda()), net[0],
                                   g).device.type == "cuda"

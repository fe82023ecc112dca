"""The AnyInit comparison harness (benchmarks/compare_anyinit.py, benchmarks/_models.py): the
model zoo builds with the right shapes, and the Monte Carlo estimator is unbiased where the
answer is known in closed form, with a negative control.  The AnyInit part is skipped when
anyinit is not installed (``pip install "initmath[compare]"``)."""
import math
import pathlib
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

BENCHMARKS = pathlib.Path(__file__).resolve().parents[1] / "benchmarks"
if not (BENCHMARKS / "compare_anyinit.py").is_file():
    pytest.skip("needs the repository checkout (benchmarks/)", allow_module_level=True)
pytestmark = pytest.mark.repository
sys.path.insert(0, str(BENCHMARKS))
import compare_anyinit as harness
from _models import ModelSpec, zoo

Z = 4.0      # |z| below which a Monte Carlo mean agrees with a prediction (fixed seeds)


def _generator(seed):
    return torch.Generator().manual_seed(seed)


def test_zoo_lists_every_model():
    names = [spec.name for spec in zoo()]
    assert len(names) == len(set(names)) == 3 * 4 * 3 + 2
    assert {"mlp-gelu-d1024-L100", "resnet-w8-b3", "transformer-w32-b1"} <= set(names)
    assert [spec.name for spec in zoo(quick=True)][:4] == [
        "mlp-relu-d16-L10", "mlp-relu-d16-L50", "mlp-relu-d64-L10", "mlp-relu-d64-L50"]


@pytest.mark.parametrize("spec", zoo(quick=True), ids=lambda spec: spec.name)
def test_zoo_models_build_deterministically_with_the_right_shapes(spec):
    model = spec.build(seed=3)
    again = spec.build(seed=3)
    for (name, p), (_, q) in zip(model.state_dict().items(), again.state_dict().items()):
        assert torch.equal(p, q), name
    with torch.no_grad():
        y = model(torch.randn(2, *spec.input_shape, generator=_generator(0)))
    assert y.shape == (2, *spec.output_shape)
    if spec.kind == "mlp":
        linears = [m for m in model if isinstance(m, torch.nn.Linear)]
        assert len(linears) == spec.depth
        assert all(m.bias is None and m.weight.shape == (spec.width, spec.width)
                   for m in linears)


def test_zoo_rejects_an_unknown_kind():
    with pytest.raises(ValueError, match="kind must be"):
        ModelSpec("rnn", 8, 1).build()


def test_monte_carlo_of_a_linear_mlp_is_unbiased_with_a_negative_control():
    # Linear, x_0 = (1, ..., 1): E||x_L||^2 / d = (sigma^2 d)^L exactly.
    spec, n = ModelSpec("mlp", 8, 3, "identity"), 4000
    sigma = math.sqrt(1.2 / spec.width)
    exact = 1.2 ** spec.depth
    right = harness.statistics(harness.monte_carlo_mlp(spec, [sigma] * 3, n, _generator(1)))
    assert abs(right["mean"][-1] - exact) < Z * right["se"][-1]
    # Negative control: weights 5% too wide, E = 1.05^6 (sigma^2 d)^L; the z-test rejects.
    wrong = harness.statistics(
        harness.monte_carlo_mlp(spec, [1.05 * sigma] * 3, n, _generator(1)))
    assert abs(wrong["mean"][-1] - exact) > 2 * Z * wrong["se"][-1]


def test_initmath_prediction_of_a_linear_mlp_is_the_closed_form():
    # I_1(2, d) = d and I_1(4, d) = d (d + 2): mean (sigma^2 d)^l, second moment
    # (sigma^4 d (d + 2))^l.
    spec, stds = ModelSpec("mlp", 8, 4, "identity"), [0.3, 0.4, 0.5, 0.35]
    exact = harness.initmath_prediction(spec, stds)
    variance = np.array(stds) ** 2
    mean = np.cumprod(variance * 8)
    second = np.cumprod(variance ** 2 * 8 * 10)
    np.testing.assert_allclose(exact["mean"], mean, rtol=1e-13)
    np.testing.assert_allclose(exact["spread"], np.sqrt(second - mean ** 2), rtol=1e-12)


def test_relu_monte_carlo_agrees_with_initmath_at_every_layer():
    # Exact finite-width mean and spread against n = 20000 simulated ReLU networks, d = 16.
    spec, n = ModelSpec("mlp", 16, 5, "relu"), 20000
    stds = [math.sqrt(2 / 16), 0.3, 0.4, 0.35, math.sqrt(2 / 16)]
    exact = harness.initmath_prediction(spec, stds)
    mc = harness.statistics(harness.monte_carlo_mlp(spec, stds, n, _generator(2)))
    assert np.all(np.abs(mc["mean"] - exact["mean"]) < Z * mc["se"])
    np.testing.assert_allclose(mc["spread"], exact["spread"], rtol=0.15)
    assert np.all(mc["median"] < exact["mean"])            # right-skewed at finite width


def test_initmath_prediction_covers_mlps_of_any_activation_only():
    gelu = harness.initmath_prediction(ModelSpec("mlp", 16, 3, "gelu"), [0.3] * 3)
    assert len(gelu["mean"]) == 3 and np.all(np.asarray(gelu["spread"]) > 0)
    assert harness.initmath_prediction(ModelSpec("resnet", 8, 1), [0.3]) is None


def test_monte_carlo_model_measures_the_mean_square_at_each_tap():
    # A one-layer linear model through the generic (hook) path: E||W x||^2 / d = sigma^2 d.
    model = torch.nn.Sequential(torch.nn.Linear(8, 8, bias=False), torch.nn.ReLU())
    samples = harness.monte_carlo_model(model, {"0.weight": 0.5}, ["0", None, "1"],
                                        torch.ones(8), 4000, _generator(4))
    mc = harness.statistics(samples)
    assert np.isnan(mc["mean"][1])
    assert abs(mc["mean"][0] - 0.25 * 8) < Z * mc["se"][0]
    assert abs(mc["mean"][2] - 0.25 * 8 / 2) < Z * mc["se"][2]


def test_anyinit_relu_mlp_row():
    pytest.importorskip("anyinit")
    spec = ModelSpec("mlp", 16, 3, "relu")
    row = harness.compare(spec, "analytic", 4000, torch.device("cpu"))
    np.testing.assert_allclose(row["std"], math.sqrt(2 / 16), rtol=1e-12)   # He init
    np.testing.assert_allclose(row["anyinit"], 1.0, rtol=1e-9)
    np.testing.assert_allclose(row["initmath_mean"], 1.0, rtol=1e-12)
    assert np.all(np.abs(row["z_initmath"]) < Z)
    assert "| mlp-relu-d16-L3 | analytic |" in harness.markdown([row])


def test_anyinit_taps_of_the_transformer_block():
    pytest.importorskip("anyinit")
    spec = ModelSpec("transformer", 32, 1)
    model, report, _, _ = harness.anyinit_run(spec, "analytic")
    taps = harness.anyinit_taps(spec, model, report)
    assert taps == ["0.ln1", None, "0.attn", "0.ln2", "0.mlp.1", "0.mlp.2"]
    assert set(harness.anyinit_stds(model, report)) == {
        "0.attn.in_proj_weight", "0.attn.out_proj.weight", "0.mlp.0.weight", "0.mlp.2.weight"}

"""Monte Carlo checks of init_model_'s per-layer predictions on real architectures
(verification.architectures): the simulator against closed forms, reproducibility of
the seeds, the coverage of the architectures, and a fast fixed-seed subset, negative
controls included."""
import functools
import math

import pytest

torch = pytest.importorskip("torch")

from _verification import assert_seeds_reproduce, generator

from verification import architectures, ok, run_check

CHECKS = {c.name: c for c in architectures.checks()}


def test_orthogonal_tokens_have_unit_mean_square_and_no_overlap():
    tokens = architectures.orthogonal_tokens(generator(0))[0].double()
    gram = tokens @ tokens.T / architectures.D_MODEL
    assert torch.allclose(gram, torch.eye(architectures.TOKENS, dtype=torch.float64),
                          atol=1e-5)


def test_redraw_matches_the_report_stds():
    """A redrawn network's weights have the report's stds (s.e. of a sample std of n
    normals: std / sqrt(2 n)), zero biases and unit norms."""
    model, report = architectures.report_for("transformer block")
    architectures.redraw_(model, report, generator(1))
    modules = dict(model.named_modules())
    for record in report:
        if record.kind == "norm":
            assert bool((modules[record.name].weight == 1).all())
            continue
        module = modules[record.name]
        weight = module.in_proj_weight if record.kind == "attention-in" else module.weight
        assert abs(float(weight.detach().std()) / record.std - 1) < 5 / math.sqrt(
            2 * weight.numel())


def test_linear_statistic_is_the_chi_square_mean():
    """The first layer of the residual MLP sees the input x of mean square 1, so its
    output's mean square is std^2 d chi2_d / d: mean std^2 d, exactly."""
    _, report = architectures.report_for("residual MLP d=16")
    record = next(r for r in report if r.name == "0.fc1")
    values = architectures.simulator("residual MLP d=16", "0.fc1")(generator(2), 3000)
    mean, error = float(values.mean()), float(values.std()) / math.sqrt(values.numel())
    assert abs(mean - record.std ** 2 * 16) < 5 * error
    # (the report was measured on a float32 batch of mean square 1 to ~1e-7)
    assert record.predicted == pytest.approx(record.std ** 2 * 16, rel=1e-6)


@pytest.mark.parametrize("name", ["transformer block: mean square of linear2",
                                  "ResNet-style CNN: mean square of head"])
def test_seeds_reproduce(name):
    assert_seeds_reproduce(CHECKS[name], 16)


def test_every_architecture_is_checked_and_controls_are_there():
    assert {c.params["model"] for c in CHECKS.values()} == set(architectures.MODELS)
    controls = [name for name, c in CHECKS.items() if c.negative_control]
    for topic in ("without branch scaling", "infinite-width", "uniform attention"):
        assert sum(topic in name for name in controls) == 1, topic


@functools.cache
def quick_result(name):
    return run_check(CHECKS[name], seed=0, quick=True)


FAST = ["residual MLP d=16: mean square of 4",
        "transformer block: mean square of self_attn.out_proj",
        "Embedding + LayerNorm: mean square of out"] + [
    name for name, c in CHECKS.items() if c.negative_control]


@pytest.mark.parametrize("name", FAST)
def test_quick_check_behaves_as_it_must(name):
    result = quick_result(name)
    assert ok(result), (result.verdict, result.z)

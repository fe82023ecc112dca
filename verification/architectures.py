"""Checks of initmath.nn.init_model_'s per-layer predictions on real architectures.

Each check builds a real torch model, initializes it once with ``init_model_`` (which
returns the stds and the predicted mean square per output coordinate, with its
finite-width spread), and then simulates fresh networks: a sample redraws every weight
from the report's stds (N(0, std^2) weights, zero biases, norms at weight 1 / bias 0,
embeddings N(0, std^2) with the padding row zero, Q/K/V thirds of the attention's
in_proj at their std), draws one fresh input of mean square exactly 1 per coordinate
(per token for the transformer, whose tokens are orthogonal: the attention
approximation's assumption), runs the real model and records, with a forward hook,
the mean square per coordinate of one module's output.  The statistic's mean is the
report's ``predicted``; second-moment checks use the statistic's square, whose mean is
predicted^2 + spread^2 (one input per network: the spread is the weight-randomness
spread of one input).

Models: a residual MLP with GELU branches (4 blocks, d = 16 and d = 256, alpha =
1/sqrt(4)); a pre-activation ResNet-style CNN (circular padding, BatchNorm in eval mode);
an nn.TransformerEncoderLayer (d_model 32, 4 heads, 16 tokens, ReLU feed-forward,
dropout 0, run in training mode so the hooks see the unfused path); an Embedding +
LayerNorm + GELU stack.

Negative controls: the residual MLP's prediction without branch scaling (alpha = 1), the
infinite-width (zero-spread) second moment at d = 16, and the attention approximation
replaced by uniform attention (sum_j P_ij^2 = 1/T).
"""
import math
import warnings

import torch
import torch.nn.functional as F
from torch import nn

from initmath.nn import InitCoverageWarning, init_model_

from .core import Check, quick_samples, samples_for

AREA = "architectures"
# The sample budgets detect this relative error of the mean (second moment: twice it).
_TARGET = 0.05
# Quick runs: at most this many samples a check (each a few small forwards); the negative
# controls twice as many (the infinite-width one differs by ~6 standard errors at 1024).
_QUICK_SAMPLES = 512
TOKENS, D_MODEL, HEADS = 16, 32, 4


class ResidualBlock(nn.Module):
    """x + fc2(gelu(fc1(x)))."""

    def __init__(self, width):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(width, width), nn.Linear(width, width)

    def forward(self, x):
        return x + self.fc2(F.gelu(self.fc1(x)))


def residual_mlp(width, blocks=4):
    return nn.Sequential(*[ResidualBlock(width) for _ in range(blocks)],
                         nn.Linear(width, 10))


class PreActBlock(nn.Module):
    """x + conv2(relu(bn2(conv1(relu(bn1(x)))))) (He et al. 2016, v2), circular padding."""

    def __init__(self, channels):
        super().__init__()
        self.bn1, self.bn2 = nn.BatchNorm2d(channels), nn.BatchNorm2d(channels)
        self.conv1, self.conv2 = (nn.Conv2d(channels, channels, 3, padding=1, bias=False,
                                            padding_mode="circular") for _ in range(2))

    def forward(self, x):
        return x + self.conv2(F.relu(self.bn2(self.conv1(F.relu(self.bn1(x))))))


class SmallResNet(nn.Module):
    def __init__(self, channels=8, size=8):
        super().__init__()
        self.stem = nn.Conv2d(3, channels, 3, padding=1, padding_mode="circular")
        self.blocks = nn.Sequential(PreActBlock(channels), PreActBlock(channels))
        self.head = nn.Linear(channels * size * size, 10)

    def forward(self, x):
        return self.head(torch.flatten(self.blocks(self.stem(x)), 1))


class EmbeddingStack(nn.Module):
    def __init__(self, vocabulary=50, width=32):
        super().__init__()
        self.embedding = nn.Embedding(vocabulary, width, padding_idx=0)
        self.norm = nn.LayerNorm(width)
        self.fc = nn.Linear(width, 64)
        self.out = nn.Linear(64, vocabulary)

    def forward(self, tokens):
        return self.out(F.gelu(self.fc(self.norm(self.embedding(tokens)))))


def transformer_block():
    return nn.TransformerEncoderLayer(D_MODEL, HEADS, 64, dropout=0.0, batch_first=True)


def orthogonal_tokens(generator, tokens=TOKENS, width=D_MODEL):
    """A batch (1, tokens, width) of random orthogonal tokens of mean square 1 each: the
    attention approximation's assumption (exact there), tokens <= width."""
    basis, _ = torch.linalg.qr(torch.randn(width, tokens, generator=generator,
                                           device=generator.device))
    return (basis.T * math.sqrt(width)).unsqueeze(0)


def _unit_rows(x):
    """x scaled so that each vector along the last dimension has mean square 1."""
    return x / x.pow(2).mean(dim=-1, keepdim=True).sqrt()


# name -> (model builder, input builder (generator) -> batch, eval mode?)
MODELS = {
    "residual MLP d=16": (lambda: residual_mlp(16),
                          lambda g: _unit_rows(torch.randn(1, 16, generator=g,
                                                           device=g.device)), True),
    "residual MLP d=256": (lambda: residual_mlp(256),
                           lambda g: _unit_rows(torch.randn(1, 256, generator=g,
                                                            device=g.device)), True),
    "ResNet-style CNN": (SmallResNet,
                         lambda g: (lambda x: x / x.pow(2).mean().sqrt())(
                             torch.randn(1, 3, 8, 8, generator=g, device=g.device)), True),
    "transformer block": (transformer_block, orthogonal_tokens, False),
    "Embedding + LayerNorm": (EmbeddingStack,
                              lambda g: torch.randint(1, 50, (1, 8), generator=g,
                                                      device=g.device), True),
}


def report_for(label, **options):
    """(model, report) of init_model_ on the model ``label``, with an example batch (the
    sequence length for attention)."""
    build, batch, _ = MODELS[label]
    model = build()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InitCoverageWarning)
        report = init_model_(model, generator=torch.Generator().manual_seed(0),
                             example_input=batch(torch.Generator().manual_seed(1)), **options)
    return model, report


def redraw_(model, report, generator):
    """Fresh weights from the report's stds (see the module docstring)."""
    modules = dict(model.named_modules())
    with torch.no_grad():
        for record in report:
            m = modules[record.name]
            if record.kind == "norm":
                continue
            if record.kind == "attention-in":
                m.in_proj_weight.normal_(0.0, record.std, generator=generator)
                m.in_proj_bias.zero_()
                continue
            m.weight.normal_(0.0, record.std, generator=generator)
            if getattr(m, "padding_idx", None) is not None:
                m.weight[m.padding_idx].zero_()
            if getattr(m, "bias", None) is not None:
                m.bias.zero_()


def simulator(label, layer, power=1):
    """simulate(generator, n): the mean square per coordinate of ``layer``'s output (to
    the ``power``) over n fresh networks and inputs of the model ``label``."""
    def simulate(generator, n):
        model, report = report_for(label)
        model.to(generator.device).train(not MODELS[label][2])
        module = dict(model.named_modules())[layer]
        if isinstance(module, nn.Linear) and layer.endswith("out_proj"):
            module = dict(model.named_modules())[layer.rpartition(".")[0]]
        seen = []
        handle = module.register_forward_hook(lambda m, args, out: seen.append(
            float((out[0] if isinstance(out, tuple) else out).double().pow(2).mean())))
        values = []
        try:
            with torch.no_grad():
                for _ in range(n):
                    redraw_(model, report, generator)
                    model(MODELS[label][1](generator))
                    values.append(seen.pop() ** power)
        finally:
            handle.remove()
        return torch.tensor(values, dtype=torch.float64)
    return simulate


def _record(report, layer):
    return next(r for r in report if r.name == layer)


def layer_check(label, layer, *, power=1, theory=None, negative=False, note=""):
    """The mean (power 1) or second moment (power 2) of ``layer``'s output mean square,
    against the report's prediction (or ``theory``, a control)."""
    _, report = report_for(label)
    record = _record(report, layer)
    predicted = (record.predicted if power == 1 else
                 record.predicted ** 2 + record.spread ** 2)
    # per-sample relative sd: spread / predicted (power 1), ~ twice it (power 2)
    rsd = power * record.spread / record.predicted
    samples = samples_for(rsd * predicted, _TARGET * power * predicted, "iid", 256)
    what = "mean square" if power == 1 else "second moment of the mean square"
    return Check(name=f"{label}: {what} of {layer}" + (f" ({note})" if note else ""),
                 area=AREA, params=dict(model=label, layer=layer, kind=record.kind,
                                        power=power),
                 simulate=simulator(label, layer, power),
                 theory=float(predicted if theory is None else theory),
                 samples=samples,
                 quick_samples=quick_samples(samples, 1, _QUICK_SAMPLES * (1 + negative)),
                 rule="iid", sensitivity=2.0 * power, negative_control=negative)


# (model, layer, power): the checks of the predictions.
LAYERS = [("residual MLP d=16", "3.fc1", 1), ("residual MLP d=16", "4", 1),
          ("residual MLP d=16", "3.fc1", 2),
          ("residual MLP d=256", "3.fc1", 1), ("residual MLP d=256", "4", 2),
          ("ResNet-style CNN", "blocks.1.conv2", 1), ("ResNet-style CNN", "head", 1),
          ("transformer block", "self_attn.out_proj", 1),
          ("transformer block", "linear2", 1),
          ("Embedding + LayerNorm", "fc", 1), ("Embedding + LayerNorm", "out", 1)]


def control_checks():
    """Wrong predictions the same statistics must reject."""
    _, unscaled = report_for("residual MLP d=16", branch_scale=1.0)
    _, report = report_for("residual MLP d=16")
    fc1 = _record(report, "3.fc1")
    _, attention = report_for("transformer block")
    mixture = _record(attention, "self_attn")
    out = _record(attention, "self_attn.out_proj")
    # uniform attention: sum_j P_ij^2 = 1/T in place of the logit-spread integral
    uniform = out.std ** 2 * D_MODEL * mixture.std ** 2 * D_MODEL / TOKENS
    return [
        layer_check("residual MLP d=16", "4", theory=_record(unscaled, "4").predicted,
                    negative=True, note="without branch scaling"),
        layer_check("residual MLP d=16", "3.fc1", power=2, theory=fc1.predicted ** 2,
                    negative=True, note="infinite-width: no spread"),
        layer_check("transformer block", "self_attn.out_proj", theory=uniform,
                    negative=True, note="uniform attention"),
    ]


def checks():
    """All checks of this area, in report order."""
    return tuple([layer_check(label, layer, power=power) for label, layer, power in LAYERS]
                 + control_checks())

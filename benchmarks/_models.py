"""The model zoo of the AnyInit comparison (``compare_anyinit.py``): deterministic constructors.

A :class:`ModelSpec` names one model and builds it; the same spec and seed always give the
same module (the constructors draw from torch's global generator inside a fork seeded from
``seed``, so the caller's random state is left alone).  The weights they draw do not matter
for the comparison -- AnyInit and the Monte Carlo both overwrite them -- only the
architecture does.

- ``mlp``: ``depth`` x (bias-free ``Linear(width, width)``, activation), activation ReLU,
  GELU or Tanh in the zoo (the identity too, for the tests' linear network).  Layer l's
  output is the activation's output, ``x_l``.
- ``resnet``: a small ResNet-style CNN on 3 x 8 x 8 images: a stem (Conv2d, BatchNorm2d,
  ReLU), residual blocks (Conv2d, BatchNorm2d, ReLU, Conv2d, BatchNorm2d, + identity, ReLU),
  global average pooling and a bias-free Linear head.
- ``transformer``: one pre-LayerNorm transformer block on sequences of 8 tokens:
  ``x + MHA(LN(x))`` then ``x + MLP(LN(x))``, the MLP ``Linear(d, 4d), GELU, Linear(4d, d)``,
  all projections bias-free.
"""
from dataclasses import dataclass

import torch
from torch import nn

MLP_ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "identity": nn.Identity}
ZOO_ACTIVATIONS = ("relu", "gelu", "tanh")
MLP_WIDTHS = (16, 64, 256, 1024)
MLP_DEPTHS = (10, 50, 100)


@dataclass(frozen=True)
class ModelSpec:
    """One model of the zoo: ``kind`` ("mlp", "resnet" or "transformer"), the MLP's
    ``activation``, ``width`` (MLP width, CNN channels or transformer d_model) and ``depth``
    (MLP layers, residual blocks, or transformer blocks)."""

    kind: str
    width: int
    depth: int
    activation: str = ""

    @property
    def name(self) -> str:
        if self.kind == "mlp":
            return f"mlp-{self.activation}-d{self.width}-L{self.depth}"
        return f"{self.kind}-w{self.width}-b{self.depth}"

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input (no batch dimension)."""
        return {"mlp": (self.width,), "resnet": (3, 8, 8),
                "transformer": (8, self.width)}[self.kind]

    @property
    def output_shape(self) -> tuple[int, ...]:
        """Shape of the model's output for one input (no batch dimension)."""
        return {"mlp": (self.width,), "resnet": (10,),
                "transformer": (8, self.width)}[self.kind]

    def build(self, seed: int = 0) -> nn.Module:
        """The module (in train mode, as at initialization), built from a fork of torch's
        generator seeded with ``seed``."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            if self.kind == "mlp":
                model = mlp(self.activation, self.width, self.depth)
            elif self.kind == "resnet":
                model = ResNet(self.width, self.depth)
            elif self.kind == "transformer":
                model = nn.Sequential(*(TransformerBlock(self.width) for _ in range(self.depth)))
            else:
                raise ValueError(f"kind must be 'mlp', 'resnet' or 'transformer', "
                                 f"got {self.kind!r}")
        return model


def mlp(activation: str, width: int, depth: int) -> nn.Sequential:
    """``depth`` x (bias-free Linear(width, width), activation) as one nn.Sequential."""
    if activation not in MLP_ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(MLP_ACTIVATIONS)}, "
                         f"got {activation!r}")
    layers = []
    for _ in range(depth):
        layers += [nn.Linear(width, width, bias=False), MLP_ACTIVATIONS[activation]()]
    return nn.Sequential(*layers)


class ResidualBlock(nn.Module):
    """relu2(x + bn2(conv2(relu1(bn1(conv1(x)))))), 3 x 3 convolutions keeping the shape."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.relu2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu2(x + self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x))))))


class ResNet(nn.Module):
    """Stem (Conv2d 3 -> channels, BatchNorm2d, ReLU), ``blocks`` residual blocks, global
    average pooling, bias-free Linear(channels, 10)."""

    def __init__(self, channels: int, blocks: int):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, channels, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(channels), nn.ReLU())
        self.blocks = nn.Sequential(*(ResidualBlock(channels) for _ in range(blocks)))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, 10, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.blocks(self.stem(x))).flatten(1))


class TransformerBlock(nn.Module):
    """Pre-LayerNorm block: x + MHA(LN(x)), then x + MLP(LN(x)); 4 heads, bias-free."""

    def __init__(self, width: int, heads: int = 4):
        super().__init__()
        self.ln1 = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads, bias=False, batch_first=True)
        self.ln2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width, bias=False), nn.GELU(),
                                 nn.Linear(4 * width, width, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.ln1(x)
        x = x + self.attn(y, y, y, need_weights=False)[0]
        return x + self.mlp(self.ln2(x))


def zoo(quick: bool = False) -> list[ModelSpec]:
    """The models compared: every MLP (ReLU, GELU, Tanh) x widths x depths, a ResNet-style
    CNN and a transformer block; ``quick``: widths 16, 64 and depths 10, 50 only."""
    widths, depths = ((16, 64), (10, 50)) if quick else (MLP_WIDTHS, MLP_DEPTHS)
    specs = [ModelSpec("mlp", width, depth, activation)
             for activation in ZOO_ACTIVATIONS for width in widths for depth in depths]
    return specs + [ModelSpec("resnet", 8, 3), ModelSpec("transformer", 32, 1)]

"""Claims of Skorski (2020), Hessian-norm initialization; see :mod:`initmath.papers`.

Theorems 1 and 2 are about the loss Hessian of a whole network; they are checked here on
small dense networks in numpy: the second directional derivative of the loss by central
differences against the Gauss-Newton form v^T H_z v of Theorem 1, with v the forward-mode
derivative of the output (H_z = I for the loss ½‖out − t‖²).
"""
import functools
import itertools
import math
import pathlib

import numpy as np
from scipy import special

from .. import hessian
from .ledger import RTOL, Claim, Evidence, from_experiment, not_checkable, relative_error, verdict

__all__ = ["PAPER", "TITLE", "claims"]

PAPER = "skorski-2020"
TITLE = "Skorski (2020), *Revisiting initialization of neural networks*"
_WIDTHS = (6, 8, 8, 4)
_ACTIVATIONS = {"relu": (lambda z: np.maximum(z, 0), lambda z: (z > 0).astype(float)),
                "tanh": (np.tanh, lambda z: 1 / np.cosh(z) ** 2),
                "linear": (lambda z: z, np.ones_like)}


def _network(scale=1.0, seed=0):
    """Weights (N(0, scale²/fan-in)), an input, a target and a direction g for layer 0."""
    rng = np.random.default_rng(seed)
    weights = [scale * rng.standard_normal((m, n)) / math.sqrt(n)
               for n, m in itertools.pairwise(_WIDTHS)]
    return (weights, rng.standard_normal(_WIDTHS[0]), rng.standard_normal(_WIDTHS[-1]),
            rng.standard_normal(weights[0].shape))


def _forward(weights, x, activation, layer=None, g=None):
    """Output and its derivative along g applied to weights[layer] (forward mode)."""
    act, slope = _ACTIVATIONS[activation]
    h, dh = x, np.zeros_like(x)
    for i, w in enumerate(weights):
        z = w @ h
        dz = w @ dh + (g @ h if i == layer else 0)
        if i == len(weights) - 1:
            return z, dz
        h, dh = act(z), slope(z) * dz


def _factorized_gap(activation, scale, layer=0, eps=1e-3):
    """|d²L/de² − ‖v‖²| / |d²L/de²| along g, L = ½‖out − t‖²."""
    weights, x, t, g = _network(scale)

    def loss(e):
        moved = [w + e * g if i == layer else w for i, w in enumerate(weights)]
        return 0.5 * np.sum((_forward(moved, x, activation)[0] - t) ** 2)

    exact = (loss(eps) - 2 * loss(0.0) + loss(-eps)) / eps ** 2
    kept = np.sum(_forward(weights, x, activation, layer, g)[1] ** 2)
    return abs(exact - kept) / abs(exact)


def theorem_1_remark_1():
    gaps = {a: _factorized_gap(a, 1.0) for a in ("relu", "linear")}
    return verdict(max(gaps.values()) < 1e-6,
                   {"relative gap H[g,g] vs v^T H_z v, ReLU and linear (first layer of "
                    "6-8-8-4)": list(gaps.values())},
                   "the factorized form is not exact for piecewise-linear activations")


def remark_2():
    scales = (1.0, 0.3, 0.1)
    gaps = [_factorized_gap("tanh", scale) for scale in scales]
    return verdict(gaps[-1] < gaps[0],
                   {"tanh relative gap, first layer, weights × 1, 0.3, 0.1": gaps},
                   "for tanh and small weights the neglected term of the first layer is "
                   "O(s³) against O(s⁴) for the kept one (weights scaled by s): the relative "
                   "gap grows as the weights shrink; Theorem 1's absolute error term is "
                   "consistent", failure="refuted")


def theorem_2():
    """Linear 3-layer net, layer 1: H = (F Fᵀ) ⊗ (W₂ᵀW₂), F = W₀x; double W₂."""
    weights, x, _, _ = _network()
    feature = weights[0] @ x

    def hessian_norm(w_out):
        return np.linalg.eigvalsh(np.kron(np.outer(feature, feature), w_out.T @ w_out))[-1]

    true_ratio = hessian_norm(2 * weights[2]) / hessian_norm(weights[2])
    printed_ratio = np.linalg.norm(2 * weights[2], 2) / np.linalg.norm(weights[2], 2)
    return verdict(abs(true_ratio / printed_ratio - 1) < RTOL,
                   {"‖H_{w^(1)}‖ ratio when W^(2) doubles": true_ratio,
                    "printed bound's ratio": printed_ratio},
                   "‖H_{w^(k)}‖ ≲ ‖H_z‖ ‖z^(k)‖² Π_{i>k} ‖J^(i)‖² ‖A^(k)‖²: the other layers "
                   "enter squared (and with ‖H_z‖ and the input norm)")


def corollary_2():
    """Gordon's √d_in + √d_out against the exact E‖G‖₂."""
    shapes = [(1, 1), (8, 8), (16, 16), (64, 16), (64, 64)]
    excess = [float((math.sqrt(m) + math.sqrt(n)) / hessian.expected_norm(m, n) - 1)
              for m, n in shapes]
    return verdict(max(excess) < 0.01,
                   {"(d_in, d_out)": shapes, "Gordon / exact E‖G‖₂ − 1": excess},
                   "E‖J‖ ≤ (√d_in + √d_out)σ (Gordon), with equality only as the widths grow; "
                   "E‖W‖₂ = 1 needs σ = 1/E‖G‖₂ (hessian_sigma(method='exact')), larger "
                   "than (8) by the excess shown")


def section_3_4():
    m, n = 64, 16
    mean = float(hessian.expected_norm(m, n))
    printed = 1 / (math.sqrt(m) + math.sqrt(n))
    return verdict(relative_error(printed, mean) < 0.05,
                   {"E‖G‖₂ at 64 × 16": mean, "printed 1/(√m + √n)": printed,
                    "√m + √n": math.sqrt(m) + math.sqrt(n)},
                   "the mean is ≈ √m + √n (and below it), not its reciprocal")


def remark_3():
    d_in = np.array([1, 1, 1, 8, 64, 784, 1, 1])
    d_out = np.array([1, 10, 100, 8, 64, 10, 10 ** 4, 10 ** 6])
    ratio = hessian.hessian_glorot_ratio(d_in, d_out)
    return verdict(ratio.min() >= 2 ** -0.5 - RTOL and ratio.max() <= 1,
                   {"shapes (d_in, d_out)": list(zip(d_in.tolist(), d_out.tolist())),
                    "ratio to Glorot": ratio},
                   "with Glorot's σ = √(2/(d_in + d_out)) the ratio lies in [1/2, 1/√2): 1/2 "
                   "for square layers, → 1/√2 (never reached) for skewed ones; the schemes "
                   "differ by a factor ≥ √2 for every shape (the paper drops Glorot's √2)")


def admissible():
    """'f(0) = 0 and f''(0) = 0 for linear, sigmoid, tanh, relu'."""
    f0 = {"linear": 0.0, "sigmoid": float(special.expit(0.0)), "tanh": math.tanh(0.0),
          "relu": 0.0}
    sigmoid_f2 = special.expit(0.0) * (1 - special.expit(0.0)) * (1 - 2 * special.expit(0.0))
    return verdict(max(map(abs, f0.values())) == 0,
                   {"f(0)": f0, "sigmoid f''(0)": float(sigmoid_f2)},
                   "the sigmoid has f(0) = 1/2; the conditions are on activation functions "
                   "(not loss functions), and ReLU has no f''(0) (a kink)", failure="refuted")


def _larger_stable_step(paired):
    """Hessian-norm minus Glorot / Kaiming in log2 of the largest stable constant step,
    paired over seeds (two networks; Holm-adjusted p over the four rows): confirmed if every
    difference is significantly > 0, refuted if any is significantly < 0, else
    inconclusive."""
    numbers = {f"{r['network']}: {r['comparison']} (Δlog2 η*, 95% CI, Holm p)":
               [r["difference"], r["lo"], r["hi"], r["p Holm"]] for r in paired}
    significant = [r for r in paired if r["p Holm"] < 0.05]
    worse = [f"{r['network']}: {r['comparison']}" for r in significant if r["hi"] < 0]
    if worse:
        return Evidence("refuted", numbers, "Hessian-norm initialization gives a significantly "
                        f"smaller largest stable step in {'; '.join(worse)}",
                        "digits; docs/experiments.md")
    if len(significant) == len(paired) and all(r["lo"] > 0 for r in paired):
        return Evidence("confirmed", numbers, None, "digits; docs/experiments.md")
    return Evidence("not checkable", numbers, None, "inconclusive: no difference in the "
                    "largest stable step is significant after Holm's adjustment")


# gamma* = 1/||H|| read as a prediction of the largest stable step, within this factor.
STEP_FACTOR = 2.0


def _step_is_inverse_sharpness(summary):
    """eta* lambda_max(H) at initialization, per network and scheme, against 1."""
    products = {f"{r['network']}, {r['scheme']}": 2 * r["eta* lambda_max / 2"] for r in summary}
    off = {k: v for k, v in products.items() if not 1 / STEP_FACTOR <= v <= STEP_FACTOR}
    return verdict(not off, {"η*·λ_max(H) at initialization": products},
                   f"γ ≤ 1/L guarantees a decrease of full-batch gradient descent when L bounds "
                   f"‖H‖ along the whole path; measured at initialization, 1/‖H‖ does not "
                   f"predict SGD's largest stable step: η*·λ_max(H) ranges "
                   f"{min(products.values()):.2g}-{max(products.values()):.2g} (off by more "
                   f"than {STEP_FACTOR:g}x for {len(off)} of {len(products)} cases)",
                   failure="corrected", note="digits, 104 SGD steps; docs/experiments.md")


def claims(experiments: pathlib.Path) -> list[Claim]:
    """The paper's claims, in paper order; training tables are read from ``experiments``."""
    claim = functools.partial(Claim, PAPER)
    return [
        claim("§1, step size", "the maximal step size which guarantees a decrease is "
              "γ* = ‖H‖⁻¹",
              from_experiment(experiments, _step_is_inverse_sharpness, "skorski_summary")),
        claim("Corollary 1 (training)", "initializing so that ‖J^(k)‖ ≈ 1 (bounded Hessian) "
              "lets one train with a constant step: a larger stable step than Glorot / Kaiming",
              from_experiment(experiments, _larger_stable_step, "skorski_paired")),
        claim("Theorem 1 and Remark 1", "H_{w^(k)}[g, g] ≈ v^T H_z v, v = B^(k) A^(k) g F^(k), "
              "with exact equality for activations with f'' = 0 such as ReLU",
              theorem_1_remark_1,
              ("Theorem 1 factorized form exact: relu sigma sqrt(d)=1",
               "Theorem 1 factorized form exact: leaky_relu sigma sqrt(d)=1"), (14,)),
        claim("Remark 2", "regardless of the activation the error term is of smaller order for "
              "small biases and weights (at initialization)", remark_2,
              ("Theorem 1 tanh error order s^-1 (n=3, layer k=0)",
               "Theorem 1 tanh error order s^1 (Remark 2: smaller order) (n=3, layer k=0)",
               "Theorem 1 factorized form as if exact: tanh sigma sqrt(d)=2"), (14,)),
        claim("Theorem 2", "‖H_{w^(k)}‖ ≲ Π_{i≠k} ‖J^(i)‖ · ‖A^(k)‖", theorem_2,
              ("Theorem 2 degree of ||H_k|| in another layer's weight = 2: relu",
               "Theorem 2 degree of ||H_k|| in another layer's weight = 1 (printed bound (6)): "
               "relu"), (13,)),
        claim("Corollary 1", "initialize w^(k) so that ‖J^(k)‖ ≈ 1", not_checkable(
            "a prescription, not a statement; it is unaffected by the correction of Theorem 2 "
            "(norms equal to 1 are their own squares)"),
            ("Corollary 1 layer Jacobian norm 1 at fresh inputs, hessian_calibrate_: relu",
             "Corollary 1 layer Jacobian norm 1 at fresh inputs, PyTorch default init: relu")),
        claim("Corollary 2, (7)–(8)", "E‖J^(k)‖ ≈ (√d_{k+1} + √d_k)σ, so σ = 1/(√d_{k+1} + √d_k) "
              "makes the norm close to 1", corollary_2,
              ("E||J||_2 exact d_in=8 d_out=8", "E||J||_2 exact d_in=64 d_out=64",
               "E||J||_2 Gordon's bound as the mean d_in=8 d_out=8"), (12,)),
        claim("§3.4 (proof of Corollary 2)", "the largest singular value of a random m × n "
              "matrix with unit-variance entries is 1/(√m + √n) on average", section_3_4,
              ("E||J||_2 exact d_in=20 d_out=6",), (12, 14)),
        claim("Remark 3", "the scheme is between 1 and 1/√2 factor away from Glorot's; both are "
              "close for skewed layers", remark_3, (), (11,)),
        claim("§1.2, admissible functions", "f(0) = 0 and f''(0) = 0 hold for all standard "
              "functions: linear, sigmoid, tanh, relu", admissible, (), (14,)),
    ]

"""AnyInit's predicted activation second moments against Monte Carlo truth and initmath.

Usage::

    python benchmarks/compare_anyinit.py [--quick] [--device cpu|auto|cuda|cuda:N]
                                         [--networks N] [--max_width D] [--json PATH]

Needs ``pip install "initmath[compare]"`` (anyinit 0.4.0 and torch).  For every model of the
zoo (``_models.py``) and each AnyInit mode ("analytic", "empirical"):

1. AnyInit initializes the model (seed 0).  Recorded: the weight std it sets on every layer
   (``LayerRecord.scale``; AnyInit draws unit-variance weights and multiplies them by it),
   its predicted second moment of the activations at the point each layer is aimed at
   (``LayerRecord.predicted``: E[a^2] per coordinate, i.e. E||x_l||^2 / d_l, the
   infinite-width recursion in analytic mode, one measured draw in empirical mode), whether
   its report passes ``assert_healthy()``, and its time per call.
2. Monte Carlo truth: the weights of every layer AnyInit scaled are re-drawn ``n`` times,
   iid N(0, std^2) with the std AnyInit chose (normalization gains stay as AnyInit set
   them; fixed seeds, a torch Generator on ``--device``), a fixed input x_0 with
   ||x_0||^2 / d_0 = 1 (the unit per-coordinate second moment of AnyInit's standard normal
   input; x_0 = (1, ..., 1) for an MLP, whose law does not depend on x_0's direction) is
   propagated, and at every layer the mean, standard error, spread (std over networks) and
   median of ||x_l||^2 / d_l are recorded: the finite-width spread that an infinite-width
   prediction does not see.  Models run in train mode, as at initialization and as AnyInit
   measures them (BatchNorm normalizes with the statistics of the batch: here the positions
   of the one input image).
3. initmath: the exact finite-width E||x_l||^2 / d_l and its spread for MLPs of any
   activation (:func:`initmath_prediction`, from the exact one-step law of the norm chain,
   :func:`initmath.finite_depth.depth_law`); for the CNN and the transformer, the
   per-module prediction of :func:`initmath.nn.report_model` at the stds AnyInit set,
   against its own Monte Carlo at the output of each module it reports, in eval mode
   (:func:`initmath_model_rows`; exact rules and stated approximations, listed per module).

The table shows, per model and mode, the last layer and the layer with the largest |z|,
z = (MC mean - prediction) / SE, among the layers whose output is random (LayerNorm's is
fixed by x_0; its z measures only LayerNorm's eps).  MLP layers are numbered 1, ..., L,
the others named by their module.  A dagger marks a z whose relative standard error exceeds
0.1: ||x_l||^2 is then so heavy-tailed (narrow, deep networks) that the sample mean and its
standard error are themselves unreliable, and the median is the typical network.
"""
import math
import time
import zlib

import _common
import numpy as np
import torch
from _models import MLP_ACTIVATIONS, ModelSpec, zoo

from initmath._cli import option_type
from initmath.activations import activation
from initmath.critical_variance import moment_factor
from initmath.finite_depth import depth_law
from initmath.nn.device import resolve_device
from verification import simulate

MODES = ("analytic", "empirical")
EMPIRICAL_ROWS = 512       # rows of the batch AnyInit's empirical mode measures on
HEAVY = 0.1                # relative standard error above which a z-score is marked
RANDOM = 1e-6              # relative spread below which a layer's output is fixed by x_0

# Networks per Monte Carlo run.  An MLP run draws n L d^2 normals: n is that budget over
# L d^2, kept within [low, high]; the CNN and the transformer are simulated one network
# at a time.
NETWORKS = {"quick": {"normals": 5e7, "low": 500, "high": 10000, "model": 300},
            "full": {"normals": 5e8, "low": 100, "high": 20000, "model": 2000}}


def networks(spec: ModelSpec, quick: bool) -> int:
    """Networks simulated for ``spec`` (see NETWORKS)."""
    budget = NETWORKS["quick" if quick else "full"]
    if spec.kind != "mlp":
        return budget["model"]
    n = int(budget["normals"] / (spec.depth * spec.width ** 2))
    return min(max(n, budget["low"]), budget["high"])


def input_vector(spec: ModelSpec, device: torch.device) -> torch.Tensor:
    """The fixed input x_0 (no batch dimension), ||x_0||^2 / d_0 = 1: all ones for an MLP,
    a seeded standard normal draw rescaled to that norm otherwise."""
    if spec.kind == "mlp":
        return torch.ones(spec.input_shape, device=device)
    x = torch.randn(spec.input_shape, generator=torch.Generator().manual_seed(12345))
    return (x / x.square().mean().sqrt()).to(device)


# ----------------------------------------------------------------------------- AnyInit


def anyinit_run(spec: ModelSpec, mode: str, repeat: int = 1):
    """Initialize ``spec``'s model with AnyInit in ``mode``: (model, report, seconds per
    call (median of ``repeat`` calls after a warm-up), healthy: None or the reason)."""
    import anyinit

    model = spec.build()
    rows = 1 if mode == "analytic" else EMPIRICAL_ROWS
    report, timing = _common.time_calls(
        lambda: anyinit.initialize(model, mode, (rows, *spec.input_shape), seed=0), repeat)
    try:
        report.assert_healthy()
        problem = None
    except AssertionError as error:
        problem = str(error).removeprefix("AnyInit report is not healthy: ")
    return model, report, timing["median_s"], problem


def anyinit_taps(spec: ModelSpec, model: torch.nn.Module, report) -> list:
    """For each layer of ``report``, the path of the module whose output is the point its
    prediction refers to (the activation it feeds, past shape-only nodes), or None where no
    module's output is that point (a functional op inside MultiheadAttention).

    Read from anyinit 0.4.0's own graph and plan (pinned by the ``compare`` extra), so the
    Monte Carlo measures exactly where AnyInit predicts.
    """
    if spec.kind == "mlp":          # Linear 2k feeds the activation module 2k + 1
        return [str(2 * k + 1) for k in range(spec.depth)]
    from anyinit.backends import resolve
    from anyinit.core.graph import NodeKind
    from anyinit.core.topology import build_plan

    backend = resolve(model)
    backend.begin(model, None)
    graph = backend.build_graph(model, (1, *spec.input_shape))
    plan = build_plan(graph)
    modules = dict(model.named_modules())
    taps = []
    for node, record in zip(graph.scalable, report.layers, strict=True):
        if str(node.meta.get("path") or node.id) != record.name:
            raise RuntimeError(f"anyinit's graph and report disagree: {node.id} vs "
                               f"{record.name}")
        point = graph[plan.measurement[node.id]]
        while point.kind is NodeKind.SHAPE and graph.predecessors(point.id):
            point = graph[graph.predecessors(point.id)[0]]
        path = str(point.meta.get("path"))
        # out_proj is applied functionally: its output is MultiheadAttention's first output.
        path = path.removesuffix(".out_proj.weight")
        taps.append(path if path in modules else None)
    return taps


def anyinit_stds(model: torch.nn.Module, report) -> dict[str, float]:
    """Parameter name -> the weight std AnyInit set, for every layer it scaled (not the
    gains of normalization layers)."""
    names = dict(model.named_parameters())
    stds = {}
    for record in report.layers:
        if record.is_gain or record.scale is None:
            continue
        name = record.name if record.name in names else record.name + ".weight"
        stds[name] = record.scale
    return stds


# ------------------------------------------------------------------------- Monte Carlo


def monte_carlo_mlp(spec: ModelSpec, stds, n: int, generator: torch.Generator) -> np.ndarray:
    """||x_l||^2 / d for l = 1, ..., L of n independent networks ``spec`` (an MLP), layer
    l's weights iid N(0, stds[l-1]^2), x_0 = (1, ..., 1): float64 array of shape (n, L).

    The networks are simulated in batches (one bmm per layer) on the generator's device,
    in float32 with the norms accumulated in float64.
    """
    device, d = generator.device, spec.width
    phi = MLP_ACTIVATIONS[spec.activation]()
    batch = max(1, simulate.MEMORY_BYTES[device.type] // (4 * d * d))
    buffer = torch.empty(min(batch, n), d, d, device=device)
    parts = []
    for start in range(0, n, batch):
        size = min(batch, n - start)
        w = buffer[:size]
        x = input_vector(spec, device).expand(size, d).unsqueeze(-1)
        out = torch.empty(size, len(stds), device=device, dtype=torch.float64)
        for k, std in enumerate(stds):
            torch.randn(w.shape, generator=generator, out=w)
            x = phi(float(std) * torch.bmm(w, x))
            out[:, k] = x.double().square().sum((1, 2)) / d
        parts.append(out)
    return torch.cat(parts).cpu().numpy()


def monte_carlo_model(model: torch.nn.Module, stds: dict[str, float], taps, x0: torch.Tensor,
                      n: int, generator: torch.Generator, train: bool = True) -> np.ndarray:
    """E[a^2] (the mean square of a module's output, ||x_l||^2 / d_l) at each tap (a module
    path, or None: NaN) for n independent re-draws of ``model``'s weights, parameter
    ``name`` iid N(0, stds[name]^2), input x0: float64 array of shape (n, len(taps)).

    One network at a time, on the generator's device, the model in train mode (``train``)
    or eval mode; ``model`` itself is left unchanged (a copy is simulated).
    """
    import copy

    device = generator.device
    model = copy.deepcopy(model).to(device).train(train)
    params = dict(model.named_parameters())
    modules = dict(model.named_modules())
    seen = {}
    hooks = [modules[path].register_forward_hook(
        lambda module, inputs, output, path=path: seen.__setitem__(
            path, (output[0] if isinstance(output, tuple) else output).double().square().mean()))
        for path in set(taps) - {None}]
    out = torch.full((n, len(taps)), math.nan, dtype=torch.float64, device=device)
    try:
        with torch.no_grad():
            for i in range(n):
                for name, std in stds.items():
                    params[name].normal_(0.0, std, generator=generator)
                model(x0.unsqueeze(0))
                for k, path in enumerate(taps):
                    if path is not None:
                        out[i, k] = seen[path]
    finally:
        for hook in hooks:
            hook.remove()
    return out.cpu().numpy()


def statistics(samples: np.ndarray) -> dict[str, np.ndarray]:
    """Per layer (column) of ``samples`` (networks x layers): mean, standard error of the
    mean, spread (std over networks, ddof=1) and median."""
    spread = samples.std(axis=0, ddof=1)
    return {"mean": samples.mean(axis=0), "se": spread / math.sqrt(samples.shape[0]),
            "spread": spread, "median": np.median(samples, axis=0)}


# ---------------------------------------------------------------------------- initmath


def initmath_prediction(spec: ModelSpec, stds) -> dict[str, np.ndarray] | None:
    """initmath's exact finite-width mean and spread of ||x_l||^2 / d_l, l = 1, ..., L, for
    the model ``spec`` with layer-l weight std ``stds[l-1]`` and ||x_0||^2 / d_0 = 1; None
    where initmath does not have them yet.

    For an MLP whose activation is positively homogeneous (phi(x) = x or a x; ReLU: a = 0),
    given x_{l-1} the pre-activations are iid N(0, sigma_l^2 ||x_{l-1}||^2), so exactly
    E[||x_l||^s | x_{l-1}] = sigma_l^s ||x_{l-1}||^s I_a(s, d) (``moment_factor``), and

        E||x_l||^2 / d = prod_k sigma_k^2 I_a(2, d),
        E(||x_l||^2 / d)^2 = prod_k sigma_k^4 I_a(4, d).

    For any other activation (GELU, Tanh, ...), the law of ||x_l|| from the transfer
    operator of the norm chain (:func:`initmath.finite_depth.depth_law`, x_0 of norm
    sqrt(d_0)).
    """
    if spec.kind != "mlp":
        return None
    slopes = activation(spec.activation).slopes
    d = spec.width
    variance = np.asarray(stds, dtype=float) ** 2
    if slopes is None:
        law = depth_law(spec.depth, d, spec.activation, np.sqrt(variance),
                        r0=math.sqrt(spec.input_shape[0]))
        return {"mean": law.mean, "spread": law.spread}
    a = slopes[1]
    mean = np.cumprod(variance * moment_factor(2.0, d, a))
    second = np.cumprod(variance ** 2 * moment_factor(4.0, d, a))
    return {"mean": mean, "spread": np.sqrt(np.maximum(second - mean ** 2, 0.0))}


def initmath_model_rows(model: torch.nn.Module, stds: dict[str, float], x0: torch.Tensor,
                        n: int, generator: torch.Generator) -> dict:
    """initmath's per-module prediction (:func:`initmath.nn.report_model`) for ``model``
    with the weights AnyInit scaled drawn iid N(0, stds[name]^2), against a Monte Carlo of
    n re-draws at the same points (the output of each module initmath reports; for an
    attention's ``out_proj``, the attention module's output), in eval mode, as initmath
    predicts (BatchNorm on its running statistics: the identity at initialization).

    The report reads each weight's std as its root mean square, so the copy's weights are
    one draw rescaled to exactly AnyInit's std."""
    import copy

    from initmath.nn import report_model

    model = copy.deepcopy(model).cpu().eval()
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, std in stds.items():
            weight = params[name]
            weight.mul_(std / weight.double().square().mean().sqrt().item())
    report = report_model(model, x0.cpu().unsqueeze(0))
    records = [r for r in report if r.predicted is not None and r.kind != "attention-in"]
    taps = [r.name.removesuffix(".out_proj") if r.kind == "attention-out" else r.name
            for r in records]
    samples = monte_carlo_model(model, stds, taps, x0, n, generator, train=False)
    mc = statistics(samples)
    predicted = np.array([r.predicted for r in records])
    return {"initmath_labels": taps, "initmath_points": predicted,
            "initmath_point_spread": np.array([math.nan if r.spread is None else r.spread
                                               for r in records]),
            "initmath_approximation": [r.approximation for r in records],
            "initmath_mc_mean": mc["mean"], "initmath_mc_se": mc["se"],
            "z_initmath_points": (mc["mean"] - predicted) / mc["se"]}


# --------------------------------------------------------------------------- comparison


def compare(spec: ModelSpec, mode: str, n: int, device: torch.device, repeat: int = 1) -> dict:
    """One row: AnyInit (``mode``) on ``spec``, the Monte Carlo of n networks with its
    stds, and initmath, per layer (see the module docstring)."""
    model, report, seconds, problem = anyinit_run(spec, mode, repeat)
    taps = anyinit_taps(spec, model, report)
    seed = zlib.crc32(f"{spec.name}/{mode}".encode())
    generator = torch.Generator(device=device).manual_seed(seed)
    start = time.perf_counter()
    if spec.kind == "mlp":
        stds = [record.scale for record in report.layers]
        samples = monte_carlo_mlp(spec, stds, n, generator)
        exact = initmath_prediction(spec, stds)
    else:
        stds = anyinit_stds(model, report)
        samples = monte_carlo_model(model, stds, taps, input_vector(spec, device), n,
                                    generator)
        exact = None
        points = initmath_model_rows(model, stds, input_vector(spec, device), n, generator)
    mc_seconds = time.perf_counter() - start
    mc = statistics(samples)
    predicted = np.array([math.nan if r.predicted is None else r.predicted
                          for r in report.layers])
    row = {"model": spec.name, "mode": mode, "anyinit_s": seconds, "healthy": problem,
           "networks": n, "seed": seed, "mc_s": mc_seconds,
           "layers": [r.name for r in report.layers], "taps": taps,
           "labels": ([str(k + 1) for k in range(spec.depth)] if spec.kind == "mlp"
                      else [r.name for r in report.layers]),
           "std": [r.scale for r in report.layers], "anyinit": predicted,
           **{f"mc_{key}": value for key, value in mc.items()},
           "z_anyinit": (mc["mean"] - predicted) / mc["se"]}
    if exact is not None:
        row.update(initmath_mean=exact["mean"], initmath_spread=exact["spread"],
                   z_initmath=(mc["mean"] - exact["mean"]) / mc["se"])
    else:
        row.update(points)
    return row


def _number(x: float) -> str:
    return "-" if not np.isfinite(x) else f"{x:.3g}"


def _z(row: dict, key: str, k: int) -> str:
    z = row[key][k]
    if not np.isfinite(z):
        return "-"
    heavy = row["mc_se"][k] > HEAVY * abs(row["mc_mean"][k])
    return f"{z:+.1f}" + ("†" if heavy else "")


def markdown(rows: list[dict]) -> str:
    """The comparison table: per model and mode, AnyInit's time and verdict, then at the
    last layer and at the layer of largest |z|: AnyInit's prediction, the Monte Carlo mean
    +- SE, spread and median of ||x_l||^2 / d_l, z, and initmath's exact mean +- spread
    (for the CNN and the transformer: the worst of initmath's own points, eval mode)."""
    head = ("model", "mode", "AnyInit s", "healthy", "n", "layer", "AnyInit", "MC mean ± SE",
            "MC spread", "MC median", "z", "initmath (± spread)", "z initmath",
            "worst layer", "AnyInit", "MC mean ± SE", "z")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        usable = np.flatnonzero(np.isfinite(row["mc_mean"]))
        last = usable[-1]
        random = row["mc_spread"] > RANDOM * np.abs(row["mc_mean"])
        scores = np.where(np.isfinite(row["z_anyinit"]) & random, np.abs(row["z_anyinit"]), -1.0)
        worst = int(np.argmax(scores))
        exact, z_exact = "-", "-"
        if "initmath_mean" in row:
            exact = f"{_number(row['initmath_mean'][last])} ± " \
                    f"{_number(row['initmath_spread'][last])}"
            z_exact = _z(row, "z_initmath", last)
        elif "z_initmath_points" in row:      # its own random points: the worst of them
            spread = row["initmath_mc_se"] * math.sqrt(row["networks"])
            fixed = spread <= RANDOM * np.abs(row["initmath_mc_mean"])
            k = int(np.nanargmax(np.where(fixed, -1.0, np.abs(row["z_initmath_points"]))))
            exact = (f"{row['initmath_labels'][k]}: {_number(row['initmath_points'][k])} ± "
                     f"{_number(row['initmath_point_spread'][k])} (MC "
                     f"{_number(row['initmath_mc_mean'][k])})")
            z_exact = f"{row['z_initmath_points'][k]:+.1f}"
        mc = lambda k: f"{_number(row['mc_mean'][k])} ± {_number(row['mc_se'][k])}"
        cells = (row["model"], row["mode"], f"{row['anyinit_s']:.3f}",
                 "ok" if row["healthy"] is None else "no", str(row["networks"]),
                 row["labels"][last], _number(row["anyinit"][last]), mc(last),
                 _number(row["mc_spread"][last]), _number(row["mc_median"][last]),
                 _z(row, "z_anyinit", last), exact, z_exact,
                 row["labels"][worst], _number(row["anyinit"][worst]),
                 mc(worst), _z(row, "z_anyinit", worst))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _plain(value):
    """JSON-ready: arrays as lists, NaN and infinities as None."""
    if isinstance(value, np.ndarray):
        return [_plain(float(x)) for x in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def main(argv=None):
    args, info = _common.setup(
        __doc__.splitlines()[0], argv,
        quick={"action": "store_true",
               "help": "MLP widths 16, 64 and depths 10, 50 only, fewer networks (< 60 s)"},
        device={"type": option_type(resolve_device), "default": "cpu",
                "help": "'cpu' (default), 'auto' (CUDA when available), 'cuda', 'cuda:1', ..."},
        networks={"type": int, "metavar": "N", "help": "networks per Monte Carlo run "
                  "(default: from a budget of random normals per run, see NETWORKS)"},
        max_width={"type": int, "metavar": "D", "help": "only the MLPs of width <= D "
                   "(d = 1024 costs ~20 min of the ~30 of a full run on 2 CPU cores)"})
    import anyinit

    info.update(device=str(args.device), torch=torch.__version__, anyinit=anyinit.__version__,
                torch_threads=torch.get_num_threads())
    print(f"device   {args.device}, torch {torch.__version__} ({info['torch_threads']} "
          f"threads), anyinit {anyinit.__version__}\n")
    start = time.perf_counter()
    rows = [compare(spec, mode, args.networks or networks(spec, args.quick), args.device,
                    repeat=1 if args.quick else 3)
            for spec in zoo(args.quick) if spec.kind != "mlp" or args.max_width is None
            or spec.width <= args.max_width for mode in MODES]
    print(markdown(rows))
    print(f"\n† relative standard error > {HEAVY}: heavy tails, the mean and its SE are "
          f"unreliable.  Total {time.perf_counter() - start:.1f} s.")
    _common.write_json({"machine": info, "quick": args.quick,
                        "rows": [{key: _plain(value) for key, value in row.items()}
                                 for row in rows]}, args.json)
    return rows


if __name__ == "__main__":
    main()

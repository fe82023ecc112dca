"""Reading a model's graph: what consumes the output of each weight-bearing module.

:func:`read_graph` traces the model with ``torch.fx.symbolic_trace`` (torch.nn modules are
leaves, so ``nn.MultiheadAttention`` and the norms stay whole) and turns the fx graph
into a list of :class:`GraphNode` in topological order, each of one ``kind``:

``"input"``, ``"output"``
    The model's arguments and its result.
``"layer"``
    ``nn.Linear`` / ``nn.Conv1d/2d/3d``: a weight whose std the theory gives.
``"activation"``
    An elementwise activation: a module, or a functional call (``F.relu``,
    ``torch.tanh``, ``F.gelu(x, approximate=...)``, ``F.leaky_relu(x, slope)``, the
    tensor methods ``x.relu()``, ...), recorded as ``spec``: the module, or
    ``(registry key, parameters)`` of :data:`initmath.activations.ACTIVATIONS`.
``"transparent"``
    Passed over: ``nn.Dropout*`` (its eval-mode identity), ``nn.Identity``,
    ``nn.Flatten`` / ``nn.Unflatten``, ``view`` / ``reshape`` / ``permute`` /
    ``transpose`` / ``flatten`` / ``contiguous`` / ``squeeze`` / ``unsqueeze``, and item 0
    (the output) of ``nn.MultiheadAttention``'s tuple.
``"add"``
    ``x + y``, ``torch.add(x, y)``, ``x += y``, ``x.add(y)`` of two tensors of the graph.
``"linear-map"``
    ``nn.ConvTranspose*``: a linear map with no theory of its own (a layer followed by it
    gets the identity std, as by any linear map).
``"norm"``, ``"embedding"``, ``"attention"``
    LayerNorm / BatchNorm* / GroupNorm / InstanceNorm* / RMSNorm, ``nn.Embedding``,
    ``nn.MultiheadAttention`` (self- or cross-attention: ``info`` holds the query, key and
    value nodes).
``"other"``
    Anything else (Softmax, products, user leaves, ...): no theory follows it.

``nn.TransformerEncoderLayer`` (and ``nn.TransformerEncoder``, a stack of them) is a special
case: its forward is not traceable (masks, the fused fast path), so its attributes are read
instead -- ``self_attn``, ``dropout*``, ``linear1``, ``activation`` (a module or a function),
``linear2``, ``norm1``, ``norm2`` and ``norm_first`` -- and expanded into the nodes of the
two residual blocks it computes (without masks).

An ``nn.Sequential`` of torch.nn leaf modules (nested ones flattened) is read as the chain
it is, without tracing (``source`` "nn.Sequential chain": the graph torch.fx would give,
~5 ms faster a call).  When tracing fails (data-dependent control flow, an untraceable
call), :func:`read_graph`
returns None and the reason; :func:`initmath.nn.init_model_` then falls back to reading
``nn.Sequential`` chains.
"""
import operator
from dataclasses import dataclass, field
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import fx, nn

from ..activations import activation as _resolve_activation

__all__ = ["GraphNode", "ModelGraph", "read_graph"]

LAYER_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
NORM_TYPES = (nn.LayerNorm, nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.GroupNorm,
              nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d, nn.RMSNorm)
TRANSPARENT_MODULES = (nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d,
                       nn.AlphaDropout, nn.Flatten, nn.Unflatten)
# Piecewise-linear activation modules read by init.py itself (their slopes), not resolved.
_SLOPE_MODULES = (nn.ReLU, nn.LeakyReLU, nn.RReLU)

# Functional activation -> (registry key, names of its parameters after the input, in order).
_FUNCTIONS = {
    F.relu: ("relu", ()), torch.relu: ("relu", ()), F.relu_: ("relu", ()),
    torch.relu_: ("relu", ()), F.relu6: ("relu6", ()),
    F.leaky_relu: ("leakyrelu", ("negative_slope",)),
    F.gelu: ("gelu", ("approximate",)), F.silu: ("silu", ()), F.mish: ("mish", ()),
    F.elu: ("elu", ("alpha",)), F.celu: ("celu", ("alpha",)), F.selu: ("selu", ()),
    torch.selu: ("selu", ()), F.softplus: ("softplus", ("beta", "threshold")),
    torch.tanh: ("tanh", ()), F.tanh: ("tanh", ()), torch.sigmoid: ("sigmoid", ()),
    F.sigmoid: ("sigmoid", ()), F.hardtanh: ("hardtanh", ("min_val", "max_val")),
    F.hardswish: ("hardswish", ()), F.hardsigmoid: ("hardsigmoid", ()),
    F.softsign: ("softsign", ()), F.tanhshrink: ("tanhshrink", ()),
    F.logsigmoid: ("logsigmoid", ()), F.softshrink: ("softshrink", ("lambd",)),
    F.hardshrink: ("hardshrink", ("lambd",)), F.threshold: ("threshold", ("threshold", "value")),
}
_METHODS = {"relu": "relu", "relu_": "relu", "tanh": "tanh", "sigmoid": "sigmoid"}
_TRANSPARENT_METHODS = {"view", "reshape", "permute", "transpose", "flatten", "contiguous",
                        "squeeze", "unsqueeze", "unflatten"}
_TRANSPARENT_FUNCTIONS = {F.dropout, F.dropout1d, F.dropout2d, F.dropout3d, torch.flatten,
                          torch.reshape, torch.transpose, torch.permute, torch.squeeze,
                          torch.unsqueeze}
_ADD_FUNCTIONS = {operator.add, operator.iadd, torch.add}
# Keyword arguments that do not change what an activation computes.
_IGNORED_KEYWORDS = {"inplace"}


@dataclass
class GraphNode:
    """One node of a model's graph (see the module docstring for the kinds).

    index: its position (topological order); kind; inputs: the indices of the nodes it
    reads; module: the nn.Module it calls (None for functions); name: the module's name in
    ``model.named_modules()`` (or the fx node's name); spec: an activation's module or
    (key, parameters); info: kind-specific details (attention: the query, key and value
    node indices and whether a mask was passed)."""
    index: int
    kind: str
    inputs: tuple
    module: nn.Module | None = None
    name: str = ""
    spec: object = None
    info: dict = field(default_factory=dict)


@dataclass
class ModelGraph:
    """The nodes of a model in topological order and, per node, the indices of the nodes
    that read it (``users``); ``source`` says how the graph was read."""
    nodes: list
    source: str
    users: list = field(init=False)

    def __post_init__(self):
        self.users = [[] for _ in self.nodes]
        for node in self.nodes:
            for i in dict.fromkeys(node.inputs):
                self.users[i].append(node.index)


def _module_kind(module):
    """(kind, spec) of a leaf module."""
    if isinstance(module, LAYER_TYPES):
        return "layer", None
    if isinstance(module, NORM_TYPES):
        return "norm", None
    if isinstance(module, nn.modules.conv._ConvTransposeNd):
        return "linear-map", None
    if isinstance(module, nn.Embedding):
        return "embedding", None
    if isinstance(module, nn.MultiheadAttention):
        return "attention", None
    if isinstance(module, TRANSPARENT_MODULES):
        return "transparent", None
    if isinstance(module, _SLOPE_MODULES):
        return "activation", module
    if type(module).__module__.startswith("torch."):
        try:
            _resolve_activation(module)
        except ValueError:                 # not elementwise (Softmax, ...)
            return "other", None
        return "activation", module
    return "other", None


def functional_activation(function, args, kwargs):
    """(registry key, parameters) of a functional activation call, or None when
    ``function`` is not one (or is called with arguments the registry cannot take)."""
    if function not in _FUNCTIONS:
        return None
    key, names = _FUNCTIONS[function]
    extra = dict(zip(names, args[1:]))
    extra.update((k, v) for k, v in kwargs.items() if k not in _IGNORED_KEYWORDS)
    if any(isinstance(v, fx.Node) for v in extra.values()) or set(extra) - set(names):
        return None
    return key, extra


class _Builder:
    """Collects GraphNodes (fx nodes, and the expansion of transformer layers)."""

    def __init__(self):
        self.nodes = []

    def add(self, kind, inputs, **details):
        node = GraphNode(len(self.nodes), kind, tuple(inputs), **details)
        self.nodes.append(node)
        return node.index

    def transformer_layer(self, layer, name, x):
        """The nodes of one nn.TransformerEncoderLayer reading node x; its output node."""
        def module(attribute, kind, at, spec=None):
            return self.add(kind, [at], module=getattr(layer, attribute),
                            name=f"{name}.{attribute}", spec=spec)

        def attention(at):
            node = module("self_attn", "attention", at)
            self.nodes[node].info = {"query": at, "key": at, "value": at, "mask": False}
            return module("dropout1", "transparent", node)

        def feed_forward(at):
            hidden = module("linear1", "layer", at)
            act = layer.activation
            if isinstance(act, nn.Module):
                hidden = self.add("activation", [hidden], module=act,
                                  name=f"{name}.activation", spec=act)
            else:
                spec = functional_activation(act, (None,), {})
                hidden = self.add("activation" if spec else "other", [hidden],
                                  name=f"{name}.activation", spec=spec)
            hidden = module("dropout", "transparent", hidden)
            return module("dropout2", "transparent", module("linear2", "layer", hidden))

        if layer.norm_first:
            x = self.add("add", [x, attention(module("norm1", "norm", x))])
            return self.add("add", [x, feed_forward(module("norm2", "norm", x))])
        x = module("norm1", "norm", self.add("add", [x, attention(x)]))
        return module("norm2", "norm", self.add("add", [x, feed_forward(x)]))

    def transformer(self, encoder, name, x):
        for i, layer in enumerate(encoder.layers):
            x = self.transformer_layer(layer, f"{name}.layers.{i}", x)
        if encoder.norm is not None:
            x = self.add("norm", [x], module=encoder.norm, name=f"{name}.norm")
        return x


def _inputs(node, index):
    found = []
    fx.node.map_arg((node.args, node.kwargs), lambda n: found.append(index[n]))
    return list(dict.fromkeys(found))


def _function_kind(node, index, nodes):
    """(kind, spec, info) of a call_function / call_method node."""
    target, args = node.target, node.args
    tensors = [a for a in args if isinstance(a, fx.Node)]
    if node.op == "call_method":
        if target in _METHODS and len(args) == 1:
            return "activation", (_METHODS[target], {}), {}
        if target in _TRANSPARENT_METHODS:
            return "transparent", None, {}
        if target in ("add", "add_") and len(tensors) == 2 and not node.kwargs:
            return "add", None, {}
        return "other", None, {}
    if target in _ADD_FUNCTIONS and len(tensors) == 2 and not node.kwargs:
        return "add", None, {}
    if target is operator.getitem and isinstance(args[0], fx.Node) and \
            nodes[index[args[0]]].kind == "attention":
        return ("transparent" if args[1] == 0 else "other"), None, {}
    if target in _TRANSPARENT_FUNCTIONS:
        return "transparent", None, {}
    spec = functional_activation(target, args, node.kwargs)
    return ("activation", spec, {}) if spec else ("other", None, {})


def _attention_info(node, index):
    args = list(node.args) + [node.kwargs.get(k) for k in ("query", "key", "value")
                              if k in node.kwargs]
    roles = [index[a] if isinstance(a, fx.Node) else None for a in args[:3]]
    mask = any(node.kwargs.get(k) not in (None, False)
               for k in ("attn_mask", "key_padding_mask", "is_causal")) or len(args) > 3
    return {"query": roles[0], "key": roles[1], "value": roles[2], "mask": mask}


def _plain_chain(model):
    """[(name, module)] when the model is an nn.Sequential (nested ones flattened) of
    torch.nn leaf modules other than attention and transformer layers: the graph torch.fx
    would trace is then this chain, read without tracing (~5 ms saved a call); else None."""
    if type(model) is not nn.Sequential:
        return None
    chain = []
    for name, module in model.named_modules(remove_duplicate=False):
        if type(module) is nn.Sequential:
            continue
        if not type(module).__module__.startswith("torch.nn") or isinstance(
                module, (nn.MultiheadAttention, nn.TransformerEncoderLayer,
                         nn.TransformerEncoder)) or any(True for _ in module.children()):
            return None
        chain.append((name, module))
    return chain


def read_graph(model):
    """The graph of ``model``: its nodes in topological order, as read by torch.fx (or,
    for a transformer encoder layer or stack, from its attributes).

    Parameters
    ----------
    model : nn.Module

    Returns
    -------
    (ModelGraph, None) or (None, str)
        The graph, or None and the reason the model cannot be traced.

    Examples
    --------
    >>> import torch
    >>> from initmath.nn.graph import read_graph
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Dropout(),
    ...                           torch.nn.Tanh())
    >>> graph, why = read_graph(net)
    >>> [node.kind for node in graph.nodes], why
    (['input', 'layer', 'transparent', 'activation', 'output'], None)
    """
    if isinstance(model, (nn.TransformerEncoderLayer, nn.TransformerEncoder)):
        builder = _Builder()
        x = builder.add("input", [], name="src")
        expand = (builder.transformer_layer if isinstance(model, nn.TransformerEncoderLayer)
                  else builder.transformer)
        builder.add("output", [expand(model, "", x)], name="output")
        for node in builder.nodes:
            node.name = node.name.lstrip(".")
        return ModelGraph(builder.nodes, "attributes of the transformer layer"), None
    chain = _plain_chain(model)
    if chain is not None:
        builder = _Builder()
        x = builder.add("input", [], name="input")
        for name, module in chain:
            kind, spec = _module_kind(module)
            x = builder.add(kind, [x], module=module, name=name, spec=spec)
        builder.add("output", [x], name="output")
        return ModelGraph(builder.nodes, "nn.Sequential chain"), None
    try:
        traced = fx.symbolic_trace(model)
    except Exception as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        return None, f"torch.fx cannot trace the model ({type(error).__name__}: {first})"
    builder, index = _Builder(), {}
    modules = dict(model.named_modules())
    for node in traced.graph.nodes:
        inputs = _inputs(node, index)
        if node.op == "placeholder":
            index[node] = builder.add("input", [], name=node.name)
        elif node.op == "output":
            index[node] = builder.add("output", inputs, name="output")
        elif node.op == "get_attr":
            index[node] = builder.add("other", [], name=node.name)
        elif node.op == "call_module":
            module = modules[node.target]
            if isinstance(module, nn.TransformerEncoderLayer):
                index[node] = builder.transformer_layer(module, node.target, inputs[0])
            elif isinstance(module, nn.TransformerEncoder):
                index[node] = builder.transformer(module, node.target, inputs[0])
            else:
                kind, spec = _module_kind(module)
                index[node] = builder.add(kind, inputs, module=module, name=node.target,
                                          spec=spec)
                if kind == "attention":
                    builder.nodes[index[node]].info = _attention_info(node, index)
        else:
            kind, spec, info = _function_kind(node, index, builder.nodes)
            index[node] = builder.add(kind, inputs, name=node.name, spec=spec, info=info)
    return ModelGraph(builder.nodes, "torch.fx"), None


# --------------------------------------------------------------------------- consumers
class Consumer(NamedTuple):
    """What reads a node's output, past the transparent nodes: ``kind`` one of
    "activation", "linear" (another linear map), "output", "norm", "residual" (the branch
    side of a residual addition), "sum" (an addition that is not a residual branch's end),
    "stream" (the output is the skip path of a residual block, whose branch reads it
    too), "unknown"; ``node`` the consuming node's index (None for "unknown"); ``reason`` for
    "unknown"."""
    kind: str
    node: int | None = None
    reason: str = ""


def _describe(node):
    return type(node.module).__name__ if node.module is not None else str(node.name)


def consumer(graph, index, branches):
    """The :class:`Consumer` of node ``index``'s output; ``branches`` from
    :func:`residual_branches`."""
    seen = index
    while True:
        users = [u for u in graph.users[seen] if not (
            graph.nodes[u].kind == "other" and graph.nodes[seen].kind == "attention")]
        if not users:
            return Consumer("unknown", reason="its output is not used by the model")
        if len(users) > 1:
            if any(graph.nodes[u].kind == "add" and branches.get(u) not in (None, seen)
                   for u in users):
                # the skip path of a residual block: the output is the stream, read on
                # linearly through the addition (its other users are the branch)
                return Consumer("stream", seen)
            names = ", ".join(_describe(graph.nodes[u]) for u in users)
            return Consumer("unknown", reason=f"its output has several consumers ({names})")
        node = graph.nodes[users[0]]
        if node.kind != "transparent":
            break
        seen = node.index
    kind = {"activation": "activation", "layer": "linear", "attention": "linear",
            "linear-map": "linear",
            "output": "output", "norm": "norm"}.get(node.kind)
    if kind is not None:
        return Consumer(kind, node.index)
    if node.kind == "add":
        return Consumer("residual" if branches.get(node.index) == seen else "sum", node.index)
    return Consumer("unknown", reason=f"followed by {_describe(node)}")


def ancestors(graph):
    """Per node, the set of indices of the nodes it depends on (itself included)."""
    out = []
    for node in graph.nodes:
        found = {node.index}
        for i in node.inputs:
            found |= out[i]
        out.append(found)
    return out


def residual_branches(graph):
    """{index of an addition: the operand that is the residual branch}: of the two operands
    (as read, past transparent nodes), the one with more weight layers between the
    latest node both depend on (the fork) and the addition; the other is the skip path.
    Additions of operands with no common ancestor, or as many layers on each side, have no
    branch (and are not counted as residual additions)."""
    above = ancestors(graph)
    weighted = {n.index for n in graph.nodes if n.kind in ("layer", "attention")}
    out = {}
    for node in graph.nodes:
        if node.kind != "add" or len(node.inputs) != 2:
            continue
        left, right = node.inputs
        common = above[left] & above[right]
        if not common:
            continue
        fork = max(common)
        counts = [len({i for i in above[side] if i > fork} & weighted) for side in (left, right)]
        if counts[0] != counts[1]:
            out[node.index] = node.inputs[counts.index(max(counts))]
    return out

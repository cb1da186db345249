"""Per-operator preflight rules: attribute values and shapes Ember cannot compile.

Each rule looks at one node (with the inferred types of its values) and returns the reason
it cannot be compiled, or None. They mirror the limits of the converters, so `ember check`
names a problem before the import trips over it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import onnx


@dataclass(frozen=True)
class NodeContext:
    """A node, the opset of its domain, the inferred value types and the target device."""

    node: onnx.NodeProto
    opset: int
    value_types: dict[str, onnx.TypeProto]
    device: str
    #: Names of the model's graph inputs (values known only at run time).
    graph_inputs: frozenset[str] = frozenset()

    def attr(self, name: str, default: object = None) -> object:
        """The attribute's Python value, or `default`."""
        for a in self.node.attribute:
            if a.name == name:
                value = onnx.helper.get_attribute_value(a)
                return value.decode() if isinstance(value, bytes) else value
        return default

    def dims(self, index: int) -> list[int | str | None] | None:
        """Inferred dims of input `index` (a name for symbolic, None unknown), or None."""
        if index >= len(self.node.input) or not self.node.input[index]:
            return None
        value_type = self.value_types.get(self.node.input[index])
        if value_type is None or not value_type.tensor_type.HasField("shape"):
            return None
        out: list[int | str | None] = []
        for d in value_type.tensor_type.shape.dim:
            out.append(d.dim_value if d.HasField("dim_value") else (d.dim_param or None))
        return out


Rule = Callable[[NodeContext], str | None]


def _recurrent_shape(ctx: NodeContext) -> str | None:
    dims = ctx.dims(0)
    if dims is None or len(dims) != 3:
        return "dynamic shape where a static one is needed: the rank of X is unknown"
    seq = dims[1] if ctx.attr("layout", 0) == 1 else dims[0]
    if not isinstance(seq, int):
        return f"dynamic shape where a static one is needed: sequence length of X is '{seq}'"
    return None


def _recurrent_attrs(ctx: NodeContext) -> str | None:
    from .converters.activations import SUPPORTED

    names = ctx.attr("activations", [])
    for name in names if isinstance(names, list) else []:
        text = name.decode() if isinstance(name, bytes) else str(name)
        if text.lower() not in SUPPORTED:
            return f"unsupported attribute value activations='{text}'"
    return None


def _loss_attrs(ctx: NodeContext) -> str | None:
    reduction = ctx.attr("reduction", "mean")
    if reduction not in ("none", "sum", "mean"):
        return f"unsupported attribute value reduction='{reduction}'"
    return None


def _scan_length(ctx: NodeContext) -> str | None:
    """Scan is unrolled: the length of its first scan input must be static."""
    num_scan = ctx.attr("num_scan_inputs", 0)
    first = len(ctx.node.input) - num_scan if isinstance(num_scan, int) else 0
    axes = ctx.attr("scan_input_axes", [])
    axis = 1 if ctx.opset < 9 else (axes[0] if isinstance(axes, list) and axes else 0)
    dims = ctx.dims(first)
    if dims is None or not -len(dims) <= axis < len(dims):
        return None  # unknown here; the import reports it if it stays unknown
    length = dims[axis]
    if isinstance(length, str):
        name = ctx.node.input[first]
        return f"dynamic shape where a static one is needed: scan length of '{name}' is '{length}'"
    return None


def _loop_trip_count(ctx: NodeContext) -> str | None:
    """Loop is unrolled: its trip count must be known when the model is compiled."""
    trip = ctx.node.input[0] if ctx.node.input else ""
    if not trip:
        return "Loop without a trip count M (a while loop) cannot be unrolled"
    if trip in ctx.graph_inputs:
        return (
            f"Loop trip count M is the graph input '{trip}', known only at run time "
            f"(pin it with --bind {trip}=N)"
        )
    return None


_SHAPE_RULES: dict[str, Rule] = {
    "Scan": _scan_length,
    "Loop": _loop_trip_count,
    "RNN": _recurrent_shape,
    "GRU": _recurrent_shape,
    "LSTM": _recurrent_shape,
}

_ATTRIBUTE_RULES: dict[str, Rule] = {
    "RNN": _recurrent_attrs,
    "GRU": _recurrent_attrs,
    "LSTM": _recurrent_attrs,
    "NegativeLogLikelihoodLoss": _loss_attrs,
    "SoftmaxCrossEntropyLoss": _loss_attrs,
}


def shape_problem(ctx: NodeContext) -> str | None:
    """Why the node's shapes cannot be compiled, or None."""
    rule = _SHAPE_RULES.get(ctx.node.op_type)
    return rule(ctx) if rule else None


def attribute_problem(ctx: NodeContext) -> str | None:
    """Why the node's attribute values cannot be compiled, or None."""
    rule = _ATTRIBUTE_RULES.get(ctx.node.op_type)
    return rule(ctx) if rule else None

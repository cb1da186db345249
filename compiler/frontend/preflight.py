"""Preflight: every reason Ember cannot compile a model for a target, found all at once.

`ember check` prints the list; `compile_model` runs the same list first, so a model Ember
cannot compile fails with the names of all offending nodes instead of a TVM traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import onnx
from onnx import TensorProto

from ember.errors import UnsupportedModelError

from ..target import Target
from .rules import NodeContext, attribute_problem, shape_problem

#: Element types the runtime can hold (DLPack dtypes with a NumPy equivalent).
SUPPORTED_DTYPES = frozenset(
    {
        TensorProto.FLOAT,
        TensorProto.DOUBLE,
        TensorProto.FLOAT16,
        TensorProto.BFLOAT16,
        TensorProto.INT8,
        TensorProto.INT16,
        TensorProto.INT32,
        TensorProto.INT64,
        TensorProto.UINT8,
        TensorProto.UINT16,
        TensorProto.UINT32,
        TensorProto.UINT64,
        TensorProto.BOOL,
    }
)

#: Operators the importer handles without a converter entry.
_BUILT_IN = frozenset({"If", "Constant"})


@dataclass(frozen=True)
class Problem:
    """One thing Ember cannot compile: where it is and why."""

    node: str
    op_type: str
    opset: int | None
    reason: str

    def line(self) -> str:
        """The problem as one line a person reads."""
        if self.op_type.startswith("graph "):  # a graph input or output, not a node
            return f"{self.op_type} '{self.node}': {self.reason}"
        return f"node '{self.node}' ({self.op_type}, opset {self.opset}): {self.reason}"

    def as_dict(self) -> dict[str, Any]:
        """The problem as JSON-ready fields."""
        return asdict(self)


def preflight(model: onnx.ModelProto, target: Target) -> list[Problem]:
    """Every problem in `model` for `target`: unknown operators, attributes, dtypes, shapes.

    The model must have passed `loader.check_model`. Nodes inside subgraphs (If, Loop and
    Scan bodies) are checked too.
    """
    from .converters import convert_map

    known = convert_map()
    opsets = {entry.domain or "ai.onnx": int(entry.version) for entry in model.opset_import}
    value_types = _value_types(model)
    problems = _graph_dtype_problems(model.graph)
    initialized = {t.name for t in model.graph.initializer}
    graph_inputs = frozenset(v.name for v in model.graph.input if v.name not in initialized)
    for index, node in _walk(model.graph):
        name = node.name or f"#{index}"
        domain = node.domain or "ai.onnx"
        opset = opsets.get(domain)
        ctx = NodeContext(node, opset or 0, value_types, target.device, graph_inputs)
        reason = _node_reason(node, domain, known, ctx)
        if reason:
            problems.append(Problem(name, node.op_type, opset, reason))
    return problems


def _node_reason(node: onnx.NodeProto, domain: str, known: dict[str, Any], ctx: Any) -> str:
    if domain != "ai.onnx":
        return f"unknown domain '{node.domain}' (Ember compiles the default ONNX domain)"
    if node.op_type not in known and node.op_type not in _BUILT_IN:
        return "unknown operator (no converter in Ember or TVM)"
    dtype = _node_dtype_reason(node, ctx.value_types)
    return dtype or attribute_problem(ctx) or shape_problem(ctx) or ""


def _walk(graph: onnx.GraphProto, prefix: str = "") -> Iterator[tuple[str, onnx.NodeProto]]:
    """Nodes of `graph` and of its subgraphs, depth first, with an index path for names."""
    for index, node in enumerate(graph.node):
        yield f"{prefix}{index}", node
        for attr in node.attribute:
            for sub in [attr.g] if attr.HasField("g") else list(attr.graphs):
                yield from _walk(sub, f"{prefix}{index}.{attr.name}.")


def _value_types(model: onnx.ModelProto) -> dict[str, onnx.TypeProto]:
    """Type (with inferred shape) of every value, after ONNX shape inference where it runs."""
    try:
        inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
    except Exception:  # inference is best effort here; import reports real shape errors
        inferred = model
    graph = inferred.graph
    types: dict[str, onnx.TypeProto] = {}
    for value in [*graph.input, *graph.value_info, *graph.output]:
        types[value.name] = value.type
    for init in graph.initializer:
        types.setdefault(init.name, onnx.helper.make_tensor_type_proto(init.data_type, init.dims))
    return types


def _dtype_name(elem_type: int) -> str:
    if elem_type not in TensorProto.DataType.values():  # a corrupt file's type number
        return f"unknown element type {elem_type}"
    return str(TensorProto.DataType.Name(elem_type))


def _unsupported(value_type: onnx.TypeProto) -> str | None:
    """Why a value of this type cannot be an Ember tensor, or None."""
    kind = value_type.WhichOneof("value")
    if kind is None:
        return None
    if kind != "tensor_type":
        return f"{kind.replace('_type', '')} values are not supported (tensors only)"
    elem = value_type.tensor_type.elem_type
    if elem and elem not in SUPPORTED_DTYPES:
        return f"dtype {_dtype_name(elem)} is not supported"
    return None


def _node_dtype_reason(node: onnx.NodeProto, types: dict[str, onnx.TypeProto]) -> str | None:
    for name in [*node.input, *node.output]:
        if name and name in types:
            reason = _unsupported(types[name])
            if reason:
                return f"'{name}': {reason}"
    for attr in node.attribute:
        is_dtype = attr.name in ("to", "output_dtype", "dtype") and attr.type == attr.INT
        if is_dtype and attr.i and attr.i not in SUPPORTED_DTYPES:
            return f"attribute {attr.name}={_dtype_name(attr.i)}: dtype is not supported"
    return None


def _graph_dtype_problems(graph: onnx.GraphProto) -> list[Problem]:
    """Graph inputs and outputs of a type the artifact's signature cannot carry."""
    problems = []
    for kind, values in (("input", graph.input), ("output", graph.output)):
        for value in values:
            reason = _unsupported(value.type)
            if reason:
                problems.append(Problem(value.name, f"graph {kind}", None, reason))
    return problems


def require_clean(model: onnx.ModelProto, target: Target) -> None:
    """Raise one `UnsupportedModelError` listing every preflight problem, if there are any."""
    problems = preflight(model, target)
    if problems:
        lines = "; ".join(p.line() for p in problems)
        raise UnsupportedModelError(
            f"{len(problems)} node(s) cannot be compiled for {target.name}: {lines}"
        )

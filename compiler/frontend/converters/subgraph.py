"""Import one iteration of a control-flow body (a Scan or Loop subgraph) inline.

Ember unrolls Scan and Loop when the iteration count is known at import time: each
iteration's body is converted again, into the enclosing function, with its graph inputs
bound to that iteration's values. Names the body does not define resolve to the enclosing
graph's values (ONNX lexical scoping), so a body may read outer initializers and results.
"""

from __future__ import annotations

import functools
from collections import ChainMap
from collections.abc import Callable, MutableMapping
from typing import Any

import numpy as np
import onnx
import tvm
from tvm import relax
from tvm.relax.frontend.onnx import onnx_frontend

from ember.errors import UnsupportedModelError

#: Operators whose converters return one tuple value for all their outputs (as in TVM).
_TUPLE_VALUED = frozenset(
    {
        "Optional",
        "OptionalGetElement",
        "SequenceConstruct",
        "SequenceEmpty",
        "SequenceErase",
        "SequenceInsert",
        "ConcatFromSequence",
        "SplitToSequence",
    }
)


class BodyConverter(onnx_frontend.OnnxOpConverter):
    """A converter for an operator with a body: `_convert` also receives the model's opset."""

    @classmethod
    def get_converter(cls, opset: int) -> Callable[..., Any]:
        """`_convert` with `opset` bound (the importer passes converters no opset)."""
        return functools.partial(cls._convert, opset=opset)

    @classmethod
    def _convert(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any, opset: int) -> Any:
        raise NotImplementedError


class Body:
    """A body graph, ready to be converted once per iteration."""

    def __init__(self, graph: onnx.GraphProto, opset: int, owner: str) -> None:
        self.graph = graph
        self.opset = opset
        self.owner = owner
        self.input_names = [v.name for v in graph.input]
        self.output_names = [v.name for v in graph.output]
        self._constants = {
            t.name: relax.const(onnx.numpy_helper.to_array(t)) for t in graph.initializer
        }

    def run(
        self, bb: Any, bound: list[Any], outer: MutableMapping[str, Any], params: Any
    ) -> list[Any]:
        """Emit one iteration with the body inputs bound to `bound`; return its outputs."""
        if len(bound) != len(self.input_names):
            raise UnsupportedModelError(
                f"{self.owner} body takes {len(self.input_names)} inputs, got {len(bound)}"
            )
        # The body's own values shadow the outer ones; the outer table is not copied.
        local: dict[str, Any] = {**self._constants}
        local.update(zip(self.input_names, bound, strict=True))
        scope = ChainMap(local, outer)
        for node in self.graph.node:
            results = _convert(bb, node, scope, self.opset, params)
            scope.update((name, r) for name, r in zip(node.output, results, strict=False) if name)
        return [scope[name] for name in self.output_names]


def _convert(
    bb: Any, node: onnx.NodeProto, scope: MutableMapping[str, Any], opset: int, params: Any
) -> list[Any]:
    """Convert one body node with the importer's converters; its outputs in order."""
    inputs = onnx_frontend.onnx_input()
    for name in node.input:
        if name and name not in scope:
            raise UnsupportedModelError(f"body value '{name}' is not defined")
        inputs.append(scope[name] if name else None)
    if node.op_type == "If":
        return _constant_if(bb, node, inputs[0], scope, opset, params)
    converters = onnx_frontend._get_convert_map()
    if node.op_type not in converters:
        raise UnsupportedModelError(f"unknown operator {node.op_type} in a body")
    attr = onnx_frontend.ONNXGraphImporter._parse_attr(None, node.attribute)
    attr["tvm_custom"] = {"name": node.name, "num_outputs": len(node.output)}
    converter = converters[node.op_type].get_converter(opset)
    result = converter(bb, inputs, attr, [scope, params[1] if params else {}])
    if isinstance(result, relax.Expr):
        result = bb.normalize(result)
    return _outputs(bb, node, result)


def _outputs(bb: Any, node: onnx.NodeProto, result: Any) -> list[Any]:
    if node.op_type in _TUPLE_VALUED or len(node.output) == 1:
        return [result]
    if isinstance(result, relax.Tuple):
        return list(result.fields)
    if isinstance(result, (list, tuple)):
        return list(result)
    if isinstance(result.ty, relax.TupleType):
        return [bb.emit(relax.TupleGetItem(result, i)) for i in range(len(result.ty.fields))]
    return [result]


def _constant_if(
    bb: Any,
    node: onnx.NodeProto,
    cond: Any,
    scope: MutableMapping[str, Any],
    opset: int,
    params: Any,
) -> list[Any]:
    """An `If` inside a body whose condition is a constant: the taken branch, inline."""
    value = constant_value(cond)
    if value is None:
        raise UnsupportedModelError("an If inside a Scan or Loop body needs a constant condition")
    name = "then_branch" if bool(value.reshape(-1)[0]) else "else_branch"
    branch = next(a.g for a in node.attribute if a.name == name)
    return Body(branch, opset, "If").run(bb, [], scope, params)


def constant_value(expr: Any) -> np.ndarray | None:
    """The value of a Relax constant (or None when `expr` is computed at run time)."""
    if isinstance(expr, tvm.ir.GenericConst):
        return np.asarray(expr.value.numpy())
    return None


def run_time_tensor(expr: Any) -> bool:
    """Whether `expr` is a tensor computed at run time (not absent, a constant or a shape)."""
    return (
        isinstance(expr, relax.Expr)
        and constant_value(expr) is None
        and isinstance(getattr(expr, "ty", None), relax.TensorType)
    )

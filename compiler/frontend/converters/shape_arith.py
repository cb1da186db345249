"""Integer arithmetic on shape values, kept symbolic through the import.

Exporters compute lengths at run time: PyTorch's dynamo export reads `seq` and `past` with
`Shape`, squeezes them to scalars, adds them, and builds `Range` positions and the shapes of
`Reshape`/`Expand` from the results. TVM's importer represents a shape as a `ShapeExpr` and
one dimension as a `PrimExpr`, but only some converters accept those; the others make them
int64 tensors, and a shape computed from a tensor is data dependent: its dimensions become
fresh unknowns, so `past + seq` of the cache no longer matches `past + seq` of the mask.

Here the operators of shape arithmetic (`SYMBOLIC_OPS`) compute on the dimension
expressions when every input is a shape value (a `ShapeExpr`, a `PrimExpr` or a small int64
constant) and at least one is symbolic; otherwise shape values among their inputs become
int64 tensors and TVM's converter runs, as it would without this layer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import tvm
from tvm import relax, tirx

from ..shape_values import SYMBOLIC_OPS

__all__ = ["SYMBOLIC_OPS", "as_tensor", "dims_of", "symbolic_converter", "symbolic_result"]

#: A shape value as dimension expressions and its rank (0: one scalar, 1: a vector).
Dims = tuple[list[Any], int]

_ELEMENTWISE: dict[str, Callable[[Any, Any], Any]] = {
    "Add": lambda a, b: a + b,
    "Sub": lambda a, b: a - b,
    "Mul": lambda a, b: a * b,
    # Lengths are not negative, where truncating and flooring division agree.
    "Div": lambda a, b: tirx.floordiv(a, b),
    "Max": lambda a, b: tirx.max(a, b),
    "Min": lambda a, b: tirx.min(a, b),
}


#: Constants of more elements than this are data, not shapes.
_MAX_CONSTANT = 16


def dims_of(value: Any) -> Dims | None:
    """`value` as dimension expressions, or None if it is not an int64 shape value."""
    if isinstance(value, relax.ShapeExpr):
        return list(value.values), 1
    if tvm.ir.is_prim_expr(value):
        return ([value], 0) if str(value.ty) == "int64" else None
    if isinstance(value, tvm.ir.GenericConst):
        array = value.value.numpy()
        if array.dtype != np.int64 or array.ndim > 1 or array.size > _MAX_CONSTANT:
            return None
        return [tirx.IntImm("int64", int(v)) for v in array.reshape(-1)], array.ndim
    return None


def _symbolic(value: Any) -> bool:
    return isinstance(value, relax.ShapeExpr) or (
        tvm.ir.is_prim_expr(value) and not isinstance(value, tirx.IntImm)
    )


def as_tensor(bb: Any, value: Any) -> Any:
    """A shape value as an int64 tensor of its rank; other values unchanged."""
    if isinstance(value, relax.ShapeExpr):
        return bb.normalize(relax.op.shape_to_tensor(value))
    if tvm.ir.is_prim_expr(value) and not isinstance(value, tirx.IntImm):
        vector = bb.normalize(relax.op.shape_to_tensor(relax.ShapeExpr([value])))
        return bb.normalize(relax.op.reshape(vector, ()))
    return value


def _result(dims: list[Any], rank: int) -> Any:
    analyzer = tvm.sym.Analyzer()
    simplified = [analyzer.simplify(d) for d in dims]
    return simplified[0] if rank == 0 else relax.ShapeExpr(simplified)


def _elementwise(op: Callable[[Any, Any], Any], a: Dims, b: Dims) -> Any:
    (x, rx), (y, ry) = a, b
    if len(x) != len(y) and 1 not in (len(x), len(y)):
        return None
    count = max(len(x), len(y))
    x = x * count if len(x) == 1 else x
    y = y * count if len(y) == 1 else y
    return _result([op(p, q) for p, q in zip(x, y, strict=True)], max(rx, ry))


def _constant_list(value: Any) -> list[int] | None:
    if isinstance(value, tvm.ir.GenericConst):
        return [int(v) for v in value.value.numpy().reshape(-1)]
    return None


def symbolic_result(op: str, inputs: list[Any], attr: dict[str, Any]) -> Any:
    """The op's result on dimension expressions, or None where it is not shape arithmetic."""
    present = [value for value in inputs if value is not None]
    if not any(_symbolic(value) for value in present):
        return None
    if op == "Range":
        return _range(inputs)
    data = dims_of(inputs[0]) if inputs else None
    if data is None:
        return None
    if op in _ELEMENTWISE:
        other = dims_of(inputs[1]) if len(inputs) > 1 else None
        return None if other is None else _elementwise(_ELEMENTWISE[op], data, other)
    values, rank = data
    if op == "Cast":
        return _result(values, rank) if attr.get("to") == 7 else None  # 7: INT64
    if op == "Squeeze":
        return _result(values, 0) if rank == 1 and len(values) == 1 else None
    if op == "Unsqueeze":
        axes = _constant_list(inputs[1]) if len(inputs) > 1 else list(attr.get("axes", []))
        return _result(values, 1) if rank == 0 and axes in ([0], [-1]) else None
    if op == "Reshape":
        target = _constant_list(inputs[1]) if len(inputs) > 1 else None
        if target == [-1] or (target == [1] and len(values) == 1):
            return _result(values, 1)
        if target == [] and len(values) == 1:
            return _result(values, 0)
    return None


def _range(inputs: list[Any]) -> Any:
    """`Range` with symbolic scalar bounds: its length is known symbolically."""
    bounds = [dims_of(value) for value in inputs[:3]]
    if len(bounds) != 3 or any(b is None or b[1] != 0 for b in bounds):
        return None
    start, limit, delta = (b[0][0] for b in bounds if b is not None)
    if not isinstance(delta, tirx.IntImm) or delta.value <= 0:
        return None
    # Lengths only grow from their start here (positions past..past+seq); a negative
    # count would be an empty range in ONNX, which shape guards do not model.
    return relax.op.arange(start, limit, delta, "int64")


def symbolic_converter(op: str, converter: Any) -> Any:
    """`converter` for `op`, computing on dimension expressions where it can."""

    class Symbolic(converter):
        @classmethod
        def get_converter(cls, opset: int) -> Any:
            convert = converter.get_converter(opset)

            def run(bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
                values = list(inputs)
                result = symbolic_result(op, values, attr)
                if result is not None:
                    return result
                # TVM's converters take shape values as the shape operand of Reshape and
                # as Range bounds, but not as data: those become tensors.
                data = values[:2] if op in _ELEMENTWISE else values[:1]
                if op != "Range" and any(_symbolic(v) for v in data if v is not None):
                    from tvm.relax.frontend.onnx.onnx_frontend import onnx_input

                    tensors = [as_tensor(bb, v) if v is not None else v for v in data]
                    inputs = onnx_input([*tensors, *values[len(data) :]])
                return convert(bb, inputs, attr, params)

            return run

    return Symbolic

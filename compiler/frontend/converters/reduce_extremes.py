"""ReduceMax / ReduceMin over booleans and over empty sets.

TVM's reductions have no identity for bool ("Cannot decide min_value"), so booleans are
reduced as uint8. Over an empty set ONNX defines the identity (-inf / +inf for floats, the
type's lowest / highest value for integers, False / True for bool) where TVM fills in the
lowest finite float; shapes are static, so an empty reduction is known at compile time:
the input has no element while the output has some. A float set of only -inf (+inf for a
min) reduces to the infinity, not to TVM's finite start value.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from tvm import relax
from tvm.relax.frontend.onnx import onnx_frontend
from tvm.relax.frontend.onnx.onnx_frontend import OnnxOpConverter

from .common import dtype_of

op = relax.op


def _elements(expr: Any) -> int | None:
    values = getattr(getattr(expr.ty, "shape", None), "values", None)
    if values is None or not all(hasattr(v, "value") for v in values):
        return None
    return int(np.prod([int(v.value) for v in values], dtype=np.int64))


def _identity(dtype: str, largest: bool) -> float | int | bool:
    """The value a max (largest=False) or min (largest=True) reduction starts from."""
    if dtype == "bool":
        return largest
    if dtype.startswith(("float", "bfloat")):
        return float("inf") if largest else float("-inf")
    info = np.iinfo(dtype)
    return int(info.max if largest else info.min)


def _reduce(
    tvm_class: Any, largest: bool, version: int, bb: Any, inputs: Any, attr: Any, params: Any
) -> Any:
    data = inputs[0]
    dtype = dtype_of(data)
    convert = getattr(tvm_class, f"_impl_v{version}")
    if dtype == "bool":
        widened = [bb.normalize(op.astype(data, "uint8")), *list(inputs)[1:]]
        result = bb.normalize(convert(bb, widened, attr, params))
        result = bb.normalize(op.astype(result, "bool"))
    else:
        result = bb.normalize(convert(bb, inputs, attr, params))
    if _elements(data) == 0 and (_elements(result) or 0) > 0:
        shape = [int(v.value) for v in result.ty.shape.values]
        # A constant: legalizing `full` with a dtype fails in TVM 0.27.
        return relax.const(np.full(shape, _identity(dtype, largest), dtype=dtype), dtype)
    if dtype in ("float16", "float32", "float64") and result is not data:
        return _infinite_extremes(bb, convert, inputs, attr, params, result, largest)
    return result


def _infinite_extremes(
    bb: Any, convert: Any, inputs: Any, attr: Any, params: Any, result: Any, largest: bool
) -> Any:
    """The result with +-inf where TVM returned its finite start value for a set without it.

    TVM starts a max from the lowest finite value, so a set of only -inf (a fully masked
    row) gives that value instead of -inf. A second reduction tells the two apart exactly.
    """
    dtype = dtype_of(inputs[0])
    info = np.finfo(dtype)
    start = relax.const(float(info.max if largest else info.min), dtype)
    # Reduced as the node reduces: max of (x == start) is 1, or min of (x != start) is 0,
    # exactly where some element equals the start value.
    compare = op.not_equal if largest else op.equal
    flags = bb.normalize(op.astype(compare(inputs[0], start), "uint8"))
    seen = bb.normalize(convert(bb, [flags, *list(inputs)[1:]], attr, params))
    absent = relax.const(1 if largest else 0, "uint8")
    missing = op.logical_and(op.equal(result, start), op.equal(seen, absent))
    infinity = relax.const(float("inf") if largest else float("-inf"), dtype)
    return op.where(missing, infinity, result)


class ReduceMax(OnnxOpConverter):
    """Max over `axes` (attribute before opset 18, input from 18)."""

    @classmethod
    def _impl_v11(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        return _reduce(onnx_frontend.ReduceMax, False, 11, bb, inputs, attr, params)

    @classmethod
    def _impl_v18(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        return _reduce(onnx_frontend.ReduceMax, False, 18, bb, inputs, attr, params)


class ReduceMin(OnnxOpConverter):
    """Min over `axes` (attribute before opset 18, input from 18)."""

    @classmethod
    def _impl_v11(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        return _reduce(onnx_frontend.ReduceMin, True, 11, bb, inputs, attr, params)

    @classmethod
    def _impl_v18(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        return _reduce(onnx_frontend.ReduceMin, True, 18, bb, inputs, attr, params)

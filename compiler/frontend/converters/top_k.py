"""TopK whose `k` is computed at run time (a graph input).

TVM's converter needs a constant `k`; a constant keeps that path (its partial sort). A
run-time `k` becomes a symbolic extent of both outputs, matched from its value: the input is
argsorted along the axis (a stable sort, so among equal values the lower index comes first,
as ONNX requires, for the largest as for the smallest), and one kernel takes the first `k`
sorted indices, another the values at them. The outputs are therefore always sorted, which
`sorted=0` (order unspecified) allows too. A `k` outside [0, axis length] is clamped to it
(ONNX requires it inside), so no kernel reads past the axis. Integer types TVM's sort does
not take (uint64, uint8, ...) are sorted on an order-preserving int64 key, `k` constant or not.
"""

from __future__ import annotations

from typing import Any

import tvm
from tvm import relax, te, tirx
from tvm.relax.frontend.onnx import onnx_frontend

from .common import symbolic_values

op = relax.op


def _k(bb: Any, k: Any) -> Any:
    """`k` as an int64 expression: symbolic, matched from its value, when computed."""
    if isinstance(k, tvm.ir.GenericConst):
        return tirx.const(int(k.value.numpy().reshape(-1)[0]), "int64")
    if isinstance(k, relax.ShapeExpr):  # computed from shapes: already an expression
        return k.values[0]
    if tvm.ir.is_prim_expr(k):
        return k
    return symbolic_values(bb, k, 1, "k")[0]


#: Dtypes TVM's CPU sort takes as they are; other integers are sorted on an int64 key.
_SORTABLE = frozenset({"float16", "float32", "float64", "int32", "int64"})


def _sort_key(bb: Any, data: Any) -> Any:
    """`data`, or an int64 tensor in the same order where TVM's sort lacks the dtype.

    Widening keeps the order of every integer type but uint64, whose values above 2**63 wrap
    to negatives: flipping the top bit maps 0 to the smallest int64 and 2**64 - 1 to the
    largest, in order.
    """
    dtype = str(data.ty.dtype)
    if dtype in _SORTABLE or not dtype.startswith(("int", "uint")):
        return data
    key = bb.emit(op.astype(data, "int64"))
    if dtype == "uint64":
        key = bb.emit(op.bitwise_xor(key, relax.const(-(2**63), "int64")))
    return key


def _first_kernel(axis: int, extent: Any) -> Any:
    """The first `extent` entries of `order` along `axis`: the top-k indices."""

    def compute(order: te.Tensor) -> te.Tensor:
        shape = [*order.shape[:axis], extent, *order.shape[axis + 1 :]]
        return te.compute(shape, lambda *i: order[i], name="top_k_indices")

    return compute


def _gather_kernel(axis: int) -> Any:
    """The values of `data` at `indices` along `axis` (indices has the output's shape)."""

    def compute(data: te.Tensor, indices: te.Tensor) -> te.Tensor:
        def body(*i: Any) -> Any:
            return data[(*i[:axis], indices[i], *i[axis + 1 :])]

        return te.compute(indices.shape, body, name="top_k_values")

    return compute


def top_k_run_time(bb: Any, data: Any, k: Any, attr: dict[str, Any]) -> relax.Tuple:
    """(values, int64 indices) of the `k` largest (or smallest) entries along the axis."""
    axis = int(attr.get("axis", -1)) % data.ty.ndim
    largest = bool(attr.get("largest", 1))
    length = data.ty.shape.values[axis]
    zero = tirx.const(0, "int64")
    extent = tirx.min(tirx.max(_k(bb, k), zero), tirx.Cast("int64", length))
    key = _sort_key(bb, data)
    order = bb.emit(op.argsort(key, axis=axis, descending=largest, dtype="int64"))
    indices = bb.emit_te(_first_kernel(axis, extent), order)
    values = bb.emit_te(_gather_kernel(axis), data, indices)
    return relax.Tuple([values, indices])


class TopK(onnx_frontend.TopK):
    """TVM's TopK, with a run-time `k` (opset 10+: `k` is an input) taken too."""

    @classmethod
    def _impl_v10(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        return cls._impl_v11(bb, inputs, attr, params)

    @classmethod
    def _impl_v11(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        k = onnx_frontend.get_constant(inputs[1], params)
        if isinstance(k, tvm.ir.GenericConst) and str(inputs[0].ty.dtype) in _SORTABLE:
            return onnx_frontend.TopK._impl_v11(bb, inputs, attr, params)
        return top_k_run_time(bb, inputs[0], k, attr)

"""Reshape whose target shape is a graph input, known only at run time.

A constant target, or one TVM's importer carries as a shape value (`ShapeExpr`), keeps
TVM's converter. A run-time int64 tensor target of static length `n` gives an output of
rank `n` with symbolic extents: the final dimensions are computed with int64 tensor ops
(ONNX's 0 copies the input's dimension unless `allowzero=1`; -1 is the element count
divided by the product of the other dimensions), then matched into symbolic variables
(`_tensor_to_shape_expr`), and the data is reshaped (a view) to them. Whether the element
counts agree is checked at run time like any reshape to symbolic extents.
"""

from __future__ import annotations

from typing import Any

from tvm import relax, tirx
from tvm.relax.frontend.onnx import onnx_frontend

from ember.errors import UnsupportedModelError

from .subgraph import run_time_tensor

op = relax.op


def _target_length(target: Any) -> int:
    values = getattr(getattr(target.ty, "shape", None), "values", None)
    if values is None or len(values) != 1 or not isinstance(values[0], tirx.IntImm):
        raise UnsupportedModelError(
            "Reshape with a run-time shape needs that shape's length to be static "
            "(bind the shape input with --bind)"
        )
    return int(values[0])


def _int64_vector(bb: Any, dims: list[Any]) -> Any:
    """A static or symbolic list of dimensions as an emitted int64 tensor."""
    return bb.emit(op.shape_to_tensor(relax.ShapeExpr(dims)))


def reshape_to_run_time_shape(bb: Any, data: Any, target: Any, allowzero: bool) -> Any:
    """`data` reshaped to the run-time int64 vector `target` (ONNX's 0 and -1 honoured)."""
    n = _target_length(target)
    dims = list(data.ty.shape.values)
    target = bb.emit(op.astype(target, "int64"))
    zero, one, minus_one = (relax.const(v, "int64") for v in (0, 1, -1))
    if not allowzero:
        # Position i copies the input's dimension i; past the input's rank there is none.
        copied = [dims[i] if i < len(dims) else tirx.const(0, "int64") for i in range(n)]
        target = bb.emit(op.where(op.equal(target, zero), _int64_vector(bb, copied), target))
    count = tirx.const(1, "int64")
    for d in dims:
        count = count * d
    known = bb.emit(op.prod(op.where(op.equal(target, minus_one), one, target)))
    # A zero among the other dimensions leaves -1 undetermined; it becomes 0, not a fault.
    inferred = op.floor_divide(_int64_vector(bb, [count]), op.maximum(known, one))
    final = bb.emit(op.where(op.equal(target, minus_one), inferred, target))
    shape = onnx_frontend._tensor_to_shape_expr(bb, final, n, "reshape_dim")
    return op.reshape(data, shape)


class Reshape(onnx_frontend.Reshape):
    """Inputs data and shape (int64 [n]); attribute allowzero (default 0)."""

    @classmethod
    def _impl_v13(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        data, target = inputs[0], inputs[1]
        if not run_time_tensor(target):
            return super()._impl_v13(bb, inputs, attr, params)
        if isinstance(data, relax.ShapeExpr):
            data = bb.emit(op.shape_to_tensor(data))
        return reshape_to_run_time_shape(bb, data, target, bool(attr.get("allowzero", 0)))

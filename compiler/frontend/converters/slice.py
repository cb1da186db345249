"""Slice whose starts, ends, axes or steps are computed at run time (graph inputs).

TVM's converter takes constant operands to `strided_slice` (kept: the common, fast path);
with run-time ones it emits `dynamic_strided_slice`, whose shape function the build cannot
lower. Here the operands are spread over every dimension of the input (a dimension no axis
names keeps start 0, end its extent, step 1), normalized and clamped as ONNX does
(onnx/reference/ops/op_slice.py: negative indices count from the end; starts and ends are
clamped to [0, n] for a positive step, to [0, n - 1] and [-1, n - 1] for a negative one),
on tensors, and become symbolic int64 values matched at run time (all non-negative: start,
|step|, direction, length). One kernel then copies `x[start + i * step]`, its extent per
dimension the slice length `max(0, ceil((end - start) / step))`. A step of 0 (invalid in
ONNX) is taken as 1 so no extent divides by zero.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tvm
from tvm import relax, te, tirx
from tvm.relax.frontend.onnx import onnx_frontend

from ember.errors import UnsupportedModelError

op = relax.op


def _is_constant(expr: Any) -> bool:
    """Whether TVM's converter takes `expr` as a compile-time operand."""
    return (
        expr is None
        or isinstance(expr, tvm.ir.GenericConst | relax.ShapeExpr)
        or tvm.ir.is_prim_expr(expr)
    )


def _length(expr: Any, what: str) -> int:
    """The static length of a 1-D operand; one error line naming it otherwise."""
    values = getattr(getattr(expr.ty, "shape", None), "values", None)
    if values is None or len(values) != 1 or not isinstance(values[0], tirx.IntImm):
        raise UnsupportedModelError(
            f"Slice input '{what}' needs a static length to be computed at run time "
            "(bind it with --bind)"
        )
    return int(values[0])


def _per_dimension(bb: Any, axes: Any, given: Any, defaults: Any) -> Any:
    """An int64 [rank] tensor: `given` at the (normalized) `axes`, `defaults` elsewhere."""
    return bb.emit(op.scatter_elements(defaults, axes, given))


def _i64(value: int) -> relax.Constant:
    return relax.const(value, "int64")


def _clip(x: Any, low: Any, high: Any) -> Any:
    return op.minimum(op.maximum(x, low), high)


def _normalized(bb: Any, n: Any, start: Any, end: Any, step: Any) -> Any:
    """[start, |step|, forward, length] per dimension, each >= 0, clamped as ONNX does.

    Done on tensors, before the values become symbolic: TVM's arithmetic takes a symbolic
    extent's variables to be non-negative, so a negative one would be simplified wrongly.
    """
    zero, one = _i64(0), _i64(1)
    forward = bb.emit(op.greater(step, zero))
    start = op.where(op.less(start, zero), op.add(start, n), start)
    end = op.where(op.less(end, zero), op.add(end, n), end)
    last = op.subtract(n, one)
    start = bb.emit(op.where(forward, _clip(start, zero, n), _clip(start, zero, last)))
    end = bb.emit(op.where(forward, _clip(end, zero, n), _clip(end, _i64(-1), last)))
    size = bb.emit(op.abs(step))
    # ceil((end - start) / step), as a floor division by the positive |step|.
    span = op.where(forward, op.subtract(end, start), op.subtract(start, end))
    length = op.maximum(op.floor_divide(op.add(span, op.subtract(size, one)), size), zero)
    # An empty dimension with a negative step clamps start to -1; nothing is read there.
    start = op.maximum(start, zero)
    return op.concat([start, size, op.astype(forward, "int64"), length], axis=0)


def _kernel(lengths: list[Any]) -> Any:
    def compute(x: te.Tensor, starts: list[Any], sizes: list[Any], forward: list[Any]) -> Any:
        def body(*i: Any) -> Any:
            index = [
                s + j * t * (2 * f - 1)
                for s, j, t, f in zip(starts, i, sizes, forward, strict=True)
            ]
            return x[tuple(index)]

        return te.compute(lengths, body, name="slice")

    return compute


def slice_run_time(bb: Any, data: Any, starts: Any, ends: Any, axes: Any, steps: Any) -> Any:
    """`data[starts:ends:steps]` along `axes`, any of them run-time int tensors."""
    rank = data.ty.ndim
    if rank < 0:
        raise UnsupportedModelError(
            "Slice with run-time starts/ends needs an input of known rank (bind them with --bind)"
        )
    operands = {"starts": starts, "ends": ends, "axes": axes, "steps": steps}
    tensors = {
        name: bb.emit(onnx_frontend._as_int64_tensor(bb, expr))
        for name, expr in operands.items()
        if expr is not None
    }
    count = _length(tensors["starts"], "starts")
    for name, tensor in tensors.items():
        if _length(tensor, name) != count:
            raise UnsupportedModelError(f"Slice input '{name}' must have as many values as starts")
    given_axes = tensors.get("axes", relax.const(np.arange(count, dtype=np.int64), "int64"))
    axes_tensor = bb.emit(
        op.where(op.less(given_axes, _i64(0)), op.add(given_axes, _i64(rank)), given_axes)
    )
    step_values = tensors.get("steps", relax.const(np.ones(count, np.int64), "int64"))
    # A zero step is invalid ONNX; as 1 it keeps the length's division defined.
    step_values = bb.emit(op.where(op.equal(step_values, _i64(0)), _i64(1), step_values))
    n = bb.emit(op.shape_to_tensor(bb.emit(op.shape_of(data))))
    zeros = relax.const(np.zeros(rank, np.int64), "int64")
    ones = relax.const(np.ones(rank, np.int64), "int64")
    full = _normalized(
        bb,
        n,
        _per_dimension(bb, axes_tensor, tensors["starts"], zeros),
        _per_dimension(bb, axes_tensor, tensors["ends"], n),
        _per_dimension(bb, axes_tensor, step_values, ones),
    )
    values = onnx_frontend._tensor_to_shape_expr(bb, bb.emit(full), 4 * rank, "slice").values
    first, sizes, forward, lengths = (list(values[k * rank : (k + 1) * rank]) for k in range(4))
    # Starts, steps and directions are in no tensor's shape: passed as scalar arguments.
    return bb.emit_te(_kernel(lengths), data, first, sizes, forward)


class Slice(onnx_frontend.Slice):
    """TVM's Slice, with run-time starts, ends, axes and steps taken too."""

    @classmethod
    def _impl_v10(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        return cls._impl_v13(bb, inputs, attr, params)

    @classmethod
    def _impl_v13(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        operands = [
            onnx_frontend.get_constant(inputs[i], params) if i < len(inputs) else None
            for i in range(1, 5)
        ]
        if all(_is_constant(o) for o in operands) or isinstance(inputs[0], relax.ShapeExpr):
            return onnx_frontend.Slice._impl_v13(bb, inputs, attr, params)
        return slice_run_time(bb, inputs[0], *operands)

"""ONNX `Pad` whose pads (and axes) are a run-time input, in every mode.

TVM's converter needs the pads as a constant. A model that takes them as an input decides
the output's extent at run time: the output shape is read from the pads tensor (fresh
symbolic dimensions), and each axis is built by gathering the input at `arange(out) - begin`
mapped into range (clamped for "edge" and "constant", mirrored for "reflect", modulo the
length for "wrap"), which also crops for negative pads; "constant" mode then replaces the
positions outside the input with the pad value. Run-time `axes` spread their pads over all
dimensions first (zero for the others). Constant pads go to TVM's converter as before.
"""

from __future__ import annotations

from typing import Any

from tvm import relax, tirx
from tvm.relax.frontend.onnx import onnx_frontend

from ember.errors import UnsupportedModelError

from .common import text
from .run_time_axes import axis_hits
from .shape_arith import as_tensor
from .subgraph import constant_value


class Pad(onnx_frontend.OnnxOpConverter):
    """Pads as an input from opset 11 (and optional axes from 18)."""

    @classmethod
    def _impl_v2(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        return onnx_frontend.Pad.get_converter(2)(bb, inputs, attr, params)

    @classmethod
    def _impl_v11(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        values = list(inputs)
        if constant_value(values[1]) is not None:
            opset = 18 if len(values) > 3 else 11
            return onnx_frontend.Pad.get_converter(opset)(bb, inputs, attr, params)
        mode = text(attr.get("mode", b"constant"))
        if mode not in ("constant", "edge", "reflect", "wrap"):
            raise UnsupportedModelError(f"Pad mode '{mode}' is not an ONNX Pad mode")
        pads = bb.emit(relax.op.astype(values[1], "int64"))
        if len(values) > 3 and values[3] is not None:
            pads = _spread_over_axes(bb, pads, values[3], len(values[0].ty.shape.values))
        fill = values[2] if len(values) > 2 else None
        return _run_time_pad(bb, values[0], pads, fill, mode)


def _spread_over_axes(bb: Any, pads: Any, axes: Any, rank: int) -> Any:
    """Pads for the listed `axes` ([begins..., ends...]) as pads for all `rank` dimensions."""
    op = relax.op
    count = axes.ty.shape.values[0]
    hits = axis_hits(bb, axes, rank)  # hits[j, d] = 1 where the j-th listed axis is d
    halves = []
    for part in range(2):
        listed = bb.emit(op.strided_slice(pads, [0], [part * count], [(part + 1) * count]))
        halves.append(op.sum(op.multiply(hits, op.expand_dims(listed, 1)), axis=[0]))
    return bb.emit(op.concat(halves, axis=0))


def _run_time_pad(bb: Any, data: Any, pads: Any, fill: Any, mode: str) -> Any:
    shape = list(data.ty.shape.values)
    rank = len(shape)
    in_shape = bb.emit(relax.op.shape_to_tensor(relax.op.shape_of(data)))
    begin = bb.emit(relax.op.strided_slice(pads, [0], [0], [rank]))
    end = bb.emit(relax.op.strided_slice(pads, [0], [rank], [2 * rank]))
    out_tensor = bb.emit(relax.op.add(relax.op.add(in_shape, begin), end))
    out_shape = onnx_frontend._tensor_to_shape_expr(bb, out_tensor, rank, "pad_dim")
    result, inside = data, None
    for axis, extent in enumerate(out_shape.values):
        start = bb.emit(relax.op.take(begin, relax.const(axis, "int64"), axis=0))
        index = bb.emit(relax.op.subtract(relax.op.arange(0, extent, 1, "int64"), start))
        last = as_tensor(bb, shape[axis] - 1)
        source = _into_range(bb, index, shape[axis], mode)
        result = bb.emit(relax.op.take(result, source, axis=axis))
        if mode == "constant":
            valid = relax.op.logical_and(
                relax.op.greater_equal(index, relax.const(0, "int64")),
                relax.op.less_equal(index, last),
            )
            placed = [1] * rank
            placed[axis] = extent
            valid = bb.emit(relax.op.reshape(valid, relax.ShapeExpr(placed)))
            inside = valid if inside is None else bb.emit(relax.op.logical_and(inside, valid))
    if inside is None:
        return result
    dtype = str(data.ty.dtype)
    value = relax.const(0, dtype) if fill is None else relax.op.astype(fill, dtype)
    return relax.op.where(inside, result, value)


def _int64(bb: Any, value: Any) -> Any:
    """An int64 0-d tensor of a static or symbolic extent."""
    if isinstance(value, tirx.IntImm):
        return relax.const(int(value), "int64")
    return as_tensor(bb, value)


def _into_range(bb: Any, index: Any, length: Any, mode: str) -> Any:
    """Source positions in `[0, length)` for the output positions' `index` (may be outside)."""
    op = relax.op
    last = _int64(bb, length - 1)
    if mode == "wrap":
        return bb.emit(op.floor_mod(index, _int64(bb, length)))
    if mode == "reflect":
        # Mirrored about both ends, which are not repeated: a period of 2 * (length - 1).
        period = _int64(bb, tirx.max(2 * (length - 1), 1))
        folded = bb.emit(op.floor_mod(index, period))
        mirrored = op.where(op.greater(folded, last), op.subtract(period, folded), folded)
        return bb.emit(op.minimum(mirrored, last))
    return bb.emit(op.minimum(op.maximum(index, relax.const(0, "int64")), last))

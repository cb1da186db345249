"""ONNX `Pad` whose pads are a run-time input ("constant" and "edge" modes).

TVM's converter needs the pads as a constant. A model that takes them as an input decides
the output's extent at run time: the output shape is read from the pads tensor (fresh
symbolic dimensions), and each axis is built by gathering the input at `arange(out) - begin`
(clamped into range), which also crops for negative pads; "constant" mode then replaces the
positions outside the input with the pad value. Constant pads go to TVM's converter as before.
"""

from __future__ import annotations

from typing import Any

from tvm import relax
from tvm.relax.frontend.onnx import onnx_frontend

from ember.errors import UnsupportedModelError

from .common import text
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
        if len(values) > 3 and values[3] is not None:
            raise UnsupportedModelError("Pad with run-time pads needs no axes input")
        mode = text(attr.get("mode", b"constant"))
        if mode not in ("constant", "edge"):
            raise UnsupportedModelError(
                f"Pad mode '{mode}' with run-time pads (bind the pads with --bind)"
            )
        fill = values[2] if len(values) > 2 else None
        return _run_time_pad(bb, values[0], values[1], fill, mode)


def _run_time_pad(bb: Any, data: Any, pads: Any, fill: Any, mode: str) -> Any:
    shape = list(data.ty.shape.values)
    rank = len(shape)
    pads = bb.emit(relax.op.astype(pads, "int64"))
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
        clamped = relax.op.minimum(relax.op.maximum(index, relax.const(0, "int64")), last)
        result = bb.emit(relax.op.take(result, bb.emit(clamped), axis=axis))
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

"""Quantized convolution and matrix product: QLinearMatMul, QLinearConv, ConvInteger.

TVM 0.27 has QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear and MatMulInteger, but
none of these three. They are lowered as ONNX Runtime computes them, so the results agree
bit for bit: the zero points are subtracted in int32, the product accumulates exactly in
int32, and the accumulator is requantized once with the combined float scale
`a_scale * b_scale / y_scale`, rounded half to even and saturated to the output type.
(Dequantizing to float before the product would round every partial sum instead.)
"""

from __future__ import annotations

from typing import Any

import numpy as np
from tvm import relax
from tvm.relax.frontend.onnx.onnx_frontend import OnnxOpConverter

from .common import dtype_of

op = relax.op


def _centered(x: Any, zero_point: Any | None) -> Any:
    """`x - zero_point` in int32 (zero_point broadcasts: a scalar or per-axis vector)."""
    x32 = op.astype(x, "int32")
    return x32 if zero_point is None else op.subtract(x32, op.astype(zero_point, "int32"))


def _requantize(bb: Any, acc: Any, scale: Any, y_scale: Any, y_zero: Any | None) -> Any:
    """Saturate(round_half_even(acc * scale / y_scale) + y_zero) in y_zero's dtype."""
    ratio = op.divide(op.astype(scale, "float32"), op.astype(y_scale, "float32"))
    real = op.multiply(op.astype(acc, "float32"), ratio)
    rounded = op.round(real)  # TVM's round is nearbyint: half to even
    out_dtype = dtype_of(y_zero) if y_zero is not None else "uint8"
    if y_zero is not None:
        rounded = op.add(rounded, op.astype(y_zero, "float32"))
    info = np.iinfo(out_dtype)
    clipped = op.clip(rounded, float(info.min), float(info.max))
    return bb.emit(op.astype(clipped, out_dtype))


def _opt(inputs: Any, index: int) -> Any | None:
    return inputs[index] if len(inputs) > index else None


class QLinearMatMul(OnnxOpConverter):
    """Inputs a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point."""

    @classmethod
    def _impl_v10(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        a, a_scale, a_zero, b, b_scale, b_zero, y_scale, y_zero = list(inputs)[:8]
        acc = bb.emit(op.matmul(_centered(a, a_zero), _centered(b, b_zero), out_dtype="int32"))
        scale = op.multiply(op.astype(a_scale, "float32"), op.astype(b_scale, "float32"))
        return _requantize(bb, acc, scale, y_scale, y_zero)


def _per_channel(bb: Any, value: Any | None, rank: int) -> Any | None:
    """A per-output-channel vector (M,) as (M, 1, ...) for the weight or (1, M, 1, ...)."""
    if value is None or len(value.ty.shape) == 0:
        return value
    return bb.emit(op.reshape(value, [-1] + [1] * (rank - 1)))


def _conv(bb: Any, x: Any, w: Any, attr: dict[str, Any], opset: int) -> Any:
    """TVM's own Conv converter (auto_pad, groups, 1-3 spatial dims) on int32 operands."""
    from tvm.relax.frontend.onnx import onnx_frontend

    conv = onnx_frontend.Conv.get_converter(max(opset, 11))
    return bb.emit(conv(bb, [bb.emit(x), bb.emit(w), None], dict(attr), None))


class ConvInteger(OnnxOpConverter):
    """Inputs x, w, x_zero_point, w_zero_point; an int32 convolution."""

    @classmethod
    def _impl_v10(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        x, w = inputs[0], inputs[1]
        rank = len(w.ty.shape)
        w_zero = _per_channel(bb, _opt(inputs, 3), rank)
        return _conv(bb, _centered(x, _opt(inputs, 2)), _centered(w, w_zero), attr, 10)


class QLinearConv(OnnxOpConverter):
    """Inputs x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale, y_zero_point, B."""

    @classmethod
    def _impl_v10(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        x, x_scale, x_zero, w, w_scale, w_zero, y_scale, y_zero = list(inputs)[:8]
        bias = _opt(inputs, 8)
        rank = len(w.ty.shape)
        w_zero = _per_channel(bb, w_zero, rank)
        acc = _conv(bb, _centered(x, x_zero), _centered(w, w_zero), attr, 10)
        if bias is not None:
            bias32 = bb.emit(op.astype(bias, "int32"))
            acc = op.add(acc, op.reshape(bias32, [1, -1] + [1] * (rank - 2)))
        scale = op.astype(x_scale, "float32")
        w_scale32 = bb.emit(op.astype(w_scale, "float32"))
        if len(w_scale.ty.shape) == 1:  # per output channel: broadcast over (N, M, ...)
            w_scale32 = op.reshape(w_scale32, [1, -1] + [1] * (rank - 2))
        return _requantize(bb, acc, op.multiply(scale, w_scale32), y_scale, y_zero)

"""Pow, Mod, BitShift and IsInf where ONNX defines more than TVM's converters compute.

* Pow takes a base and an exponent of different types (the result has the base's type);
  integer powers are computed in float64 and cast back, which is exact below 2**53.
* Mod with fmod=0 on floats is Python's modulo: the result takes the divisor's sign, and
  `x mod ±inf` is x or ±inf (TVM's `x - floor(x / y) * y` gives NaN there).
* BitShift by a negative amount or by at least the bit width (the amount read as unsigned)
  shifts everything out: 0, or -1 for a negative value shifted right.
* IsInf honours detect_positive / detect_negative.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from tvm import relax
from tvm.relax.frontend.onnx import onnx_frontend
from tvm.relax.frontend.onnx.onnx_frontend import OnnxOpConverter

from .common import const, dtype_of, text

op = relax.op


def _is_float(dtype: str) -> bool:
    return dtype.startswith(("float", "bfloat"))


class Pow(OnnxOpConverter):
    """Y = X ** E with X's type."""

    @classmethod
    def _impl_v7(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        base, exponent = inputs[0], inputs[1]
        dtype = dtype_of(base)
        if _is_float(dtype):
            if dtype_of(exponent) != dtype:
                exponent = op.astype(exponent, dtype)
            return onnx_frontend.Pow._impl_v7(bb, [base, bb.normalize(exponent)], attr, params)
        wide = op.power(op.astype(base, "float64"), op.astype(exponent, "float64"))
        return op.astype(wide, dtype)


class Mod(OnnxOpConverter):
    """fmod=1: C's fmod; fmod=0: the divisor's sign (integers: TVM's floor_mod)."""

    @classmethod
    def _impl_v10(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        x, y = inputs[0], inputs[1]
        dtype = dtype_of(x)
        if attr.get("fmod", 0) == 1 or not _is_float(dtype):
            return onnx_frontend.Mod._impl_v10(bb, inputs, attr, params)
        zero = const(0.0, dtype)
        rest = bb.emit(op.mod(x, y))  # truncated: the sign of x
        flip = op.logical_and(
            op.not_equal(rest, zero), op.logical_xor(op.less(rest, zero), op.less(y, zero))
        )
        moved = op.where(flip, op.add(rest, y), rest)
        signed_zero = op.where(op.less(y, zero), const(-0.0, dtype), zero)
        return op.where(op.equal(rest, zero), signed_zero, moved)


class BitShift(OnnxOpConverter):
    """Shifts by [0, bits) as TVM does; larger (or negative) amounts shift every bit out."""

    @classmethod
    def _impl_v11(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        x, amount = inputs[0], inputs[1]
        dtype = dtype_of(x)
        bits = np.iinfo(dtype).bits
        zero = const(0, dtype)
        out_of_range = op.greater_equal(amount, const(bits, dtype))
        if np.iinfo(dtype).min < 0:
            out_of_range = op.logical_or(out_of_range, op.less(amount, zero))
        out_of_range = bb.emit(out_of_range)
        safe = bb.emit(op.where(out_of_range, zero, amount))
        if text(attr.get("direction", b"LEFT")) == "LEFT":
            return op.where(out_of_range, zero, op.left_shift(x, safe))
        if np.iinfo(dtype).min < 0:
            spilled = op.where(op.less(x, zero), const(-1, dtype), zero)
        else:
            spilled = zero
        return op.where(out_of_range, spilled, op.right_shift(x, safe))


class IsInf(OnnxOpConverter):
    """True for +inf (detect_positive) and -inf (detect_negative), both by default."""

    @classmethod
    def _impl_v10(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        x = inputs[0]
        positive, negative = attr.get("detect_positive", 1), attr.get("detect_negative", 1)
        infinite = op.isinf(x)
        if positive and negative:
            return infinite
        if not positive and not negative:
            return op.logical_and(infinite, op.not_equal(x, x))  # always false, same shape
        zero = const(0.0, dtype_of(x))
        sign = op.greater(x, zero) if positive else op.less(x, zero)
        return op.logical_and(infinite, sign)

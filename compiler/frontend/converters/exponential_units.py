"""Elu and Celu in the input's own dtype.

TVM's Elu builds its constants as float32, so a float16 (or float64) Elu fails to type; and
TVM has no Celu. Both are `max(0, x) + min(0, alpha * (exp(x / alpha') - 1))`, with
alpha' = 1 for Elu and alpha' = alpha for Celu.
"""

from __future__ import annotations

from typing import Any

from tvm import relax
from tvm.relax.frontend.onnx.onnx_frontend import OnnxOpConverter

from .common import const, dtype_of

op = relax.op


def _exponential_unit(x: Any, alpha: float, divisor: float) -> Any:
    dtype = dtype_of(x)
    zero, one = const(0.0, dtype), const(1.0, dtype)
    scaled = x if divisor == 1.0 else op.divide(x, const(divisor, dtype))
    negative = op.multiply(const(alpha, dtype), op.subtract(op.exp(scaled), one))
    return op.add(op.maximum(x, zero), op.minimum(negative, zero))


class Elu(OnnxOpConverter):
    """x for x > 0, alpha * (exp(x) - 1) otherwise."""

    @classmethod
    def _impl_v1(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        return _exponential_unit(inputs[0], float(attr.get("alpha", 1.0)), 1.0)


class Celu(OnnxOpConverter):
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1))."""

    @classmethod
    def _impl_v12(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        alpha = float(attr.get("alpha", 1.0))
        return _exponential_unit(inputs[0], alpha, alpha)

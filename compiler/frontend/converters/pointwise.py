"""Element-wise activations TVM 0.27's importer lacks: Celu and Swish."""

from __future__ import annotations

from typing import Any

from tvm import relax
from tvm.relax.frontend.onnx.onnx_frontend import OnnxOpConverter

from .common import const, dtype_of

op = relax.op


class Celu(OnnxOpConverter):
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1))."""

    @classmethod
    def _impl_v12(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        x = inputs[0]
        dtype = dtype_of(x)
        alpha = const(float(attr.get("alpha", 1.0)), dtype)
        zero = const(0.0, dtype)
        negative = op.multiply(alpha, op.subtract(op.exp(op.divide(x, alpha)), const(1.0, dtype)))
        return bb.emit(op.add(op.maximum(x, zero), op.minimum(negative, zero)))


class Swish(OnnxOpConverter):
    """x * sigmoid(alpha * x)."""

    @classmethod
    def _impl_v24(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        x = inputs[0]
        alpha = const(float(attr.get("alpha", 1.0)), dtype_of(x))
        return bb.emit(op.multiply(x, op.sigmoid(op.multiply(alpha, x))))


class Gelu(OnnxOpConverter):
    """GELU, erf form or (approximate="tanh") tanh form, at every opset.

    The front end writes this node for GELU spelled out in elementary operators
    (`gelu_patterns.py`), whatever the model's opset; ONNX's own Gelu is opset 20 and ONNX
    Runtime's contrib Gelu has no attribute, so honouring the attribute serves all three.
    """

    @classmethod
    def _impl_v1(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        approximate = attr.get("approximate", "none")
        if isinstance(approximate, bytes):
            approximate = approximate.decode()
        if approximate == "tanh":
            return bb.emit(op.nn.gelu_tanh(inputs[0]))
        return bb.emit(op.nn.gelu(inputs[0]))


class Elu(OnnxOpConverter):
    """x for x >= 0, alpha * (exp(x) - 1) below.

    The constants take x's type: TVM's are float32, which fails to import for float16 x.
    """

    @classmethod
    def _impl_v1(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        x = inputs[0]
        dtype = dtype_of(x)
        alpha = const(float(attr.get("alpha", 1.0)), dtype)
        negative = op.multiply(alpha, op.subtract(op.exp(x), const(1.0, dtype)))
        return bb.emit(op.where(op.less(x, const(0.0, dtype)), negative, x))

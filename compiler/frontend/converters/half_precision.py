"""MatMul, Gemm, Conv, Softmax, LogSoftmax of float16 computed in float32, rounded once.

TVM computes them in float16, rounding every partial sum (a dot product, the softmax
denominator); ONNX Runtime accumulates in float32, so results differed by a few float16
ulps. x86 has no float16 arithmetic to lose: every float16 operation is float32 underneath.
"""

from __future__ import annotations

from typing import Any

from tvm import relax
from tvm.relax.frontend.onnx import onnx_frontend
from tvm.relax.frontend.onnx.onnx_frontend import OnnxOpConverter

from .common import dtype_of

op = relax.op


def _in_float32(bb: Any, convert: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
    """`convert` on float16 `inputs` widened to float32, narrowed back; others as they are."""
    present = [x for x in inputs if x is not None]
    if not all(dtype_of(x) == "float16" for x in present):
        return convert(bb, inputs, attr, params)
    # TVM's converters read absent optional inputs as None past the end of the list.
    wide = onnx_frontend.onnx_input(
        x if x is None else bb.normalize(op.astype(x, "float32")) for x in inputs
    )
    return op.astype(bb.normalize(convert(bb, wide, attr, params)), "float16")


class MatMul(OnnxOpConverter):
    """Numpy-style matmul."""

    @classmethod
    def _impl_v13(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        return _in_float32(bb, onnx_frontend.MatMul._impl_v13, inputs, attr, params)


class Gemm(OnnxOpConverter):
    """alpha * A' B' + beta * C."""

    @classmethod
    def _impl_v13(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        return _in_float32(bb, onnx_frontend.Gemm._impl_v13, inputs, attr, params)


class Conv(OnnxOpConverter):
    """N-d convolution with optional bias."""

    @classmethod
    def _impl_v11(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        return _in_float32(bb, onnx_frontend.Conv._impl_v11, inputs, attr, params)


class Softmax(OnnxOpConverter):
    """Softmax (opset 1-12 flattens at `axis`; 13+ normalizes along it)."""

    @classmethod
    def _impl_v1(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        return _in_float32(bb, onnx_frontend.Softmax._impl_v1, inputs, attr, params)

    @classmethod
    def _impl_v13(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        return _in_float32(bb, onnx_frontend.Softmax._impl_v13, inputs, attr, params)


class LogSoftmax(OnnxOpConverter):
    """LogSoftmax (opset 1-12 flattens at `axis`; 13+ normalizes along it)."""

    @classmethod
    def _impl_v1(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        return _in_float32(bb, onnx_frontend.LogSoftmax._impl_v1, inputs, attr, params)

    @classmethod
    def _impl_v13(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        return _in_float32(bb, onnx_frontend.LogSoftmax._impl_v13, inputs, attr, params)

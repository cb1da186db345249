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


def _widened(base: type[OnnxOpConverter], versions: tuple[int, ...]) -> type[OnnxOpConverter]:
    """A converter running `base`'s `_impl_v<N>` of each version through `_in_float32`."""

    def forward(version: int) -> Any:
        convert = getattr(base, f"_impl_v{version}")

        def impl(cls: Any, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
            return _in_float32(bb, convert, inputs, attr, params)

        return classmethod(impl)

    methods = {f"_impl_v{v}": forward(v) for v in versions}
    return type(base.__name__, (OnnxOpConverter,), {"__doc__": base.__doc__, **methods})


# The opsets at which TVM's converters change; the newest at or below the model's is used.
MatMul = _widened(onnx_frontend.MatMul, (13,))
Gemm = _widened(onnx_frontend.Gemm, (13,))
Conv = _widened(onnx_frontend.Conv, (11,))
Softmax = _widened(onnx_frontend.Softmax, (1, 13))
LogSoftmax = _widened(onnx_frontend.LogSoftmax, (1, 13))

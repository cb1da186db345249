"""EyeLike with a `dtype` attribute that differs from the input's.

TVM's converter refuses it, and legalizing `eye_like` with a dtype keeps the input's dtype;
the identity is built in the input's dtype and cast (0 and 1 are exact in every type).
"""

from __future__ import annotations

from typing import Any

from tvm import relax
from tvm.relax.frontend.onnx.onnx_frontend import OnnxOpConverter, get_type

from .common import dtype_of


class EyeLike(OnnxOpConverter):
    """Ones on diagonal k of a 2-D tensor shaped like the input, in `dtype` (or the input's)."""

    @classmethod
    def _impl_v9(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        dtype = get_type(attr["dtype"]) if "dtype" in attr else dtype_of(inputs[0])
        eye = relax.op.eye_like(inputs[0], int(attr.get("k", 0)))
        return eye if dtype == dtype_of(inputs[0]) else relax.op.astype(eye, dtype)

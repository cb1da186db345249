"""BitCast: reinterpret each element's bits as another type of the same width."""

from __future__ import annotations

from typing import Any

from onnx import helper
from tvm import relax, topi
from tvm.relax.frontend.onnx.onnx_frontend import OnnxOpConverter

from ember.errors import UnsupportedModelError

from .common import dtype_of


def _bits(dtype: str) -> int:
    return 8 if dtype == "bool" else int("".join(c for c in dtype if c.isdigit()) or 0)


class BitCast(OnnxOpConverter):
    """Same shape, same bit pattern, element type `to` (of the input's width)."""

    @classmethod
    def _impl_v26(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        data = inputs[0]
        source = dtype_of(data)
        target = str(helper.tensor_dtype_to_np_dtype(int(attr["to"])))
        if _bits(source) != _bits(target):
            raise UnsupportedModelError(
                f"BitCast from {source} to {target}: the types differ in width"
            )
        if source == target:
            return data
        if "bool" in (source, target):  # one byte holding 0 or 1: a value cast is the same
            return bb.emit(relax.op.astype(data, target))
        return bb.emit_te(topi.reinterpret, data, target)

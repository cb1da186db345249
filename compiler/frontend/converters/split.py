"""Split into pieces that may be empty or uneven.

`relax.op.split` takes strictly increasing split points, so a zero-length piece (ONNX allows
`split = [0, 0, 0]`, or a 0 among others) fails to type; and opset 18's `num_outputs` that
does not divide the axis makes every piece ceil(n / k) long but the last. Such splits are
taken apart with one `strided_slice` per piece; all others go to TVM's converter.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tvm
from tvm import relax
from tvm.relax.frontend.onnx import onnx_frontend
from tvm.relax.frontend.onnx.onnx_frontend import OnnxOpConverter

from .common import static_shape_dim


def _pieces(bb: Any, data: Any, sizes: list[int], axis: int) -> relax.Tuple:
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(int)
    return relax.Tuple(
        [
            bb.emit(relax.op.strided_slice(data, [axis], [int(s)], [int(s) + n]))
            for s, n in zip(starts, sizes, strict=True)
        ]
    )


def _sizes(split: Any) -> list[int] | None:
    """Constant split sizes, or None (absent or computed)."""
    if split is None or not isinstance(split, tvm.ir.GenericConst):
        return None
    return [int(v) for v in split.value.numpy().reshape(-1)]


def _axis(data: Any, attr: dict[str, Any]) -> int:
    return int(attr.get("axis", 0)) % data.ty.ndim


class Split(OnnxOpConverter):
    """Split sizes from the `split` attribute (opset < 13) or input (13+), or `num_outputs`."""

    @classmethod
    def _impl_v1(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        sizes = [int(v) for v in attr.get("split", ())]
        if sizes and 0 in sizes:
            return _pieces(bb, inputs[0], sizes, _axis(inputs[0], attr))
        return onnx_frontend.Split._impl_v1(bb, inputs, attr, params)

    @classmethod
    def _impl_v13(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        sizes = _sizes(inputs[1])
        if sizes and 0 in sizes:
            return _pieces(bb, inputs[0], sizes, _axis(inputs[0], attr))
        return onnx_frontend.Split._impl_v13(bb, inputs, attr, params)

    @classmethod
    def _impl_v18(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        data, axis = inputs[0], _axis(inputs[0], attr)
        count = attr.get("num_outputs")
        if inputs[1] is not None or count is None:
            return cls._impl_v13(bb, inputs, attr, params)
        length = static_shape_dim(data, axis, "Split's axis with num_outputs")
        chunk = -(-length // int(count))
        sizes = [min(chunk, max(length - i * chunk, 0)) for i in range(int(count))]
        return _pieces(bb, data, sizes, axis)

"""Split into pieces that may be empty or uneven.

`relax.op.split` takes strictly increasing split points, so a zero-length piece (ONNX allows
`split = [0, 0, 0]`, or a 0 among others) fails to type; and opset 18's `num_outputs` that
does not divide the axis makes every piece ceil(n / k) long but the last. Such splits are
taken apart with one `strided_slice` per piece; all others go to TVM's converter.

Split sizes computed at run time (a graph input) become symbolic extents matched from their
values: the number of pieces is static (the node's output count), each piece's extent along
the axis is its size, and one kernel per piece copies from the offset that the earlier sizes
add up to. The input is matched against the sizes' sum first, so sizes that do not add up to
the axis fail at run time instead of reading outside it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tvm
from tvm import relax, te, tirx
from tvm.relax.frontend.onnx import onnx_frontend
from tvm.relax.frontend.onnx.onnx_frontend import OnnxOpConverter

from .common import static_shape_dim, symbolic_values


def _pieces(bb: Any, data: Any, sizes: list[int], axis: int) -> relax.Tuple:
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(int)
    return relax.Tuple(
        [
            bb.emit(relax.op.strided_slice(data, [axis], [int(s)], [int(s) + n]))
            for s, n in zip(starts, sizes, strict=True)
        ]
    )


def _piece_kernel(axis: int, size: Any) -> Any:
    """Copies `size` elements along `axis` from `offset` on."""

    def compute(x: te.Tensor, offset: Any) -> te.Tensor:
        shape = [*x.shape[:axis], size, *x.shape[axis + 1 :]]

        def body(*index: Any) -> Any:
            return x[(*index[:axis], index[axis] + offset, *index[axis + 1 :])]

        return te.compute(shape, body, name="split_piece")

    return compute


def _run_time_pieces(bb: Any, data: Any, split: Any, count: int, axis: int) -> relax.Tuple:
    """`data` in `count` pieces along `axis`, sized by the run-time int tensor `split`."""
    sizes = _size_exprs(bb, split, count)
    total: Any = tirx.const(0, "int64")
    for size in sizes:
        total = total + size
    shape = list(data.ty.shape.values)
    # A runtime check that the sizes add up to the axis (ONNX requires it): the kernels
    # below read from offsets the sizes give, never past the axis.
    shape[axis] = total
    data = bb.match_cast(data, relax.TensorType(shape, str(data.ty.dtype)))
    pieces = []
    offset: Any = tirx.const(0, "int64")
    for size in sizes:
        # The offset's variables are in no shape of this kernel: passed as a scalar argument.
        pieces.append(bb.emit_te(_piece_kernel(axis, size), data, offset))
        offset = offset + size
    return relax.Tuple(pieces)


def _size_exprs(bb: Any, split: Any, count: int) -> list[Any]:
    """The `count` run-time sizes as int64 TIR expressions (symbolic, matched from values)."""
    if isinstance(split, relax.ShapeExpr):  # computed from shapes: already expressions
        return list(split.values)
    return symbolic_values(bb, split, count, "split")


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
        split = inputs[1]
        if split is not None:
            split = onnx_frontend.get_constant(split, params)
        if split is not None and not isinstance(split, tvm.ir.GenericConst):
            count = int(attr["tvm_custom"]["num_outputs"])
            return _run_time_pieces(bb, inputs[0], split, count, _axis(inputs[0], attr))
        sizes = _sizes(split)
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

"""OneHot with its `values` (off, on) pair computed at run time.

TVM's converter needs `values` as a constant, although only `depth` sets a shape. Here the
one-hot mask is built with constant 1/0 and the pair is applied with `where`, so `values`
may be any tensor. Indices in [-depth, -1] count from the end; indices outside
[-depth, depth - 1] give an all-off row, as ONNX specifies. A `depth` computed at run time
becomes a symbolic extent of the output (matched from its value), and the mask a kernel
that compares each index with its position along that extent.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tvm
from tvm import relax, te, tirx
from tvm.relax.frontend.onnx.onnx_frontend import OnnxOpConverter

from .common import dtype_of, symbolic_values, take

op = relax.op


def _depth(bb: Any, depth: Any) -> Any:
    """`depth` as an int when it is a constant, else a symbolic int64 matched from its value."""
    if isinstance(depth, tvm.ir.GenericConst):
        return int(np.asarray(depth.value.numpy()).reshape(-1)[0])
    # ONNX casts a depth of any numeric type to int64 before use.
    return symbolic_values(bb, depth, 1, "depth")[0]


def _mask_kernel(axis: int) -> Any:
    """1 where an output element's position along `axis` equals its (wrapped) index, else 0."""

    def compute(indices: te.Tensor, depth: Any) -> te.Tensor:
        shape = [*indices.shape[:axis], depth, *indices.shape[axis:]]

        def body(*position: Any) -> Any:
            index = indices[(*position[:axis], *position[axis + 1 :])]
            hit = index.astype("int64") == position[axis]
            return tirx.Select(hit, tirx.const(1, "int32"), tirx.const(0, "int32"))

        return te.compute(shape, body, name="one_hot_mask")

    return compute


class OneHot(OnnxOpConverter):
    """Inputs indices, depth (sets the output's extent along `axis`), values = [off, on]."""

    @classmethod
    def _impl_v9(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        indices, depth_expr, values = inputs[0], inputs[1], inputs[2]
        depth = _depth(bb, depth_expr)
        axis = int(attr.get("axis", -1))
        if axis < 0:  # counts from the end of the output, which has one more axis
            axis += indices.ty.ndim + 1
        index_dtype = "int64" if dtype_of(indices).startswith("float") else dtype_of(indices)
        indices = op.astype(indices, index_dtype)
        if isinstance(depth, int):
            extent = relax.const(depth, index_dtype)
        else:
            extent = bb.emit(op.reshape(bb.emit(op.astype(depth_expr, index_dtype)), []))
        negative = op.less(indices, relax.const(0, index_dtype))
        wrapped = bb.emit(op.where(negative, op.add(indices, extent), indices))
        if isinstance(depth, int):
            on, off = (relax.prim_value(tirx.IntImm("int32", v)) for v in (1, 0))
            mask = bb.emit(op.one_hot(wrapped, on, off, depth, axis))
        else:
            mask = bb.emit_te(_mask_kernel(axis), wrapped, depth)
        flat = bb.emit(op.reshape(values, [2]))
        off_value, on_value = take(bb, flat, 0, 0), take(bb, flat, 1, 0)
        return op.where(op.equal(mask, relax.const(1, "int32")), on_value, off_value)

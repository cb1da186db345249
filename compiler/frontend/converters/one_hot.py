"""OneHot with its `values` (off, on) pair computed at run time.

TVM's converter needs `values` as a constant, although only `depth` sets a shape. Here the
one-hot mask is built with constant 1/0 and the pair is applied with `where`, so `values`
may be any tensor. Indices in [-depth, -1] count from the end; indices outside
[-depth, depth - 1] give an all-off row, as ONNX specifies.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tvm
from tvm import relax, tirx
from tvm.relax.frontend.onnx.onnx_frontend import OnnxOpConverter

from ember.errors import UnsupportedModelError

from .common import dtype_of, take

op = relax.op


def _constant_depth(depth: Any) -> int:
    """`depth` as an int; a clear error if it is computed at run time."""
    if not isinstance(depth, tvm.ir.GenericConst):
        raise UnsupportedModelError(
            "OneHot depth must be a constant (an initializer, or bound with --bind)"
        )
    return int(np.asarray(depth.value.numpy()).reshape(-1)[0])


class OneHot(OnnxOpConverter):
    """Inputs indices, depth (a constant: it sets the output shape), values = [off, on]."""

    @classmethod
    def _impl_v9(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        indices, depth_expr, values = inputs[0], inputs[1], inputs[2]
        depth = _constant_depth(depth_expr)
        axis = int(attr.get("axis", -1))
        if axis < 0:  # counts from the end of the output, which has one more axis
            axis += indices.ty.ndim + 1
        index_dtype = "int64" if dtype_of(indices).startswith("float") else dtype_of(indices)
        indices = op.astype(indices, index_dtype)
        extent = relax.const(depth, index_dtype)
        negative = op.less(indices, relax.const(0, index_dtype))
        wrapped = bb.emit(op.where(negative, op.add(indices, extent), indices))
        on, off = (relax.prim_value(tirx.IntImm("int32", v)) for v in (1, 0))
        mask = bb.emit(op.one_hot(wrapped, on, off, depth, axis))
        flat = bb.emit(op.reshape(values, [2]))
        off_value, on_value = take(bb, flat, 0, 0), take(bb, flat, 1, 0)
        return op.where(op.equal(mask, relax.const(1, "int32")), on_value, off_value)

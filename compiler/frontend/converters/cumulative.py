"""CumProd: the cumulative product along one axis, as TVM's importer does CumSum.

TVM 0.27 has `relax.op.cumprod` but no ONNX converter for it. This converter takes a constant
axis; `reverse` flips the axis before and after. An axis given at run time goes through
`run_time_scan_axis.py` instead.
"""

from __future__ import annotations

from typing import Any

from tvm import relax
from tvm.relax.frontend.onnx.onnx_frontend import OnnxOpConverter

from ember.errors import UnsupportedModelError

from .common import constant_values

op = relax.op


class CumProd(OnnxOpConverter):
    """Inputs x and a scalar axis; attributes exclusive and reverse."""

    @classmethod
    def _impl_v26(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        data = inputs[0]
        axis_value = constant_values(inputs[1], "CumProd axis")
        if axis_value.size != 1:
            raise UnsupportedModelError(
                f"CumProd axis must be a scalar, got shape {axis_value.shape}"
            )
        axis = int(axis_value.reshape(()))
        reverse = int(attr.get("reverse", 0)) != 0
        if reverse:
            data = bb.emit(op.flip(data, axis))
        data = bb.emit(op.cumprod(data, axis, exclusive=int(attr.get("exclusive", 0)) != 0))
        return bb.emit(op.flip(data, axis)) if reverse else data

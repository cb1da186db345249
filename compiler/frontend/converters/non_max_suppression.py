"""ONNX `NonMaxSuppression` through TVM's converter, with its limits made exact.

TVM's converter reads max_output_boxes_per_class, iou_threshold and score_threshold as
constants and silently substitutes defaults for anything else. The thresholds decide values,
not the output's shape (the number of selected boxes is known only at run time either way),
so a threshold given as a graph input is handed to TVM's operator as a run-time tensor; its
kernel reads the box limit only as a constant, so a run-time one is refused (`--bind` it). TVM's
kernel also suppresses a box whose IoU *equals* the threshold, where ONNX suppresses only above
it: the threshold handed to it is the next float32 up (at compile time for a constant, by
stepping its bit pattern at run time otherwise), which makes `iou >= t'` ONNX's `iou > t`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from tvm import relax, topi
from tvm.relax.frontend.onnx import onnx_frontend

from ember.errors import UnsupportedModelError

from .subgraph import constant_value

_LIMITS = {2: "max_output_boxes_per_class", 3: "iou_threshold", 4: "score_threshold"}


class NonMaxSuppression(onnx_frontend.OnnxOpConverter):
    """selected_indices (num_selected, 3)."""

    @classmethod
    def _impl_v10(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        values = list(inputs)
        limits = {i: values[i] for i in _LIMITS if i < len(values) and values[i] is not None}
        if 2 in limits and constant_value(limits[2]) is None:
            # TVM's kernel reads the box limit only as a constant.
            raise UnsupportedModelError(
                "NonMaxSuppression max_output_boxes_per_class must be known at compile time "
                "(bind it with --bind)"
            )
        if any(constant_value(value) is None for value in limits.values()):
            return _run_time_limits(bb, values, attr)
        iou = constant_value(limits[3]) if 3 in limits else None
        if iou is not None:
            above = np.nextafter(np.float32(iou.reshape(-1)[0]), np.float32(np.inf))
            values[3] = relax.const(above, "float32")
        tvm_convert = onnx_frontend.NonMaxSuppression.get_converter(10)
        return tvm_convert(bb, onnx_frontend.onnx_input(values), attr, params)


def _scalar(bb: Any, value: Any, dtype: str, default: float) -> Any:
    """A one-element limit (constant or run-time) as a 0-d tensor of `dtype`."""
    if value is None:
        return relax.const(default, dtype)
    return bb.emit(relax.op.reshape(relax.op.astype(value, dtype), ()))


def _next_float_up(bb: Any, value: Any) -> Any:
    """The next float32 above a run-time 0-d float32 (its bit pattern one step up)."""
    value = bb.emit(relax.op.add(value, relax.const(0.0, "float32")))  # -0.0 becomes +0.0
    bits = bb.emit_te(topi.reinterpret, value, "int32")
    step = relax.op.where(
        relax.op.greater_equal(value, relax.const(0.0, "float32")),
        relax.const(1, "int32"),
        relax.const(-1, "int32"),
    )
    return bb.emit_te(topi.reinterpret, bb.emit(relax.op.add(bits, step)), "float32")


def _run_time_limits(bb: Any, values: list[Any], attr: dict[str, Any]) -> Any:
    """TVM's operator with the limits as tensors (ONNX defaults where absent)."""
    if attr.get("center_point_box", 0) != 0:
        raise UnsupportedModelError(
            "NonMaxSuppression with center_point_box=1 needs its limits known at compile time "
            "(bind them with --bind)"
        )
    count = len(values)
    given = constant_value(values[2]) if count > 2 and values[2] is not None else None
    limit = relax.const(int(given.reshape(-1)[0]) if given is not None else 0, "int64")
    iou = _scalar(bb, values[3] if count > 3 else None, "float32", 0.0)
    score = _scalar(bb, values[4] if count > 4 else None, "float32", float("-inf"))
    out = bb.normalize(
        relax.op.vision.all_class_non_max_suppression(
            values[0], values[1], limit, _next_float_up(bb, iou), score, output_format="onnx"
        )
    )
    return bb.emit(relax.TupleGetItem(out, 0))

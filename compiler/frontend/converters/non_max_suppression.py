"""ONNX `NonMaxSuppression` through TVM's converter, with its limits made exact.

TVM's converter reads max_output_boxes_per_class, iou_threshold and score_threshold as
constants and silently substitutes defaults for anything else. The thresholds decide values,
not the output's shape (the number of selected boxes is known only at run time either way),
so a threshold given as a graph input is handed to TVM's operator as a run-time tensor. Its
kernel reads the box limit only as a constant, so a run-time limit is applied afterwards: the
kernel runs with the largest limit (the number of boxes, which no class can exceed), and of
its rows (grouped by batch and class, best score first) those ranked below the limit within
their group are kept (`_limited`); the row count was data dependent already. TVM's
kernel also suppresses a box whose IoU *equals* the threshold, where ONNX suppresses only above
it: the threshold handed to it is the next float32 up (at compile time for a constant, by
stepping its bit pattern at run time otherwise), which makes `iou >= t'` ONNX's `iou > t`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from tvm import relax, te, tirx, topi
from tvm.relax.frontend.onnx import onnx_frontend

from .subgraph import constant_value

_LIMITS = {2: "max_output_boxes_per_class", 3: "iou_threshold", 4: "score_threshold"}


class NonMaxSuppression(onnx_frontend.OnnxOpConverter):
    """selected_indices (num_selected, 3)."""

    @classmethod
    def _impl_v10(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        values = list(inputs)
        limits = {i: values[i] for i in _LIMITS if i < len(values) and values[i] is not None}
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


def _corners(bb: Any, boxes: Any) -> Any:
    """Boxes given as [x_center, y_center, width, height] as ONNX's corners [y1, x1, y2, x2]."""
    parts = bb.emit(relax.op.split(boxes, 4, axis=2))
    xc, yc, w, h = (bb.emit(relax.TupleGetItem(parts, i)) for i in range(4))
    two = relax.const(2.0, str(boxes.ty.dtype))
    half_w, half_h = bb.emit(relax.op.divide(w, two)), bb.emit(relax.op.divide(h, two))
    y1, x1 = bb.emit(relax.op.subtract(yc, half_h)), bb.emit(relax.op.subtract(xc, half_w))
    y2, x2 = bb.emit(relax.op.add(yc, half_h)), bb.emit(relax.op.add(xc, half_w))
    return bb.emit(relax.op.concat([y1, x1, y2, x2], axis=2))


def _within_limit(selected: te.Tensor, total: te.Tensor, limit: te.Tensor) -> te.Tensor:
    """Per row of `selected`, whether it is selected and ranks below `limit` in its class.

    Rows are [batch, class, box], the first `total[0]` valid, grouped by (batch, class) with
    the best score first: a row's rank is the count of rows before it in its group.
    """
    rows = selected.shape[0]

    def body(r: Any) -> Any:
        j = te.reduce_axis((0, rows), "j")
        same = tirx.all(j < r, selected[j, 0] == selected[r, 0], selected[j, 1] == selected[r, 1])
        return te.sum(tirx.Select(same, tirx.const(1, "int64"), tirx.const(0, "int64")), j)

    rank = te.compute((rows,), body, name="rank_in_class")
    return te.compute(
        (rows,), lambda r: tirx.all(r < total[0], rank[r] < limit[()]), name="within_limit"
    )


def _limited(bb: Any, boxes: Any, scores: Any, iou: Any, score: Any, limit: Any) -> Any:
    """ONNX's selected_indices for a run-time box `limit` (0-d int64).

    TVM's kernel runs with the largest limit (the number of boxes, which no class can
    exceed), giving batch * classes * boxes rows of which the first `total` are selected;
    of those, the rows ranked below `limit` in their class are kept.
    """
    most = int(boxes.ty.shape.values[1])
    nms = bb.emit_te(
        topi.vision.all_class_non_max_suppression, boxes, scores, most, iou, score, "onnx"
    )
    selected = bb.emit(relax.TupleGetItem(nms, 0))
    total = bb.emit(relax.TupleGetItem(nms, 1))
    keep = bb.emit_te(_within_limit, selected, total, limit)
    # `nonzero` is typed by rank only; its one row's length is named to reshape it.
    kept = tirx.Var("nms_kept", "int64")
    positions = bb.match_cast(bb.emit(relax.op.nonzero(keep)), relax.TensorType([1, kept], "int64"))
    rows = bb.emit(relax.op.reshape(positions, [kept]))
    return bb.emit(relax.op.take(selected, rows, axis=0))


def _run_time_limits(bb: Any, values: list[Any], attr: dict[str, Any]) -> Any:
    """TVM's operator with the limits as tensors (ONNX defaults where absent)."""
    boxes = values[0]
    if attr.get("center_point_box", 0) != 0:
        boxes = _corners(bb, boxes)
    count = len(values)
    given = values[2] if count > 2 else None
    iou = _next_float_up(bb, _scalar(bb, values[3] if count > 3 else None, "float32", 0.0))
    score = _scalar(bb, values[4] if count > 4 else None, "float32", float("-inf"))
    if given is not None and constant_value(given) is None:
        return _limited(bb, boxes, values[1], iou, score, _scalar(bb, given, "int64", 0))
    value = constant_value(given) if given is not None else None
    limit = relax.const(int(value.reshape(-1)[0]) if value is not None else 0, "int64")
    out = bb.normalize(
        relax.op.vision.all_class_non_max_suppression(
            boxes, values[1], limit, iou, score, output_format="onnx"
        )
    )
    return bb.emit(relax.TupleGetItem(out, 0))

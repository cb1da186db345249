"""ONNX `NonMaxSuppression` through TVM's converter, with its limits made exact.

TVM's converter reads max_output_boxes_per_class, iou_threshold and score_threshold as
constants and silently substitutes defaults for anything else; Ember refuses such a model
instead (the values can be pinned with `--bind`). TVM's kernel also suppresses a box whose
IoU *equals* the threshold, where ONNX suppresses only above it: the threshold handed to it
is the next float32 up, which makes `iou >= t'` the same test as ONNX's `iou > t`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from tvm import relax
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
        for index, value in limits.items():
            if constant_value(value) is None:
                raise UnsupportedModelError(
                    f"NonMaxSuppression {_LIMITS[index]} must be known at compile time"
                )
        iou = constant_value(limits[3]) if 3 in limits else None
        if iou is not None:
            above = np.nextafter(np.float32(iou.reshape(-1)[0]), np.float32(np.inf))
            values[3] = relax.const(above, "float32")
        tvm_convert = onnx_frontend.NonMaxSuppression.get_converter(10)
        return tvm_convert(bb, onnx_frontend.onnx_input(values), attr, params)

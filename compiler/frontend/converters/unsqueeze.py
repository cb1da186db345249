"""Unsqueeze whose axes input is a scalar (function expansions write one axis that way).

TVM's converter reads the axes constant as a list; a 0-d constant is made 1-d first.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tvm
from tvm import relax
from tvm.relax.frontend.onnx import onnx_frontend
from tvm.relax.frontend.onnx.onnx_frontend import OnnxOpConverter


class Unsqueeze(OnnxOpConverter):
    """Insert size-1 axes; `axes` is an attribute before opset 13, an input from 13."""

    @classmethod
    def _impl_v1(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        return onnx_frontend.Unsqueeze._impl_v1(bb, inputs, attr, params)

    @classmethod
    def _impl_v13(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        axes = inputs[1]
        if isinstance(axes, tvm.ir.GenericConst) and axes.value.numpy().ndim == 0:
            vector = np.asarray(axes.value.numpy()).reshape(1)
            inputs = onnx_frontend.onnx_input([inputs[0], relax.const(vector, str(vector.dtype))])
        return onnx_frontend.Unsqueeze._impl_v13(bb, inputs, attr, params)

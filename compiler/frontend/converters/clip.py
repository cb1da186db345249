"""Clip as Relax `maximum`/`minimum` operators, so that layout passes see through it.

TVM's converter emits the bounds as ready-made TIR kernels (`emit_te`), which
`ConvertLayout` cannot move: in an NHWC model every Clip (ReLU6 in MobileNets) would be
wrapped in two transposes. The Relax operators follow the layout of their input; the
bounds' treatment (NaN bounds mean "unbounded", as in ONNX Runtime) is TVM's.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from tvm import relax
from tvm.relax.frontend.onnx.onnx_frontend import Clip as TVMClip

from .common import const, dtype_of


class Clip(TVMClip):
    """ONNX Clip: attribute bounds before opset 11, optional input bounds from 11 on."""

    @classmethod
    def _impl_v1(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        x = inputs[0]
        lo = const(float(attr.get("min", -np.inf)), dtype_of(x))
        hi = const(float(attr.get("max", np.inf)), dtype_of(x))
        return relax.op.minimum(relax.op.maximum(x, lo), hi)

    @classmethod
    def _impl_v11(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        return cls._impl_v13(bb, inputs, attr, params)

    @classmethod
    def _impl_v13(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        result = inputs[0]
        if len(inputs) > 1 and inputs[1] is not None:
            lo = cls._sanitize_nan_clip_bound(bb, inputs[1], for_min=True)
            result = bb.emit(relax.op.maximum(result, lo))
        if len(inputs) > 2 and inputs[2] is not None:
            hi = cls._sanitize_nan_clip_bound(bb, inputs[2], for_min=False)
            result = relax.op.minimum(result, hi)
        return result

"""ONNX `SpaceToDepth` with both channel orders (`mode`, opset 28: DCR default, or CRD).

TVM's converter always produces the DCR order (block offsets outermost). In CRD order each
input channel's block of bs*bs values is kept together: output channel c*bs*bs + (i*bs + j).
"""

from __future__ import annotations

from typing import Any

from tvm import relax
from tvm.relax.frontend.onnx.onnx_frontend import OnnxOpConverter

from .common import static_shape, text

op = relax.op


class SpaceToDepth(OnnxOpConverter):
    """Y of shape (N, C*bs*bs, H/bs, W/bs)."""

    @classmethod
    def _impl_v1(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        bs = int(attr["blocksize"])
        n, c, h, w = static_shape(inputs[0], "SpaceToDepth input")
        x = bb.emit(op.reshape(inputs[0], [n, c, h // bs, bs, w // bs, bs]))
        crd = text(attr.get("mode", b"DCR")) == "CRD"
        order = [0, 1, 3, 5, 2, 4] if crd else [0, 3, 5, 1, 2, 4]
        x = bb.emit(op.permute_dims(x, order))
        return op.reshape(x, [n, c * bs * bs, h // bs, w // bs])

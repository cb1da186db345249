"""Operators that move or crop elements: ReverseSequence and CenterCropPad."""

from __future__ import annotations

from typing import Any

from tvm import relax, topi
from tvm.relax.frontend.onnx.onnx_frontend import OnnxOpConverter

from ember.errors import UnsupportedModelError

from .common import constant_values, static_shape

op = relax.op


class ReverseSequence(OnnxOpConverter):
    """Reverse the first sequence_lens[b] elements along time_axis for each batch entry b."""

    @classmethod
    def _impl_v10(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        time_axis = int(attr.get("time_axis", 0))
        batch_axis = int(attr.get("batch_axis", 1))
        return bb.emit(op.reverse_sequence(inputs[0], inputs[1], time_axis, batch_axis))


class CenterCropPad(OnnxOpConverter):
    """Crop (window start rounded down) or zero-pad (extra pixel on the right) each axis."""

    @classmethod
    def _impl_v18(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        data = inputs[0]
        shape = static_shape(data, "CenterCropPad input")
        rank = len(shape)
        sizes = [int(v) for v in constant_values(inputs[1], "CenterCropPad shape").reshape(-1)]
        axes = [int(a) % rank for a in attr.get("axes", range(rank))]
        if len(axes) != len(sizes):
            raise UnsupportedModelError(f"CenterCropPad: {len(sizes)} sizes for {len(axes)} axes")
        crop_axes, begins, ends = [], [], []
        before, after = [0] * rank, [0] * rank
        for axis, size in zip(axes, sizes, strict=True):
            if size < shape[axis]:
                start = (shape[axis] - size) // 2
                crop_axes.append(axis)
                begins.append(start)
                ends.append(start + size)
            elif size > shape[axis]:
                extra = size - shape[axis]
                before[axis], after[axis] = extra // 2, extra - extra // 2
        if crop_axes:
            data = bb.emit(op.strided_slice(data, crop_axes, begins, ends))
        if any(before) or any(after):
            data = bb.emit_te(topi.nn.pad, data, before, after, 0.0)
        return data

"""Operators that move or crop elements: ReverseSequence and CenterCropPad."""

from __future__ import annotations

from typing import Any

from tvm import relax, te, tirx, topi
from tvm.relax.frontend.onnx.onnx_frontend import OnnxOpConverter

from ember.errors import UnsupportedModelError

from .common import constant_values, static_shape, symbolic_values
from .subgraph import constant_value

op = relax.op


class ReverseSequence(OnnxOpConverter):
    """Reverse the first sequence_lens[b] elements along time_axis for each batch entry b."""

    @classmethod
    def _impl_v10(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        time_axis = int(attr.get("time_axis", 0))
        batch_axis = int(attr.get("batch_axis", 1))
        return bb.emit(op.reverse_sequence(inputs[0], inputs[1], time_axis, batch_axis))


def _crop_pad_kernel(axes: list[int]) -> Any:
    """Each output element reads the input shifted by its axis's centring offset, or is 0.

    The offset along a listed axis is `(n - s) // 2` when cropping (`s <= n`) and
    `-((s - n) // 2)` when padding: written out because the two round differently.
    """

    def compute(x: te.Tensor, sizes: list[Any]) -> te.Tensor:
        extent = dict(zip(axes, sizes, strict=True))
        n = list(x.shape)
        out = [extent.get(d, n[d]) for d in range(len(n))]
        offsets = [
            tirx.Select(
                n[d] >= out[d],
                tirx.floordiv(n[d] - out[d], 2),
                -tirx.floordiv(out[d] - n[d], 2),
            )
            for d in range(len(n))
        ]

        def body(*index: Any) -> Any:
            source = [i + o for i, o in zip(index, offsets, strict=True)]
            inside = tirx.all(*[tirx.all(s >= 0, s < e) for s, e in zip(source, n, strict=True)])
            return tirx.if_then_else(inside, x[tuple(source)], tirx.const(0, x.dtype))

        return te.compute(out, body, name="center_crop_pad")

    return compute


class CenterCropPad(OnnxOpConverter):
    """Crop (window start rounded down) or zero-pad (extra pixel on the right) each axis.

    A `shape` known only at run time becomes the symbolic extents of the listed axes.
    """

    @classmethod
    def _impl_v18(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        data = inputs[0]
        shape = static_shape(data, "CenterCropPad input")
        rank = len(shape)
        axes = [int(a) % rank for a in attr.get("axes", range(rank))]
        if constant_value(inputs[1]) is None:
            sizes = symbolic_values(bb, inputs[1], len(axes), "cropped")
            return bb.emit_te(_crop_pad_kernel(axes), data, sizes)
        sizes = [int(v) for v in constant_values(inputs[1], "CenterCropPad shape").reshape(-1)]
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

"""ONNX `ConvTranspose` with `output_shape`, which TVM's converter ignores.

With `auto_pad` SAME_UPPER / SAME_LOWER the spec turns `output_shape` into pads (the total
padding split between the two ends). Otherwise the pads are as given and the result is
written into an `output_shape`-sized output from its start: ONNX's reference leaves the
extra trailing positions zero (and drops positions past the end), which Ember reproduces by
padding or cropping TVM's result at the end of each spatial axis.
"""

from __future__ import annotations

from typing import Any

from tvm import relax
from tvm.relax.frontend.onnx import onnx_frontend

from ember.errors import UnsupportedModelError

from .common import static_shape, text

op = relax.op


def _natural_size(attr: dict[str, Any], x: list[int], w: list[int], i: int) -> int:
    """Output size of spatial axis `i` before padding is removed."""
    stride = list(attr.get("strides", [1] * (len(x) - 2)))[i]
    dilation = list(attr.get("dilations", [1] * (len(x) - 2)))[i]
    extra = list(attr.get("output_padding", [0] * (len(x) - 2)))[i]
    kernel = list(attr.get("kernel_shape", w[2:]))[i]
    return stride * (x[i + 2] - 1) + extra + (kernel - 1) * dilation + 1


def _same_pads(attr: dict[str, Any], x: list[int], w: list[int], wanted: list[int]) -> list[int]:
    upper = text(attr["auto_pad"]) == "SAME_UPPER"
    begin, end = [], []
    for i, size in enumerate(wanted):
        total = _natural_size(attr, x, w, i) - size
        if total < 0:
            raise UnsupportedModelError(f"ConvTranspose output_shape {wanted} needs negative pads")
        first = total // 2 if upper else total - total // 2
        begin.append(first)
        end.append(total - first)
    return begin + end


def _fit(bb: Any, y: Any, wanted: list[int]) -> Any:
    """`y` zero-padded or cropped at the end of each spatial axis to `wanted`."""
    shape = static_shape(y, "ConvTranspose output")
    spatial = list(range(2, len(shape)))
    y = bb.emit(op.strided_slice(y, spatial, [0] * len(wanted), wanted))
    grow = [max(0, size - have) for size, have in zip(wanted, shape[2:], strict=True)]
    if any(grow):
        widths = [0, 0, 0, 0] + [v for g in grow for v in (0, g)]
        y = bb.emit(op.nn.pad(y, widths))
    return y


class ConvTranspose(onnx_frontend.OnnxOpConverter):
    """TVM's converter, with `output_shape` resolved first."""

    @classmethod
    def _impl_v1(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        tvm_convert = onnx_frontend.ConvTranspose.get_converter(1)
        wanted = attr.pop("output_shape", None)
        if wanted is None:
            return tvm_convert(bb, inputs, attr, params)
        x, w = static_shape(inputs[0], "ConvTranspose X"), static_shape(inputs[1], "W")
        wanted = [int(v) for v in wanted][-(len(x) - 2) :]  # the spatial sizes
        if text(attr.get("auto_pad", b"NOTSET")) in ("SAME_UPPER", "SAME_LOWER"):
            attr["pads"] = _same_pads(attr, x, w, wanted)
            attr.pop("auto_pad")
            return tvm_convert(bb, inputs, attr, params)
        return _fit(bb, bb.normalize(tvm_convert(bb, inputs, attr, params)), wanted)

"""DeformConv (2-D): convolution whose kernel taps are moved by learned offsets.

Lowered as sample-then-multiply: every tap of every output position is read from the input
at its offset position by bilinear interpolation (taps outside the image read zero), scaled
by the optional mask, and the resulting columns (N, C * kH * kW, oH * oW) are multiplied by
the weights per group, as an im2col convolution. Gathers run on the flattened image, one per
interpolation corner.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from tvm import relax
from tvm.relax.frontend.onnx.onnx_frontend import OnnxOpConverter

from ember.errors import UnsupportedModelError

from .common import const, dtype_of, static_shape

op = relax.op


def _tap_grid(
    kernel: list[int], out: list[int], attr: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray]:
    """Undisplaced (y, x) of each tap (kH * kW, oH * oW) in input pixel coordinates."""
    pads = [int(p) for p in attr.get("pads", [0, 0, 0, 0])]
    strides = [int(s) for s in attr.get("strides", [1, 1])]
    dilations = [int(d) for d in attr.get("dilations", [1, 1])]
    ky, kx = np.meshgrid(np.arange(kernel[0]), np.arange(kernel[1]), indexing="ij")
    oy, ox = np.meshgrid(np.arange(out[0]), np.arange(out[1]), indexing="ij")
    y = ky.reshape(-1, 1) * dilations[0] + (oy.reshape(1, -1) * strides[0] - pads[0])
    x = kx.reshape(-1, 1) * dilations[1] + (ox.reshape(1, -1) * strides[1] - pads[1])
    return y, x


def _bilinear(bb: Any, image: Any, py: Any, px: Any, size: list[int], dtype: str) -> Any:
    """Read `image` (N, G, C/G, H*W) at (py, px) (N, G, 1, T): (N, G, C/G, T), 0 outside."""
    height, width = size
    y0 = bb.emit(op.floor(py))
    x0 = bb.emit(op.floor(px))
    ly, lx = bb.emit(op.subtract(py, y0)), bb.emit(op.subtract(px, x0))
    one = const(1.0, dtype)
    total = None
    for dy, wy in ((0.0, op.subtract(one, ly)), (1.0, ly)):
        for dx, wx in ((0.0, op.subtract(one, lx)), (1.0, lx)):
            cy, cx = op.add(y0, const(dy, dtype)), op.add(x0, const(dx, dtype))
            inside = op.logical_and(
                op.logical_and(
                    op.greater_equal(cy, const(0, dtype)),
                    op.less_equal(cy, const(height - 1, dtype)),
                ),
                op.logical_and(
                    op.greater_equal(cx, const(0, dtype)),
                    op.less_equal(cx, const(width - 1, dtype)),
                ),
            )
            flat = op.add(
                op.multiply(op.clip(cy, 0, height - 1), const(width, dtype)),
                op.clip(cx, 0, width - 1),
            )
            index = op.broadcast_to(op.astype(flat, "int64"), _gather_shape(image, py))
            weight = op.multiply(op.multiply(wy, wx), op.astype(inside, dtype))
            value = op.multiply(op.gather_elements(image, index, axis=3), weight)
            total = value if total is None else op.add(total, value)
    return bb.emit(total)


def _gather_shape(image: Any, positions: Any) -> list[Any]:
    return [*list(image.ty.shape.values[:3]), positions.ty.shape.values[3]]


class DeformConv(OnnxOpConverter):
    """Inputs X (N, C, H, W), W (oC, C/group, kH, kW), offset, optional B and mask."""

    @classmethod
    def _impl_v19(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        x, weight, offset = inputs[0], inputs[1], inputs[2]
        bias = inputs[3] if len(inputs) > 3 else None
        mask = inputs[4] if len(inputs) > 4 else None
        n, channels, height, width = _shape4(x, "DeformConv X")
        out_channels, group_channels, kh, kw = _shape4(weight, "DeformConv W")
        out = static_shape(offset, "DeformConv offset")[2:]
        groups = int(attr.get("group", 1))
        offset_groups = int(attr.get("offset_group", 1))
        taps, positions = kh * kw, out[0] * out[1]
        dtype = dtype_of(x)
        base_y, base_x = _tap_grid([kh, kw], out, attr)
        # offset (N, G * taps * 2, oH, oW): per offset group and tap, (dy, dx)
        shifts = op.reshape(offset, [n, offset_groups, taps, 2, positions])
        py, px = (
            bb.emit(
                op.reshape(
                    op.add(
                        op.squeeze(op.strided_slice(shifts, [3], [i], [i + 1]), [3]),
                        relax.const(base.astype(dtype)),
                    ),
                    [n, offset_groups, 1, taps * positions],
                )
            )
            for i, base in ((0, base_y), (1, base_x))
        )
        image = op.reshape(x, [n, offset_groups, channels // offset_groups, height * width])
        sampled = _bilinear(bb, bb.emit(image), py, px, [height, width], dtype)
        if mask is not None:
            sampled = op.multiply(
                sampled, op.reshape(mask, [n, offset_groups, 1, taps * positions])
            )
        columns = op.reshape(sampled, [n, groups, group_channels * taps, positions])
        kernels = op.reshape(weight, [groups, out_channels // groups, group_channels * taps])
        result = op.reshape(op.matmul(kernels, columns), [n, out_channels, *out])
        if bias is not None:
            result = op.add(result, op.reshape(bias, [1, out_channels, 1, 1]))
        return bb.emit(result)


def _shape4(expr: Any, what: str) -> list[int]:
    shape = static_shape(expr, what)
    if len(shape) != 4:
        raise UnsupportedModelError(f"{what}: only 2-D DeformConv is supported, got shape {shape}")
    return shape

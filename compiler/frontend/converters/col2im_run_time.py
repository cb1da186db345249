"""Col2Im whose image_shape or block_shape is a graph input, known only at run time.

With constant shapes, `scatter.Col2Im` computes every destination index at compile time. Here
the shapes become symbolic extents (matched from the inputs' values), and one kernel gathers
instead of scattering: output pixel `p` (padded coordinate `p + pad`) sums, over the kernel
offsets `b`, the column of the block position `(p + pad - b * dilation) / stride` wherever
that is a whole, in-range position. The output has `columns / prod(block)` channels and the
image's extents.
"""

from __future__ import annotations

from typing import Any

from tvm import relax, te, tirx

from ember.errors import UnsupportedModelError

from .common import static_shape, symbolic_values

op = relax.op


def _row_major(index: list[Any], extents: list[Any]) -> Any:
    flat: Any = tirx.const(0, "int64")
    for i, e in zip(index, extents, strict=True):
        flat = flat * e + i
    return flat


def _kernel(pads: list[int], strides: list[int], dilations: list[int]) -> Any:
    rank = len(strides)

    def compute(x: te.Tensor, image: list[Any], block: list[Any]) -> te.Tensor:
        n, columns, length = x.shape
        kernel: Any = tirx.const(1, "int64")
        for b in block:
            kernel = kernel * b
        counts = [
            tirx.floordiv(
                image[d] + pads[d] + pads[d + rank] - dilations[d] * (block[d] - 1) - 1,
                strides[d],
            )
            + 1
            for d in range(rank)
        ]

        def body(batch: Any, channel: Any, *pixel: Any) -> Any:
            offsets = [te.reduce_axis((0, block[d]), f"b{d}") for d in range(rank)]
            shifted = [pixel[d] + pads[d] - offsets[d] * dilations[d] for d in range(rank)]
            places = [tirx.floordiv(shifted[d], strides[d]) for d in range(rank)]
            column = channel * kernel + _row_major(offsets, block)
            place = _row_major(places, counts)
            conditions = [column < columns, place < length]
            for d in range(rank):
                conditions += [
                    shifted[d] >= 0,
                    tirx.floormod(shifted[d], strides[d]) == 0,
                    places[d] < counts[d],
                ]
            value = tirx.if_then_else(
                tirx.all(*conditions), x[batch, column, place], tirx.const(0, x.dtype)
            )
            return te.sum(value, axis=offsets)

        return te.compute([n, tirx.floordiv(columns, kernel), *image], body, name="col2im")

    return compute


def col2im_run_time(bb: Any, inputs: Any, attr: dict[str, Any]) -> Any:
    """Col2Im of `inputs` (data, image_shape, block_shape) with shapes known at run time."""
    data, image_shape, block_shape = inputs[0], inputs[1], inputs[2]
    static_shape(data, "Col2Im input")
    extent = image_shape.ty.shape.values[0] if image_shape.ty.shape is not None else None
    if not isinstance(extent, tirx.IntImm):
        raise UnsupportedModelError(
            "Col2Im image_shape needs a static length (bind it with --bind)"
        )
    rank = int(extent)
    pads = [int(p) for p in attr.get("pads", [0] * 2 * rank)]
    strides = [int(s) for s in attr.get("strides", [1] * rank)]
    dilations = [int(d) for d in attr.get("dilations", [1] * rank)]
    image = symbolic_values(bb, image_shape, rank, "image")
    block = symbolic_values(bb, block_shape, rank, "block")
    return bb.emit_te(_kernel(pads, strides, dilations), data, image, block)

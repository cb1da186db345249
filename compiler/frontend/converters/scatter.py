"""Operators that add or write blocks into a larger tensor: Col2Im and TensorScatter.

Both become one `scatter_elements` along a flattened axis. The destination index of every
element depends only on shapes and attributes (and, for TensorScatter, the per-batch write
index), so it is computed once: at compile time for Col2Im, with a few integer ops for
TensorScatter. Col2Im with shapes given at run time gathers instead (`col2im_run_time.py`).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
from tvm import relax
from tvm.relax.frontend.onnx.onnx_frontend import OnnxOpConverter

from ember.errors import UnsupportedModelError

from .col2im_run_time import col2im_run_time
from .common import constant_values, static_shape, text
from .subgraph import constant_value

op = relax.op


def col2im_targets(
    image: list[int],
    block: list[int],
    pads: list[int],
    strides: list[int],
    dilations: list[int],
) -> tuple[np.ndarray, list[int]]:
    """Flat index into the padded image of each (kernel offset, block position) pair.

    Returns the indices in the input's column order (kernel offsets major, block
    positions minor, each row-major over the spatial dims) and the padded image shape.
    """
    rank = len(image)
    padded = [image[d] + pads[d] + pads[d + rank] for d in range(rank)]
    counts = [
        (padded[d] - dilations[d] * (block[d] - 1) - 1) // strides[d] + 1 for d in range(rank)
    ]
    if min(counts) < 1:
        raise UnsupportedModelError(f"Col2Im: block {block} does not fit the image {image}")
    offsets = np.array(list(itertools.product(*[range(b) for b in block])))  # (K, rank)
    places = np.array(list(itertools.product(*[range(c) for c in counts])))  # (L, rank)
    positions = offsets[:, None, :] * np.array(dilations) + places[None, :, :] * np.array(
        strides
    )  # (K, L, rank) in the padded image
    flat = np.ravel_multi_index(tuple(np.moveaxis(positions, -1, 0)), padded)
    return flat.reshape(-1), padded


class Col2Im(OnnxOpConverter):
    """Inputs (N, C * prod(block), L), image_shape, block_shape; sums overlapping blocks."""

    @classmethod
    def _impl_v18(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        data = inputs[0]
        if constant_value(inputs[1]) is None or constant_value(inputs[2]) is None:
            return col2im_run_time(bb, inputs, attr)
        image = [int(v) for v in constant_values(inputs[1], "Col2Im image_shape").reshape(-1)]
        block = [int(v) for v in constant_values(inputs[2], "Col2Im block_shape").reshape(-1)]
        rank = len(image)
        pads = [int(p) for p in attr.get("pads", [0] * 2 * rank)]
        strides = [int(s) for s in attr.get("strides", [1] * rank)]
        dilations = [int(d) for d in attr.get("dilations", [1] * rank)]
        n, columns, length = static_shape(data, "Col2Im input")
        kernel = math.prod(block)
        flat, padded = col2im_targets(image, block, pads, strides, dilations)
        if columns % kernel or flat.size != kernel * length:
            raise UnsupportedModelError(
                f"Col2Im: input shape {[n, columns, length]} does not match blocks {block} "
                f"over the image {image}"
            )
        channels = columns // kernel
        values = bb.emit(op.reshape(data, [n, channels, kernel * length]))
        index = op.broadcast_to(relax.const(flat, "int64"), [n, channels, flat.size])
        zeros = op.zeros([n, channels, math.prod(padded)], str(data.ty.dtype))
        image_sum = bb.emit(op.scatter_elements(zeros, index, values, 2, "add"))
        image_sum = bb.emit(op.reshape(image_sum, [n, channels, *padded]))
        begins = pads[:rank]
        ends = [begins[d] + image[d] for d in range(rank)]
        return bb.emit(op.strided_slice(image_sum, list(range(2, 2 + rank)), begins, ends))


class TensorScatter(OnnxOpConverter):
    """Write `update` into `past_cache` along `axis` from each batch entry's write index."""

    @classmethod
    def _impl_v24(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        past, update = inputs[0], inputs[1]
        write = inputs[2] if len(inputs) > 2 else None
        past_shape = static_shape(past, "TensorScatter past_cache")
        update_shape = static_shape(update, "TensorScatter update")
        rank = len(past_shape)
        axis = int(attr.get("axis", -2)) % rank
        mode = text(attr.get("mode", "linear"))
        if mode not in ("linear", "circular") or axis == 0:
            raise UnsupportedModelError(f"TensorScatter: unsupported mode '{mode}' or axis {axis}")
        length = update_shape[axis]
        steps = np.arange(length, dtype=np.int64).reshape(
            [length if d == axis else 1 for d in range(rank)]
        )
        index: Any = relax.const(steps, "int64")
        if write is not None:
            start = op.reshape(op.astype(write, "int64"), [past_shape[0]] + [1] * (rank - 1))
            index = op.add(start, index)
        if mode == "circular":
            index = op.floor_mod(index, relax.const(past_shape[axis], "int64"))
        index = bb.emit(op.broadcast_to(index, update_shape))
        return bb.emit(op.scatter_elements(past, index, update, axis))

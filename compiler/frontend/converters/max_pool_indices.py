"""MaxPool's optional second output, Indices: where each maximum was read from.

TVM's max_pool has no indices. When a node asks for them, every window is taken apart: the
input is padded with the lowest value, one strided slice per kernel offset gives that
offset's candidate for every output position, and argmax over the offsets picks the first
maximum. The flat input index of every (output position, offset) pair is a compile-time
table (row-major, or column-major over the spatial axes for storage_order=1), so the
indices are one gather from it plus each (batch, channel) plane's offset. Static shapes only.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
from tvm import relax
from tvm.relax.frontend.onnx import onnx_frontend
from tvm.relax.frontend.onnx.onnx_frontend import OnnxOpConverter

from ember.errors import UnsupportedModelError

from .common import dtype_of, static_shape, text

op = relax.op


def _geometry(shape: list[int], attr: dict[str, Any]) -> dict[str, list[int]]:
    """Kernel, strides, dilations, begin/end pads and output sizes per spatial axis."""
    spatial = shape[2:]
    rank = len(spatial)
    kernel = [int(k) for k in attr["kernel_shape"]]
    strides = [int(s) for s in attr.get("strides", [1] * rank)]
    dilations = [int(d) for d in attr.get("dilations", [1] * rank)]
    pads = [int(p) for p in attr.get("pads", [0] * (2 * rank))]
    if text(attr.get("auto_pad", b"NOTSET")) not in ("NOTSET", "VALID"):
        raise UnsupportedModelError("MaxPool with Indices supports auto_pad NOTSET or VALID")
    rounding = np.ceil if attr.get("ceil_mode", 0) else np.floor
    out = []
    for i in range(rank):
        span = spatial[i] + pads[i] + pads[rank + i] - dilations[i] * (kernel[i] - 1) - 1
        out.append(int(rounding(span / strides[i])) + 1)
    return {
        "kernel": kernel,
        "strides": strides,
        "dilations": dilations,
        "begin": pads[:rank],
        "out": out,
    }


def _index_table(spatial: list[int], geo: dict[str, list[int]], column_major: bool) -> np.ndarray:
    """Flat spatial input index of every (output position, kernel offset): shape (*out, K)."""
    order = list(reversed(range(len(spatial)))) if column_major else list(range(len(spatial)))
    step = [0] * len(spatial)
    size = 1
    for axis in reversed(order):
        step[axis] = size
        size *= spatial[axis]
    offsets = list(itertools.product(*(range(k) for k in geo["kernel"])))
    table = np.zeros((*geo["out"], len(offsets)), dtype=np.int64)
    for position in itertools.product(*(range(o) for o in geo["out"])):
        for k, offset in enumerate(offsets):
            coords = [
                position[i] * geo["strides"][i] - geo["begin"][i] + offset[i] * geo["dilations"][i]
                for i in range(len(spatial))
            ]
            table[(*position, k)] = sum(c * s for c, s in zip(coords, step, strict=True))
    return table


def _candidates(bb: Any, data: Any, shape: list[int], geo: dict[str, list[int]]) -> Any:
    """(N, C, *out, K): the value each kernel offset reads for every output position."""
    spatial = shape[2:]
    rank = len(spatial)
    pad_width = [0, 0, 0, 0]
    for i in range(rank):
        reach = (geo["out"][i] - 1) * geo["strides"][i] + geo["dilations"][i] * (
            geo["kernel"][i] - 1
        )
        pad_width += [geo["begin"][i], max(reach + 1 - spatial[i] - geo["begin"][i], 0)]
    dtype = dtype_of(data)
    lowest = float("-inf") if dtype.startswith("float") else float(np.iinfo(dtype).min)
    padded = bb.emit(op.nn.pad(data, pad_width, "constant", lowest))
    axes = list(range(2, 2 + rank))
    slices = []
    for offset in itertools.product(*(range(k) for k in geo["kernel"])):
        begin = [offset[i] * geo["dilations"][i] for i in range(rank)]
        end = [begin[i] + (geo["out"][i] - 1) * geo["strides"][i] + 1 for i in range(rank)]
        window = op.strided_slice(padded, axes, begin, end, geo["strides"])
        slices.append(bb.emit(op.expand_dims(window, [-1])))
    return bb.emit(op.concat(slices, axis=-1))


class MaxPool(OnnxOpConverter):
    """MaxPool; with two outputs, the values and their flat input indices (int64)."""

    @classmethod
    def _impl_v1(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        if attr["tvm_custom"]["num_outputs"] < 2:
            return onnx_frontend.MaxPool._impl_v1(bb, inputs, attr, params)
        data = inputs[0]
        shape = static_shape(data, "MaxPool with Indices")
        geo = _geometry(shape, attr)
        candidates = _candidates(bb, data, shape, geo)
        values = bb.emit(op.max(candidates, axis=[-1]))
        best = bb.emit(op.argmax(candidates, axis=-1, keepdims=True))
        table = _index_table(shape[2:], geo, bool(attr.get("storage_order", 0)))
        full = op.broadcast_to(relax.const(table, "int64"), [*shape[:2], *table.shape])
        spatial = bb.emit(op.squeeze(op.gather_elements(full, best, axis=-1), [-1]))
        plane = int(np.prod(shape[2:]))
        planes = np.arange(shape[0] * shape[1], dtype=np.int64).reshape(
            shape[:2] + [1] * len(geo["out"])
        )
        indices = op.add(spatial, relax.const(planes * plane, "int64"))
        return relax.Tuple([values, bb.emit(indices)])

"""ONNX `RotaryEmbedding` (opset 23): rotate the first `rotary_embedding_dim` features.

Works on (B, S, H, D) internally: a 4-D input (B, H, S, D) is transposed, a 3-D input
(B, S, H*D) reshaped with `num_heads`. The sin/cos caches are indexed by `position_ids`
(or already given per batch and position), and each pair of features (the two halves, or
neighbours when `interleaved`) is rotated; the remaining features pass through.
"""

from __future__ import annotations

from typing import Any

from tvm import relax
from tvm.relax.frontend.onnx.onnx_frontend import OnnxOpConverter

from ember.errors import UnsupportedModelError

from .common import split, static_shape

op = relax.op


def _to_bshd(bb: Any, x: Any, shape: list[int], num_heads: int) -> Any:
    if len(shape) == 4:
        return bb.emit(op.permute_dims(x, [0, 2, 1, 3]))
    if len(shape) != 3 or num_heads <= 0:
        raise UnsupportedModelError("RotaryEmbedding needs a 4-D input or num_heads with 3-D")
    return bb.emit(op.reshape(x, [shape[0], shape[1], num_heads, -1]))


def _from_bshd(bb: Any, y: Any, shape: list[int]) -> Any:
    if len(shape) == 4:
        return bb.emit(op.permute_dims(y, [0, 2, 1, 3]))
    return bb.emit(op.reshape(y, shape))


def _cache(bb: Any, cache: Any, positions: Any | None) -> Any:
    """(B, S, 1, rd/2): the cache rows of each position, broadcast over the heads."""
    if positions is not None:
        cache = bb.emit(op.take(cache, positions, axis=0))
    return bb.emit(op.expand_dims(cache, 2))


class RotaryEmbedding(OnnxOpConverter):
    """Output Y, the input's shape and dtype."""

    @classmethod
    def _impl_v23(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        x, positions = inputs[0], inputs[3] if len(inputs) > 3 else None
        shape = static_shape(x, "RotaryEmbedding input")
        x = _to_bshd(bb, x, shape, int(attr.get("num_heads", 0)))
        head = static_shape(x, "RotaryEmbedding input")[-1]
        rotary = int(attr.get("rotary_embedding_dim", 0)) or head
        cos, sin = _cache(bb, inputs[1], positions), _cache(bb, inputs[2], positions)
        rotate = bb.emit(op.strided_slice(x, [3], [0], [rotary]))
        interleaved = bool(attr.get("interleaved", 0))
        if interleaved:
            x1 = bb.emit(op.strided_slice(rotate, [3], [0], [rotary], [2]))
            x2 = bb.emit(op.strided_slice(rotate, [3], [1], [rotary], [2]))
        else:
            x1, x2 = split(bb, rotate, 2, 3)
        real = bb.emit(op.subtract(op.multiply(cos, x1), op.multiply(sin, x2)))
        imag = bb.emit(op.add(op.multiply(sin, x1), op.multiply(cos, x2)))
        if interleaved:  # pairs back next to each other: (.., rd/2, 2) -> (.., rd)
            pairs = bb.emit(op.stack([real, imag], axis=4))
            rotated = bb.emit(op.reshape(pairs, [*static_shape(rotate, "rotated")]))
        else:
            rotated = bb.emit(op.concat([real, imag], axis=3))
        if rotary < head:
            rest = bb.emit(op.strided_slice(x, [3], [rotary], [head]))
            rotated = bb.emit(op.concat([rotated, rest], axis=3))
        return _from_bshd(bb, rotated, shape)

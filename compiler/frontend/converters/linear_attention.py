"""ONNX `LinearAttention` (opset 27): the recurrent state update, unrolled over the tokens.

The operator defines its result as the token-by-token recurrence (linear, gated, delta,
gated_delta update rules) on a float32 state of shape (B, H_kv, d_k, d_v); Ember emits that
recurrence for each of the (static) T tokens, as ONNX's reference does, reading through the
state repeated for each query head of a KV group (GQA / MQA).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from tvm import relax
from tvm.relax.frontend.onnx.onnx_frontend import OnnxOpConverter

from ember.errors import UnsupportedModelError

from .common import dtype_of, static_shape, take, text

op = relax.op
F32 = "float32"

_RULES = ("linear", "gated", "delta", "gated_delta")


@dataclass
class _Heads:
    """Head counts and sizes of one LinearAttention node."""

    batch: int
    tokens: int
    q_heads: int
    kv_heads: int
    d_k: int
    d_v: int


def _heads(inputs: Any, attr: dict[str, Any]) -> _Heads:
    q_heads, kv_heads = int(attr.get("q_num_heads", 0)), int(attr.get("kv_num_heads", 0))
    if q_heads <= 0 or kv_heads <= 0 or q_heads % kv_heads:
        raise UnsupportedModelError(
            "LinearAttention needs q_num_heads a positive multiple of kv_num_heads"
        )
    shapes = [static_shape(inputs[i], f"LinearAttention {n}") for i, n in enumerate("QKV")]
    if any(len(s) != 3 for s in shapes):
        raise UnsupportedModelError("LinearAttention query, key and value must be rank 3")
    (b, t, qd), _, (_, _, vd) = shapes
    return _Heads(b, t, q_heads, kv_heads, qd // q_heads, vd // kv_heads)


def _per_head(bb: Any, x: Any, h: _Heads, heads: int) -> Any:
    """(B, T, heads*D) -> float32 (B, heads, T, D)."""
    x = bb.emit(op.reshape(x, [h.batch, h.tokens, heads, -1]))
    return bb.emit(op.astype(op.permute_dims(x, [0, 2, 1, 3]), F32))


class LinearAttention(OnnxOpConverter):
    """Outputs (output, present_state)."""

    @classmethod
    def _impl_v27(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        rule = text(attr.get("update_rule", b"gated_delta"))
        if rule not in _RULES:
            raise UnsupportedModelError(f"LinearAttention update_rule '{rule}' is not supported")
        return _Recurrence(bb, inputs, attr, rule).emit()


class _Recurrence:
    def __init__(self, bb: Any, inputs: Any, attr: dict[str, Any], rule: str) -> None:
        self.bb, self.h = bb, _heads(inputs, attr)
        h = self.h
        self.out_dtype = dtype_of(inputs[0])
        past = inputs[3] if len(inputs) > 3 else None
        self.state_dtype = dtype_of(past) if past is not None else self.out_dtype
        self.q = _per_head(bb, inputs[0], h, h.q_heads)
        self.k = _per_head(bb, inputs[1], h, h.kv_heads)
        self.v = _per_head(bb, inputs[2], h, h.kv_heads)
        self.decay = self._optional(inputs, 4, "decay", rule in ("gated", "gated_delta"))
        self.beta = self._optional(inputs, 5, "beta", rule in ("delta", "gated_delta"))
        zeros = op.zeros([h.batch, h.kv_heads, h.d_k, h.d_v], F32)
        self.state = bb.emit(op.astype(past, F32) if past is not None else zeros)
        scale = float(attr.get("scale", 0.0))
        self.scale = relax.const(scale if scale else 1.0 / math.sqrt(h.d_k), F32)

    def _optional(self, inputs: Any, index: int, name: str, required: bool) -> Any | None:
        """Decay or beta as float32 (B, heads, T, D), D the per-head width (or 1)."""
        value = inputs[index] if len(inputs) > index else None
        if required != (value is not None):
            need = "needs" if required else "does not take"
            raise UnsupportedModelError(f"LinearAttention's update rule {need} a {name} input")
        if value is None:
            return None
        last = static_shape(value, f"LinearAttention {name}")[-1]
        if name == "beta" or last == self.h.kv_heads:  # one value per head: (B, T, H, 1)
            value = self.bb.emit(op.reshape(value, [self.h.batch, self.h.tokens, last, 1]))
            return self.bb.emit(op.astype(op.permute_dims(value, [0, 2, 1, 3]), F32))
        return _per_head(self.bb, value, self.h, self.h.kv_heads)  # per key dim: (B, T, H*d_k)

    def emit(self) -> Any:
        bb, h = self.bb, self.h
        steps = [self._step(t) for t in range(h.tokens)]
        out = bb.emit(op.concat(steps, axis=2))  # (B, Hq, T, d_v)
        out = bb.emit(op.permute_dims(out, [0, 2, 1, 3]))
        out = bb.emit(op.reshape(out, [h.batch, h.tokens, -1]))
        return relax.Tuple(
            [
                bb.emit(op.astype(out, self.out_dtype)),
                bb.emit(op.astype(self.state, self.state_dtype)),
            ]
        )

    def _step(self, t: int) -> Any:
        """Update the state with token `t`; return its output (B, Hq, 1, d_v)."""
        bb = self.bb
        k_t = take(bb, self.k, t, 2)  # (B, Hkv, d_k)
        v_t = take(bb, self.v, t, 2)  # (B, Hkv, d_v)
        state = self.state
        if self.decay is not None:
            g = op.exp(take(bb, self.decay, t, 2))  # (B, Hkv, 1 or d_k)
            state = bb.emit(op.multiply(state, op.expand_dims(g, -1)))
        if self.beta is not None:
            retrieved = op.matmul(op.expand_dims(k_t, 2), state)  # (B, Hkv, 1, d_v)
            diff = op.subtract(v_t, op.squeeze(retrieved, [2]))
            v_t = bb.emit(op.multiply(take(bb, self.beta, t, 2), diff))
        outer = op.multiply(op.expand_dims(k_t, -1), op.expand_dims(v_t, 2))
        self.state = bb.emit(op.add(state, outer))
        group = self.h.q_heads // self.h.kv_heads
        read = self.state if group == 1 else bb.emit(op.repeat(self.state, group, axis=1))
        q_t = op.expand_dims(take(bb, self.q, t, 2), 2)  # (B, Hq, 1, d_k)
        return bb.emit(op.multiply(op.matmul(q_t, read), self.scale))

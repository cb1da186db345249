"""ONNX `Attention` (ai.onnx, opset 23+): scaled dot-product attention over Relax ops.

TVM maps the name `Attention` to the com.microsoft contrib operator only (it reads a
`num_heads` attribute the ai.onnx operator does not have). Since the ai.onnx operator exists
from opset 23, an `Attention` node in a model of an older default opset is the contrib one
and goes to TVM's converter unchanged. The lowering follows ONNX's reference implementation
step by step (both operands scaled by sqrt(scale), softcap before the mask, fully masked rows
give zeros), so the results agree with it and with ONNX Runtime.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from tvm import relax
from tvm.relax.frontend.onnx.onnx_frontend import OnnxOpConverter

from ember.errors import UnsupportedModelError

from .common import dtype_of, static_shape

op = relax.op

#: ONNX TensorProto element type -> Relax dtype, for `softmax_precision`.
_PRECISION = {1: "float32", 10: "float16", 11: "float64", 16: "bfloat16"}
#: Lowest finite value of each float dtype (bfloat16 has no NumPy finfo).
_LOWEST = {
    "float16": float(np.finfo(np.float16).min),
    "bfloat16": -3.3895313892515355e38,
    "float32": float(np.finfo(np.float32).min),
    "float64": float(np.finfo(np.float64).min),
}


class Attention(OnnxOpConverter):
    """Outputs (Y, present_key, present_value, qk_matmul_output)."""

    @classmethod
    def _impl_v1(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        # Before opset 23 only com.microsoft's Attention exists: TVM's converter.
        from tvm.relax.frontend.onnx import onnx_frontend

        return onnx_frontend.Attention.get_converter(1)(bb, inputs, attr, params)

    @classmethod
    def _impl_v23(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        if "num_heads" in attr:  # the contrib operator's signature
            return cls._impl_v1(bb, inputs, attr, params)
        return _Lowering(bb, inputs, attr).emit()


def _input(inputs: Any, index: int) -> Any | None:
    return inputs[index] if len(inputs) > index else None


class _Lowering:
    """One Attention node; shapes must be static (they size the masks)."""

    def __init__(self, bb: Any, inputs: Any, attr: dict[str, Any]) -> None:
        self.bb = bb
        self.attr = attr
        self.q, self.k, self.v = inputs[0], inputs[1], inputs[2]
        self.mask = _input(inputs, 3)
        self.past_k, self.past_v = _input(inputs, 4), _input(inputs, 5)
        self.nonpad = _input(inputs, 6)
        self.dtype = dtype_of(self.q)
        self.rank = len(static_shape(self.q, "Attention Q"))

    def emit(self) -> Any:
        bb, attr = self.bb, self.attr
        q, k, v = self.q, self.k, self.v
        if self.rank == 3:
            if "q_num_heads" not in attr or "kv_num_heads" not in attr:
                raise UnsupportedModelError("Attention with 3-D inputs needs q_num_heads")
            q = self._split_heads(q, int(attr["q_num_heads"]))
            k = self._split_heads(k, int(attr["kv_num_heads"]))
            v = self._split_heads(v, int(attr["kv_num_heads"]))
        if self.past_k is not None:
            k = bb.emit(op.concat([self.past_k, k], axis=2))
        if self.past_v is not None:
            v = bb.emit(op.concat([self.past_v, v], axis=2))
        present_k, present_v = k, v
        batch, q_heads, q_len, head = static_shape(q, "Attention Q")
        kv_heads, kv_len = static_shape(k, "Attention K")[1:3]
        if q_heads != kv_heads and q_heads % kv_heads == 0:  # grouped-query attention
            k = bb.emit(op.repeat(k, q_heads // kv_heads, axis=1))
            v = bb.emit(op.repeat(v, q_heads // kv_heads, axis=1))

        scale = attr.get("scale", 1.0 / math.sqrt(head))
        root = relax.const(np.array(math.sqrt(scale), dtype=self.dtype))
        kt = op.permute_dims(op.multiply(k, root), [0, 1, 3, 2])
        qk = self._matmul(op.multiply(q, root), kt)
        raw = qk
        softcap = float(attr.get("softcap", 0.0))
        if softcap > 0:
            cap = relax.const(np.array(softcap, dtype=self.dtype))
            qk = bb.emit(op.multiply(op.tanh(op.divide(qk, cap)), cap))

        bias = self._bias(batch, q_len, kv_len)
        scores = bb.emit(op.add(qk, bias)) if bias is not None else qk
        precision = _PRECISION.get(int(attr.get("softmax_precision", 0)), self.dtype)
        probs = bb.emit(op.nn.softmax(op.astype(scores, precision), axis=-1))
        if bias is not None:
            # A row with no attendable key softmaxes to NaN; ONNX defines it as zeros. TVM's
            # max starts from the lowest finite value, so an all -inf row reduces to that.
            row_max = op.max(bias, axis=-1, keepdims=True)
            wide = "float64" if self.dtype == "float64" else "float32"
            lowest = relax.const(_LOWEST[self.dtype], wide)
            masked = op.less_equal(op.astype(row_max, wide), lowest)
            probs = bb.emit(op.where(masked, relax.const(0.0, precision), probs))
        probs = bb.emit(op.astype(probs, self.dtype))

        y = self._matmul(probs, v)
        if self.rank == 3:
            y = bb.emit(op.permute_dims(y, [0, 2, 1, 3]))
            y = bb.emit(op.reshape(y, [batch, q_len, -1]))
        mode = int(attr.get("qk_matmul_output_mode", 0))
        # 0: the raw product (as ONNX Runtime), 1: after softcap, 2: with the mask, 3: softmax.
        qk_out = {0: raw, 2: scores, 3: probs}.get(mode, qk)
        return relax.Tuple([y, present_k, present_v, qk_out])

    def _matmul(self, a: Any, b: Any) -> Any:
        """The product a @ b; half-precision ones accumulate in float32, as NumPy and ORT do."""
        if self.dtype in ("float16", "bfloat16"):
            wide = op.matmul(a, b, out_dtype="float32")
            return self.bb.emit(op.astype(wide, self.dtype))
        return self.bb.emit(op.matmul(a, b))

    def _split_heads(self, x: Any, heads: int) -> Any:
        """(batch, seq, heads * size) -> (batch, heads, seq, size)."""
        batch, seq, hidden = static_shape(x, "Attention input")
        x = self.bb.emit(op.reshape(x, [batch, seq, heads, hidden // heads]))
        return self.bb.emit(op.permute_dims(x, [0, 2, 1, 3]))

    def _additive(self, allowed: Any) -> Any:
        """0 where `allowed`, -inf elsewhere."""
        zero = relax.const(np.array(0, dtype=self.dtype))
        neg = relax.const(np.array(-np.inf, dtype=self.dtype))
        return op.where(allowed, zero, neg)

    def _bias(self, batch: int, q_len: int, kv_len: int) -> Any | None:
        """The additive mask: attn_mask, causal, sliding window and key padding."""
        bb, attr = self.bb, self.attr
        bias = None
        if self.mask is not None:
            mask = self._padded_mask(kv_len)
            is_bool = dtype_of(mask) == "bool"
            bias = bb.emit(self._additive(mask) if is_bool else mask)
        # Query i sits at absolute position i + offset: the past length, or per batch
        # nonpad_kv_seqlen - q_len for an external cache.
        diff = np.arange(q_len)[:, None] - np.arange(kv_len)[None, :]  # i - j
        rel: Any = relax.const(diff + self._past_len(), "int64")
        if self.nonpad is not None and self.past_k is None:
            offset = op.subtract(op.astype(self.nonpad, "int64"), relax.const(q_len, "int64"))
            rel = bb.emit(op.add(relax.const(diff, "int64"), op.reshape(offset, [batch, 1, 1])))
        terms = []
        if int(attr.get("is_causal", 0)):
            terms.append(op.greater_equal(rel, relax.const(0, "int64")))
        left = int(attr.get("left_window_size", -1))
        right = int(attr.get("right_window_size", -1))
        if left >= 0:
            terms.append(op.less_equal(rel, relax.const(left, "int64")))
        if right >= 0:
            terms.append(op.less_equal(op.negative(rel), relax.const(right, "int64")))
        for allowed in terms:
            term = bb.emit(self._additive(allowed))
            if len(term.ty.shape) == 3:  # per batch: (batch, 1, q, kv) so heads broadcast
                term = bb.emit(op.reshape(term, [batch, 1, q_len, kv_len]))
            bias = term if bias is None else bb.emit(op.add(bias, term))
        if self.nonpad is not None:
            keys = relax.const(np.arange(kv_len).reshape(1, kv_len), "int64")
            lengths = op.reshape(op.astype(self.nonpad, "int64"), [batch, 1])
            pad = bb.emit(self._additive(op.less(keys, lengths)))
            pad = bb.emit(op.reshape(pad, [batch, 1, 1, kv_len]))
            bias = pad if bias is None else bb.emit(op.add(bias, pad))
        return bias

    def _past_len(self) -> int:
        if self.past_k is None:
            return 0
        return static_shape(self.past_k, "Attention past_key")[2]

    def _padded_mask(self, kv_len: int) -> Any:
        """attn_mask widened to kv_len keys: padded with False (boolean) or -inf."""
        mask = self.mask
        shape = static_shape(mask, "Attention attn_mask")
        missing = kv_len - shape[-1]
        if missing <= 0:
            return mask
        dtype = dtype_of(mask)
        fill = np.full([*shape[:-1], missing], False if dtype == "bool" else -np.inf, dtype=dtype)
        return self.bb.emit(op.concat([mask, relax.const(fill)], axis=-1))

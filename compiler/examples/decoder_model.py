"""A Llama-style decoder with an explicit key/value cache, built in code (fixed seed).

It has the shape arithmetic PyTorch's `torch.onnx.export(dynamo=True)` leaves in such
graphs: the lengths `seq` and `past` read with `Shape` and squeezed to scalars, their sum
computed at run time, `Range` for positions and for the causal mask, `Expand` of the
key/value heads to the query heads (grouped-query attention) to a shape built with
`Concat`, and `Reshape` to shapes built from those scalars. Inputs: `input_ids` int64
[1, seq], `past_k`/`past_v` float32 [layers, 1, kv_heads, past, head_dim]; outputs: logits
[1, seq, vocab] and the grown caches `present_k`/`present_v`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper

from .models import _GraphBuilder

#: Opset of the exported graphs (dynamo exports opset 18).
DECODER_OPSET = 18


@dataclass(frozen=True)
class DecoderShape:
    """Sizes of the decoder; the defaults are small enough for a test."""

    layers: int = 2
    hidden: int = 64
    heads: int = 4
    kv_heads: int = 2
    vocab: int = 256
    ffn: int = 128

    @property
    def head_dim(self) -> int:
        """Width of one attention head."""
        return self.hidden // self.heads


class _Decoder:
    def __init__(self, shape: DecoderShape, seed: int) -> None:
        self.s = shape
        self.g = _GraphBuilder(seed)
        g = self.g
        self.one = g.const("c.one", np.array([1], np.int64))
        self.zero_s = g.const("c.zero_s", np.array(0, np.int64))
        self.one_s = g.const("c.one_s", np.array(1, np.int64))
        self.axis0 = g.const("c.axis0", np.array([0], np.int64))

    def n(self, op: str, inputs: list[str], out: str, **attrs: object) -> str:
        return self.g.node(op, inputs, out, **attrs)

    def const(self, name: str, value: np.ndarray) -> str:
        return self.g.const(name, value)

    def scalar_dim(self, tensor: str, axis: int, name: str) -> str:
        """A dimension as a 0-d int64 (dynamo's `sym_size_int`)."""
        vec = self.n("Shape", [tensor], f"{name}.vec", start=axis, end=axis + 1)
        return self.n("Squeeze", [vec, self.axis0], name)

    def vec(self, parts: list[str], name: str) -> str:
        """A shape vector from 0-d scalars and 1-d constants."""
        items = []
        for i, part in enumerate(parts):
            if part.startswith("c."):
                items.append(part)
            else:
                items.append(self.n("Reshape", [part, self.one], f"{name}.p{i}"))
        return self.n("Concat", items, name, axis=0)

    def rms_norm(self, x: str, name: str) -> str:
        s = self.s
        two = self.const(f"{name}.two", np.array(2.0, np.float32))
        eps = self.const(f"{name}.eps", np.array(1e-5, np.float32))
        weight = self.const(
            f"{name}.w", (1 + 0.1 * self.g.rng.standard_normal(s.hidden)).astype(np.float32)
        )
        sq = self.n("Pow", [x, two], f"{name}.sq")
        last = self.const(f"{name}.axes", np.array([-1], np.int64))
        mean = self.n("ReduceMean", [sq, last], f"{name}.mean", keepdims=1)
        var = self.n("Add", [mean, eps], f"{name}.var")
        inv = self.n("Reciprocal", [self.n("Sqrt", [var], f"{name}.std")], f"{name}.inv")
        return self.n("Mul", [self.n("Mul", [x, inv], f"{name}.normed"), weight], name)

    def linear(self, x: str, din: int, dout: int, name: str) -> str:
        w = self.g.weight(f"{name}.w", (din, dout), scale=1 / np.sqrt(din))
        return self.n("MatMul", [x, w], name)

    def heads(self, x: str, count: int, seq: str, name: str) -> str:
        """[1, seq, count*hd] -> [1, count, seq, hd]."""
        s = self.s
        shape = self.vec(
            [
                "c.one",
                seq,
                self.const(f"{name}.h", np.array([count], np.int64)),
                self.const(f"{name}.d", np.array([s.head_dim], np.int64)),
            ],
            f"{name}.shape",
        )
        split = self.n("Reshape", [x, shape], f"{name}.split")
        return self.n("Transpose", [split], name, perm=[0, 2, 1, 3])

    def projection(self, x: str, count: int, seq: str, name: str) -> str:
        """`count` heads of a linear projection of `x`, as [1, count, seq, head_dim]."""
        width = count * self.s.head_dim
        return self.heads(self.linear(x, self.s.hidden, width, name), count, seq, f"{name}h")

    def rotate(self, x: str, cos: str, sin: str, name: str) -> str:
        half = self.s.head_dim // 2
        big = self.const(f"{name}.big", np.array([1 << 62], np.int64))
        mid = self.const(f"{name}.mid", np.array([half], np.int64))
        axis = self.const(f"{name}.axis", np.array([3], np.int64))
        zero = self.const(f"{name}.zero", np.array([0], np.int64))
        x1 = self.n("Slice", [x, zero, mid, axis], f"{name}.x1")
        x2 = self.n("Slice", [x, mid, big, axis], f"{name}.x2")
        rotated = self.n("Concat", [self.n("Neg", [x2], f"{name}.neg"), x1], f"{name}.rot", axis=-1)
        a = self.n("Mul", [x, cos], f"{name}.a")
        b = self.n("Mul", [rotated, sin], f"{name}.b")
        return self.n("Add", [a, b], name)

    def layer(self, x: str, i: int, lens: dict[str, str]) -> tuple[str, str, str]:
        s, p = self.s, f"l{i}"
        normed = self.rms_norm(x, f"{p}.attn_norm")
        q = self.projection(normed, s.heads, lens["seq"], f"{p}.q")
        k = self.projection(normed, s.kv_heads, lens["seq"], f"{p}.k")
        v = self.projection(normed, s.kv_heads, lens["seq"], f"{p}.v")
        q = self.rotate(q, lens["cos"], lens["sin"], f"{p}.qr")
        k = self.rotate(k, lens["cos"], lens["sin"], f"{p}.kr")
        index = self.const(f"{p}.index", np.array(i, np.int64))
        past_k = self.n("Gather", ["past_k", index], f"{p}.past_k", axis=0)
        past_v = self.n("Gather", ["past_v", index], f"{p}.past_v", axis=0)
        k_all = self.n("Concat", [past_k, k], f"{p}.k_all", axis=2)
        v_all = self.n("Concat", [past_v, v], f"{p}.v_all", axis=2)
        k_rep = self.repeat_kv(k_all, lens["total"], f"{p}.k_rep")
        v_rep = self.repeat_kv(v_all, lens["total"], f"{p}.v_rep")
        kt = self.n("Transpose", [k_rep], f"{p}.kt", perm=[0, 1, 3, 2])
        scores = self.n("MatMul", [q, kt], f"{p}.scores")
        scale = self.const(f"{p}.scale", np.array(1 / np.sqrt(s.head_dim), np.float32))
        scaled = self.n("Mul", [scores, scale], f"{p}.scaled")
        masked = self.n("Add", [scaled, lens["mask"]], f"{p}.masked")
        probs = self.n("Softmax", [masked], f"{p}.probs", axis=-1)
        ctx = self.n("MatMul", [probs, v_rep], f"{p}.ctx")
        merged = self.n("Transpose", [ctx], f"{p}.ctx_t", perm=[0, 2, 1, 3])
        flat_shape = self.vec(
            ["c.one", lens["seq"], self.const(f"{p}.width", np.array([s.hidden], np.int64))],
            f"{p}.flat_shape",
        )
        flat = self.n("Reshape", [merged, flat_shape], f"{p}.flat")
        h = self.n("Add", [x, self.linear(flat, s.hidden, s.hidden, f"{p}.o")], f"{p}.h")
        normed2 = self.rms_norm(h, f"{p}.mlp_norm")
        gate = self.linear(normed2, s.hidden, s.ffn, f"{p}.gate")
        silu = self.n("Mul", [gate, self.n("Sigmoid", [gate], f"{p}.sig")], f"{p}.silu")
        up = self.linear(normed2, s.hidden, s.ffn, f"{p}.up")
        down = self.linear(self.n("Mul", [silu, up], f"{p}.gated"), s.ffn, s.hidden, f"{p}.down")
        out = self.n("Add", [h, down], f"{p}.out")
        axis = self.const(f"{p}.cache_axis", np.array([0], np.int64))
        return (
            out,
            self.n("Unsqueeze", [k_all, axis], f"{p}.kc"),
            self.n("Unsqueeze", [v_all, axis], f"{p}.vc"),
        )

    def repeat_kv(self, x: str, total: str, name: str) -> str:
        """[1, kv, total, hd] -> [1, heads, total, hd] by Unsqueeze, Expand, Reshape."""
        s = self.s
        rep = s.heads // s.kv_heads
        axis = self.const(f"{name}.axis", np.array([2], np.int64))
        wide = self.n("Unsqueeze", [x, axis], f"{name}.wide")
        kv = self.const(f"{name}.kv", np.array([s.kv_heads], np.int64))
        reps = self.const(f"{name}.reps", np.array([rep], np.int64))
        hd = self.const(f"{name}.hd", np.array([s.head_dim], np.int64))
        target = self.vec(["c.one", kv, reps, total, hd], f"{name}.target")
        expanded = self.n("Expand", [wide, target], f"{name}.expanded")
        heads = self.const(f"{name}.heads", np.array([s.heads], np.int64))
        shape = self.vec(["c.one", heads, total, hd], f"{name}.shape")
        return self.n("Reshape", [expanded, shape], name)

    def lengths(self) -> dict[str, str]:
        """seq, past, total = past + seq, rotary cos/sin and the causal mask."""
        s = self.s
        seq = self.scalar_dim("input_ids", 1, "seq")
        past = self.scalar_dim("past_k", 3, "past")
        total = self.n("Add", [past, seq], "total")
        positions = self.n("Range", [past, total, self.one_s], "positions")
        pos_f = self.n("Cast", [positions], "positions_f", to=TensorProto.FLOAT)
        inv = 1.0 / (10000 ** (np.arange(0, s.head_dim, 2, dtype=np.float32) / s.head_dim))
        inv_freq = self.const("inv_freq", inv.reshape(1, -1).astype(np.float32))
        col = self.n("Unsqueeze", [pos_f, self.const("c.col", np.array([1], np.int64))], "pos_col")
        freqs = self.n("MatMul", [col, inv_freq], "freqs")
        emb = self.n("Concat", [freqs, freqs], "emb", axis=-1)
        cos = self.n("Cos", [emb], "cos")
        sin = self.n("Sin", [emb], "sin")
        # A causal mask from the past length, as exporters build it: key j is visible to the
        # query at position p when j <= p.
        keys = self.n("Range", [self.zero_s, total, self.one_s], "key_positions")
        # The exporter reads the positions back from their float copy.
        back = self.n("Cast", [pos_f], "positions_back", to=TensorProto.INT64)
        rows = self.n("Unsqueeze", [back, self.const("c.r", np.array([1], np.int64))], "rows")
        visible = self.n("LessOrEqual", [keys, rows], "visible")
        zero_f = self.const("c.zero_f", np.array(0.0, np.float32))
        neg = self.const("c.neg", np.array(-3.0e38, np.float32))
        mask2d = self.n("Where", [visible, zero_f, neg], "mask2d")
        shape = self.vec(["c.one", "c.one", seq, total], "mask_shape")
        mask = self.n("Expand", [mask2d, shape], "mask")
        return {"seq": seq, "past": past, "total": total, "cos": cos, "sin": sin, "mask": mask}

    def build(self) -> onnx.ModelProto:
        s = self.s
        lens = self.lengths()
        table = self.g.weight("embed", (s.vocab, s.hidden), scale=1.0)
        x = self.n("Gather", [table, "input_ids"], "embedded", axis=0)
        keys, values = [], []
        for i in range(s.layers):
            x, k, v = self.layer(x, i, lens)
            keys.append(k)
            values.append(v)
        present_k = self.n("Concat", keys, "present_k", axis=0)
        present_v = self.n("Concat", values, "present_v", axis=0)
        final = self.rms_norm(x, "final_norm")
        self.linear(final, s.hidden, s.vocab, "logits")
        cache = [s.layers, 1, s.kv_heads]
        f32 = TensorProto.FLOAT
        inputs = [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, "seq"]),
            helper.make_tensor_value_info("past_k", f32, [*cache, "past", s.head_dim]),
            helper.make_tensor_value_info("past_v", f32, [*cache, "past", s.head_dim]),
        ]
        outputs = [
            helper.make_tensor_value_info("logits", f32, [1, "seq", s.vocab]),
            helper.make_tensor_value_info(present_k, f32, [*cache, "total", s.head_dim]),
            helper.make_tensor_value_info(present_v, f32, [*cache, "total", s.head_dim]),
        ]
        graph = helper.make_graph(self.g.nodes, "decoder", inputs, outputs, self.g.initializers)
        model = helper.make_model(
            graph, opset_imports=[helper.make_opsetid("", DECODER_OPSET)], producer_name="ember"
        )
        onnx.checker.check_model(model, full_check=True)
        return model


def kv_decoder(shape: DecoderShape | None = None, seed: int = 0) -> onnx.ModelProto:
    """The decoder described in the module docstring, with seeded random weights."""
    return _Decoder(shape or DecoderShape(), seed).build()


def empty_cache(shape: DecoderShape) -> np.ndarray:
    """A cache of past length 0, for the first (prefill) step."""
    return np.zeros((shape.layers, 1, shape.kv_heads, 0, shape.head_dim), np.float32)

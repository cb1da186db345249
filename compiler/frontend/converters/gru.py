"""ONNX GRU (gates z, r, h), both `linear_before_reset` forms, `clip`, masks."""

from __future__ import annotations

from typing import Any

from tvm import relax
from tvm.relax.frontend.onnx.onnx_frontend import OnnxOpConverter

from .activations import activations
from .common import const, split
from .recurrent import (
    Sequence,
    bias_halves,
    clip,
    direction_order,
    initial_state,
    outputs,
    project,
    read_sequence,
    run_direction,
    transposed,
)

op = relax.op


class GRU(OnnxOpConverter):
    """Gated recurrent unit; outputs (Y, Y_h)."""

    @classmethod
    def _impl_v7(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        s = read_sequence(bb, inputs, attr)
        acts = activations(attr, ["Sigmoid", "Tanh"], s.dirs, s.dtype)
        ys, finals = [], []
        for d in range(s.dirs):
            cell = _Cell(bb, s, attr, acts[d], transposed(bb, inputs[2], d))
            halves = bias_halves(bb, inputs[3], d)
            bias = None
            if halves is not None:
                wb, rb = halves
                rbz, rbr, cell.rbh = split(bb, rb, 3, 0)
                # Rbh sits inside the reset product when linear_before_reset is set.
                rb_x = op.concat([rbz, rbr, op.zeros_like(rbz)], 0) if cell.lbr else rb
                bias = bb.emit(op.add(wb, rb_x))
            cell.xs = project(bb, s, inputs[1], bias, d)
            h0 = initial_state(bb, s, inputs[5], d)
            y, state = run_direction(bb, s, direction_order(attr, s, d), [h0], cell.step)
            ys.append(y)
            finals.append(state)
        return outputs(bb, s, attr, ys, finals)


class _Cell:
    """One direction's GRU step."""

    def __init__(self, bb: Any, s: Sequence, attr: dict[str, Any], acts: list, rt: Any) -> None:
        self.bb, self.s = bb, s
        self.f, self.g = acts
        self.limit = clip(attr)
        self.lbr = bool(attr.get("linear_before_reset", 0))
        h = s.hidden
        self.rt_zr = bb.emit(op.strided_slice(rt, [1], [0], [2 * h]))
        self.rt_h = bb.emit(op.strided_slice(rt, [1], [2 * h], [3 * h]))
        self.rbh: Any | None = None
        self.xs: list[Any] = []

    def step(self, t: int, state: list[Any]) -> list[Any]:
        """H_t from H_{t-1}."""
        bb, h = self.bb, state[0]
        xz, xr, xh = split(bb, self.xs[t], 3, 1)
        rz, rr = split(bb, bb.emit(op.matmul(h, self.rt_zr)), 2, 1)
        z = bb.emit(self.f(self.limit(op.add(xz, rz))))
        r = bb.emit(self.f(self.limit(op.add(xr, rr))))
        if self.lbr:
            rec = op.matmul(h, self.rt_h)
            if self.rbh is not None:
                rec = op.add(rec, self.rbh)
            pre = op.add(xh, op.multiply(r, rec))
        else:
            pre = op.add(xh, op.matmul(op.multiply(r, h), self.rt_h))
        cand = bb.emit(self.g(self.limit(pre)))
        one = const(1.0, self.s.dtype)
        return [bb.emit(op.add(op.multiply(op.subtract(one, z), cand), op.multiply(z, h)))]

"""ONNX LSTM (gates i, o, f, c), with peepholes, `input_forget`, `clip`, masks."""

from __future__ import annotations

from typing import Any

from tvm import relax
from tvm.relax.frontend.onnx.onnx_frontend import OnnxOpConverter

from .activations import activations
from .common import const, split, take
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


def _peepholes(bb: Any, p: Any | None, d: int) -> list[Any] | None:
    """(Pi, Po, Pf) of direction `d`, or None."""
    return None if p is None else split(bb, take(bb, p, d, 0), 3, 0)


class LSTM(OnnxOpConverter):
    """Long short-term memory; outputs (Y, Y_h, Y_c)."""

    @classmethod
    def _impl_v7(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        s = read_sequence(bb, inputs, attr)
        acts = activations(attr, ["Sigmoid", "Tanh", "Tanh"], s.dirs, s.dtype)
        ys, finals = [], []
        for d in range(s.dirs):
            halves = bias_halves(bb, inputs[3], d)
            bias = bb.emit(op.add(*halves)) if halves else None
            xs = project(bb, s, inputs[1], bias, d)
            cell = _Cell(bb, s, attr, acts[d], transposed(bb, inputs[2], d))
            cell.xs, cell.peep = xs, _peepholes(bb, inputs[7], d)
            state = [initial_state(bb, s, inputs[5], d), initial_state(bb, s, inputs[6], d)]
            y, state = run_direction(bb, s, direction_order(attr, s, d), state, cell.step)
            ys.append(y)
            finals.append(state)
        return outputs(bb, s, attr, ys, finals)


class _Cell:
    """One direction's LSTM step."""

    def __init__(self, bb: Any, s: Sequence, attr: dict[str, Any], acts: list, rt: Any) -> None:
        self.bb, self.s, self.rt = bb, s, rt
        self.f, self.g, self.h = acts
        self.limit = clip(attr)
        self.input_forget = bool(attr.get("input_forget", 0))
        self.xs: list[Any] = []
        self.peep: list[Any] | None = None

    def step(self, t: int, state: list[Any]) -> list[Any]:
        """(H_t, C_t) from (H_{t-1}, C_{t-1})."""
        bb, (h, c) = self.bb, state
        gates = bb.emit(op.add(self.xs[t], op.matmul(h, self.rt)))
        i, o, f, cand = split(bb, gates, 4, 1)
        if self.peep is not None:
            i = op.add(i, op.multiply(self.peep[0], c))
            f = op.add(f, op.multiply(self.peep[2], c))
        i = bb.emit(self.f(self.limit(i)))
        # input_forget couples the gates: f = 1 - i.
        one = const(1.0, self.s.dtype)
        f = op.subtract(one, i) if self.input_forget else self.f(self.limit(f))
        cand = self.g(self.limit(cand))
        c_new = bb.emit(op.add(op.multiply(f, c), op.multiply(i, cand)))
        if self.peep is not None:
            o = op.add(o, op.multiply(self.peep[1], c_new))
        o = self.f(self.limit(o))
        return [bb.emit(op.multiply(o, self.h(c_new))), c_new]

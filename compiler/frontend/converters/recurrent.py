"""RNN, GRU and LSTM, unrolled over a static sequence length.

TVM 0.27's importer has no recurrent operators. Each converter here projects the whole input
sequence through W once (one matmul), then emits one small cell per time step and direction.
`sequence_lens` becomes a per-step mask: a batch entry past its length keeps its state and
outputs zeros, which also makes the reverse direction start at each entry's own last step.
Layouts 0 (`[seq, batch, ...]`) and 1 (`[batch, seq, ...]`) and all three directions work.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tvm import relax
from tvm.relax.frontend.onnx.onnx_frontend import OnnxOpConverter

from .activations import activations
from .common import const, dtype_of, split, static_shape, static_shape_dim, take, text

op = relax.op


@dataclass
class Sequence:
    """What every recurrent operator reads from its inputs and attributes."""

    x: Any  # [seq, batch, input], layout 0
    seq: int
    batch: Any  # int or a symbolic PrimExpr
    hidden: int
    dirs: int
    dtype: str
    lens: Any | None  # [batch] int32, or None
    layout: int = 0  # 1: X, Y and the states are batch-major

    def mask(self, t: int) -> Any | None:
        """Booleans [batch, 1]: whether step `t` is inside each batch entry's sequence."""
        if self.lens is None:
            return None
        inside = op.less(const(t, "int32"), self.lens)
        return op.reshape(inside, [self.batch, 1])


def read_sequence(bb: Any, inputs: Any, attr: dict[str, Any]) -> Sequence:
    """Shapes, direction count and the time-major input of a recurrent node."""
    x = inputs[0]
    if attr.get("layout", 0) == 1:
        x = bb.emit(op.permute_dims(x, [1, 0, 2]))
    seq = static_shape_dim(x, 0, "the sequence length of X")
    batch = x.ty.shape.values[1]  # may stay symbolic (a dynamic batch)
    direction = text(attr.get("direction", b"forward"))
    dirs = 2 if direction == "bidirectional" else 1
    lens = inputs[4]
    if lens is not None:
        lens = bb.emit(op.astype(lens, "int32"))
    hidden = int(attr.get("hidden_size", static_shape(inputs[2], "R")[-1]))
    layout = int(attr.get("layout", 0))
    return Sequence(x, seq, batch, hidden, dirs, dtype_of(x), lens, layout)


def initial_state(bb: Any, s: Sequence, value: Any, d: int) -> Any:
    """Direction `d`'s initial state [batch, hidden], zeros when the input is absent."""
    if value is None:
        return bb.emit(op.zeros((s.batch, s.hidden), s.dtype))
    return take(bb, value, d, 1 if s.layout == 1 else 0)


def project(bb: Any, s: Sequence, w: Any, bias: Any | None, d: int) -> list[Any]:
    """Per time step, `x_t @ W_d^T (+ bias)`: one matmul for the whole sequence."""
    wt = bb.emit(op.permute_dims(take(bb, w, d, 0), [1, 0]))
    proj = bb.emit(op.matmul(s.x, wt))
    if bias is not None:
        proj = bb.emit(op.add(proj, bias))
    return [take(bb, proj, t, 0) for t in range(s.seq)]


def transposed(bb: Any, r: Any, d: int) -> Any:
    """`R_d^T`, so a step is `h @ R_d^T`."""
    return bb.emit(op.permute_dims(take(bb, r, d, 0), [1, 0]))


def direction_order(attr: dict[str, Any], s: Sequence, d: int) -> list[int]:
    """Time steps in processing order for direction `d`."""
    direction = text(attr.get("direction", b"forward"))
    backward = direction == "reverse" or (direction == "bidirectional" and d == 1)
    return list(range(s.seq - 1, -1, -1) if backward else range(s.seq))


def masked(bb: Any, mask: Any | None, new: Any, old: Any) -> Any:
    """`new` where the step is inside the sequence, else `old`."""
    return new if mask is None else bb.emit(op.where(mask, new, old))


def stack(bb: Any, parts: list[Any], axis: int) -> Any:
    """Stack equal-shaped tensors along a new `axis`."""
    return bb.emit(op.concat([op.expand_dims(p, [axis]) for p in parts], axis))


def clip(attr: dict[str, Any]) -> Callable[[Any], Any]:
    """The `clip` attribute as a function on gate pre-activations (identity if unset)."""
    if "clip" not in attr:
        return lambda x: x
    bound = float(attr["clip"])
    return lambda x: op.clip(x, -bound, bound)


Step = Callable[[int, list[Any]], list[Any]]


def run_direction(bb: Any, s: Sequence, order: list[int], state: list[Any], step: Step) -> Any:
    """Run `step(t, state) -> new_state` over `order`; state[0] is h. Returns (Y_d, state)."""
    outputs: dict[int, Any] = {}
    zeros = relax.const(0.0, s.dtype)
    for t in order:
        mask = s.mask(t)
        new = step(t, state)
        outputs[t] = masked(bb, mask, new[0], zeros) if mask is not None else new[0]
        state = [masked(bb, mask, n, o) for n, o in zip(new, state, strict=True)]
    return stack(bb, [outputs[t] for t in range(s.seq)], 0), state


def outputs(bb: Any, s: Sequence, attr: dict[str, Any], ys: list[Any], finals: list[list]) -> Any:
    """(Y, Y_h[, Y_c]) in the node's layout from per-direction results."""
    y = stack(bb, ys, 1)  # [seq, dirs, batch, hidden]
    states = [stack(bb, [f[k] for f in finals], 0) for k in range(len(finals[0]))]
    if attr.get("layout", 0) == 1:
        y = bb.emit(op.permute_dims(y, [2, 0, 1, 3]))
        states = [bb.emit(op.permute_dims(st, [1, 0, 2])) for st in states]
    return relax.Tuple([y, *states])


def bias_halves(bb: Any, b: Any | None, d: int) -> tuple[Any, Any] | None:
    """(Wb, Rb) of direction `d` from B = [Wb, Rb], or None without B."""
    if b is None:
        return None
    wb, rb = split(bb, take(bb, b, d, 0), 2, 0)
    return wb, rb


class RNN(OnnxOpConverter):
    """ONNX RNN: `H_t = f(X_t W^T + H_{t-1} R^T + Wb + Rb)`."""

    @classmethod
    def _impl_v7(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        s = read_sequence(bb, inputs, attr)
        acts = activations(attr, ["Tanh"], s.dirs, s.dtype)
        limit = clip(attr)
        ys, finals = [], []
        for d in range(s.dirs):
            halves = bias_halves(bb, inputs[3], d)
            bias = bb.emit(op.add(*halves)) if halves else None
            xs, rt = project(bb, s, inputs[1], bias, d), transposed(bb, inputs[2], d)
            f = acts[d][0]

            def step(t: int, st: list[Any], xs: Any = xs, rt: Any = rt, f: Any = f) -> list:
                return [bb.emit(f(limit(op.add(xs[t], op.matmul(st[0], rt)))))]

            h0 = initial_state(bb, s, inputs[5], d)
            y, state = run_direction(bb, s, direction_order(attr, s, d), [h0], step)
            ys.append(y)
            finals.append(state)
        return outputs(bb, s, attr, ys, finals)

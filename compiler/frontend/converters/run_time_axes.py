"""Reductions whose axes are a graph input, known only at run time.

TVM's reduce converters need constant axes. Here the axes become a 0/1 flag per dimension
(`s_d`, symbolic sizes matched from a run-time shape), and one kernel reduces every
dimension at once: output extent `n_d - s_d * (n_d - 1)`, reduction extent
`1 + s_d * (n_d - 1)`, element `x[i_d + r_d]`. A kept dimension has a reduction extent of 1
and a reduced one an output extent of 1, so the same loop nest serves every choice of axes.
Without keepdims the result is a reshape (a view) to the kept extents. The number of axes is
the axes input's static length; an empty axes input is decided at compile time. The kernel
takes Ember's default schedule for symbolic extents: fixed axes (`--bind`) compile faster code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from tvm import relax, te, tirx
from tvm.relax.frontend.onnx import onnx_frontend

from ember.errors import UnsupportedModelError

from .subgraph import constant_value

op = relax.op

_Map = Callable[[Any], Any]


def _identity_map(x: Any) -> Any:
    return x


def _square(x: Any) -> Any:
    return x * x


#: ONNX operator -> (map applied to each element, reducer, map applied to the reduced value).
_KINDS: dict[str, tuple[_Map, str, _Map]] = {
    "ReduceSum": (_identity_map, "sum", _identity_map),
    "ReduceMean": (_identity_map, "sum", _identity_map),  # divided by the count below
    "ReduceSumSquare": (_square, "sum", _identity_map),
    "ReduceL1": (tirx.abs, "sum", _identity_map),
    "ReduceL2": (_square, "sum", tirx.sqrt),
    "ReduceLogSum": (_identity_map, "sum", tirx.log),
    "ReduceLogSumExp": (_identity_map, "sum", tirx.log),  # max-shifted below
    "ReduceMax": (_identity_map, "max", _identity_map),
    "ReduceMin": (_identity_map, "min", _identity_map),
    "ReduceProd": (_identity_map, "prod", _identity_map),
}


#: The reductions whose axes may be an input (ReduceSum from opset 13, the others from 18).
REDUCTIONS = tuple(_KINDS)


def _axes_length(inputs: Any) -> int | None:
    """The static length of a non-constant axes input; None if there is none or it is constant."""
    if len(inputs) < 2 or inputs[1] is None or constant_value(inputs[1]) is not None:
        return None
    values = getattr(getattr(inputs[1].ty, "shape", None), "values", None)
    if values is None or not isinstance(values[0], tirx.IntImm):
        return -1
    return int(values[0])


def _start(reducer: str, dtype: str) -> Any:
    if reducer == "sum":
        return tirx.const(0, dtype)
    if reducer == "prod":
        return tirx.const(1, dtype)
    largest = reducer == "min"
    if dtype.startswith("float"):
        return tirx.const(float("inf") if largest else float("-inf"), dtype)
    info = np.iinfo(dtype)
    return tirx.const(int(info.max if largest else info.min), dtype)


def _reducer(reducer: str) -> Any:
    combine = {
        "sum": lambda a, b: a + b,
        "prod": lambda a, b: a * b,
        "max": lambda a, b: tirx.max(a, b),
        "min": lambda a, b: tirx.min(a, b),
    }[reducer]
    return te.comm_reducer(combine, lambda dtype: _start(reducer, dtype), name=reducer)


def _kernel(kind: str, flags: list[Any]) -> Callable[..., Any]:
    element, reducer, after = _KINDS[kind]

    def compute(x: te.Tensor, *shift: te.Tensor) -> te.Tensor:
        n = list(x.shape)
        out = [n[d] - flags[d] * (n[d] - 1) for d in range(len(n))]
        extents = [1 + flags[d] * (n[d] - 1) for d in range(len(n))]

        def body(*index: Any) -> Any:
            axes = [te.reduce_axis((0, e), f"r{d}") for d, e in enumerate(extents)]
            value = x[tuple(i + r for i, r in zip(index, axes, strict=True))]
            if shift:
                value = tirx.exp(value - shift[0][index])
            return _reducer(reducer)(element(value), axis=axes)

        reduced = te.compute(out, body, name="reduce")
        if kind == "ReduceMean":
            count = tirx.const(1, "int64")
            for e in extents:
                count = count * e
            return te.compute(out, lambda *i: reduced[i] / count.astype(x.dtype), name="mean")
        if shift:
            return te.compute(out, lambda *i: after(reduced[i]) + shift[0][i], name="shifted")
        return te.compute(out, lambda *i: after(reduced[i]), name="finish")

    return compute


def axis_hits(bb: Any, axes: Any, rank: int) -> Any:
    """An int64 [k, rank] tensor: row j is 1 at the dimension the j-th run-time axis names.

    `axes` is an integer tensor (a scalar or [k]); negative axes count from the end.
    """
    axes = bb.emit(op.reshape(bb.emit(op.astype(axes, "int64")), [-1]))
    normalized = op.where(
        op.less(axes, relax.const(0, "int64")), op.add(axes, relax.const(rank, "int64")), axes
    )
    hits = op.equal(op.expand_dims(normalized, 1), op.arange(0, rank, 1, "int64"))
    return bb.emit(op.astype(hits, "int64"))


def axis_flags(bb: Any, axes: Any, rank: int, name: str) -> list[Any]:
    """One symbolic 0/1 per dimension of a rank-`rank` tensor: 1 where run-time `axes` name it.

    The flags are matched from a run-time shape, so kernels can use them in their extents.
    """
    flags_tensor = bb.emit(op.max(axis_hits(bb, axes, rank), axis=[0]))
    return list(onnx_frontend._tensor_to_shape_expr(bb, flags_tensor, rank, name).values)


def _empty(data: Any) -> bool:
    return any(isinstance(n, tirx.IntImm) and int(n) == 0 for n in data.ty.shape.values)


def _start_values(kind: str, flags: list[Any], data: Any) -> Callable[[], te.Tensor]:
    """A kernel of no input: the reduced shape filled with the value of an empty reduction.

    A kernel that reads an empty tensor is not run, so it could not write its start value.
    """
    _, reducer, after = _KINDS[kind]
    dtype = str(data.ty.dtype)
    n = list(data.ty.shape.values)
    out = [n[d] - flags[d] * (n[d] - 1) for d in range(len(n))]
    value = after(_start(reducer, dtype))
    if kind == "ReduceMean":
        value = tirx.const(float("nan"), dtype)

    def compute() -> te.Tensor:
        return te.compute(out, lambda *i: value, name="empty_reduction")

    return compute


def reduce_run_time_axes(bb: Any, kind: str, data: Any, axes: Any, keepdims: bool) -> Any:
    """`kind` of `data` over the run-time `axes` (int64 [k], negative counting from the end)."""
    if str(data.ty.dtype) == "bool":
        # TE has no max/min identity for bool; as uint8 the order and the values are the same.
        widened = bb.emit(op.astype(data, "uint8"))
        return op.astype(reduce_run_time_axes(bb, kind, widened, axes, keepdims), "bool")
    rank = len(data.ty.shape.values)
    flags = axis_flags(bb, axes, rank, "reduced")
    if _empty(data):
        # No element to reduce: every output element is the reduction's start value.
        result = bb.emit_te(_start_values(kind, flags, data))
    elif kind == "ReduceLogSumExp":
        peak = bb.emit_te(_kernel("ReduceMax", flags), data)
        result = bb.emit_te(_kernel(kind, flags), data, peak)
    else:
        result = bb.emit_te(_kernel(kind, flags), data)
    if keepdims:
        return result
    count = int(axes.ty.shape.values[0])
    kept: list[Any] = []
    before: Any = tirx.const(0, "int64")
    for d, n in enumerate(data.ty.shape.values):
        kept.append((before, (1 - flags[d]) * n))
        before = before + (1 - flags[d])
    dims = [
        sum(
            (tirx.Select(b == j, extent, tirx.const(0, "int64")) for b, extent in kept),
            tirx.const(0, "int64"),
        )
        for j in range(rank - count)
    ]
    return op.reshape(result, relax.ShapeExpr(dims))


def with_run_time_axes(name: str, base: Any) -> Any:
    """`base`'s converter for the reduction `name`, taking run-time axes where it cannot."""
    since = 13 if name == "ReduceSum" else 18

    def convert(cls: Any, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        length = _axes_length(inputs)
        if length == 0:
            # An empty axes input: its emptiness is static, so the choice is made here.
            if attr.get("noop_with_empty_axes", 0):
                return inputs[0]
            return getattr(base, f"_impl_v{since}")(bb, [inputs[0]], attr, params)
        if length is not None:
            keepdims = bool(attr.get("keepdims", 1))
            if length < 0 and not keepdims:
                # The result's rank would be known only at run time.
                raise UnsupportedModelError(
                    f"{name} without keepdims needs axes of a static length (bind them with --bind)"
                )
            return reduce_run_time_axes(bb, name, inputs[0], inputs[1], keepdims)
        return getattr(base, f"_impl_v{since}")(bb, inputs, attr, params)

    return type(name, (base,), {f"_impl_v{since}": classmethod(convert), "__doc__": base.__doc__})

"""What each Relax operator requires of its operands' shapes, as run-time checkable conditions.

Relax's struct-info inference only rejects shapes it can *prove* incompatible: `matmul` of
`[n, k]` by `[m, p]` infers `[n, p]` and never records `k == m`; `add` of `[n]` and `[m]`
infers a shape-less tensor. The generated kernels then index with one side's extent and read
past the other's buffer when the two differ at run time. This module restates each operator's
requirement (equal reduction dims, broadcastable dims, equal element counts, ...) as TIR
conditions over the operands' symbolic dimensions; `insert_guards` checks the ones the
arithmetic analyzer cannot prove at compile time.

A rule only sees dimensions Relax knows (a symbol or a constant): an operand whose shape is
unknown (ndim only) contributes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import tvm
from tvm import relax, tirx

from ..ir.extents import as_int64, element_count

PrimExpr = Any  # TIR expressions (TVM 0.27 has one `Expr` class for Relax and TIR)


@dataclass(frozen=True)
class Requirement:
    """`condition` must hold; otherwise the run fails with `message` ({} filled by `values`)."""

    condition: PrimExpr
    message: str
    values: tuple[PrimExpr, ...]


def dims(expr: relax.Expr) -> list[PrimExpr] | None:
    """The operand's dimensions, or None where Relax does not know them."""
    ty = expr.ty
    if not isinstance(ty, relax.TensorType) or ty.shape is None:
        return None
    values = getattr(ty.shape, "values", None)
    return list(values) if values is not None else None


def _text(value: PrimExpr) -> str:
    if isinstance(value, tirx.IntImm):
        return str(value.value)
    # TVMScript spells constants `T.int64(4)`; users read `4`.
    return "'" + re.sub(r"T\.u?int\d+\((-?\d+)\)", r"\1", str(value)) + "' = {}"


def _shown(*values: PrimExpr) -> tuple[PrimExpr, ...]:
    return tuple(v for v in values if not isinstance(v, tirx.IntImm))


def equal(a: PrimExpr, b: PrimExpr, what: str) -> Requirement:
    """`a == b`; the message reads '<what> must agree, got <a> and <b>'."""
    a, b = as_int64(a), as_int64(b)
    return Requirement(
        tirx.EQ(a, b), f"{what} must agree, got {_text(a)} and {_text(b)}", _shown(a, b)
    )


def at_most(a: PrimExpr, b: PrimExpr, what: str) -> Requirement:
    """`a <= b`."""
    a, b = as_int64(a), as_int64(b)
    return Requirement(tirx.LE(a, b), f"{what}: {_text(a)} exceeds {_text(b)}", _shown(a, b))


def broadcastable(shapes: list[list[PrimExpr]], what: str) -> list[Requirement]:
    """NumPy broadcasting: aligned from the right, each pair of dims is equal or one is 1."""
    out: list[Requirement] = []
    rank = max(len(s) for s in shapes)
    for axis in range(1, rank + 1):
        column = [s[-axis] for s in shapes if len(s) >= axis]
        for i, a in enumerate(column):
            for b in column[i + 1 :]:
                a, b = as_int64(a), as_int64(b)
                one = tirx.const(1, "int64")
                ok = tirx.Or(tirx.Or(tirx.EQ(a, b), tirx.EQ(a, one)), tirx.EQ(b, one))
                text = f"{what} cannot broadcast dimension {_text(a)} against {_text(b)}"
                out.append(Requirement(ok, text, _shown(a, b)))
    return out


Rule = Callable[[relax.Call, str], list[Requirement]]


def _broadcast_rule(call: relax.Call, what: str) -> list[Requirement]:
    shapes = [d for d in (dims(a) for a in call.args) if d is not None]
    return broadcastable(shapes, what) if len(shapes) > 1 else []


def _matmul_rule(call: relax.Call, what: str) -> list[Requirement]:
    a, b = dims(call.args[0]), dims(call.args[1])
    if a is None or b is None or not a or not b:
        return []
    k_b = b[0] if len(b) == 1 else b[-2]
    out = [equal(a[-1], k_b, f"{what}: the inner dimensions")]
    return out + broadcastable([a[:-2], b[:-2]], f"{what} (batch dimensions)")


def _concat_rule(call: relax.Call, what: str) -> list[Requirement]:
    fields = getattr(call.args[0].ty, "fields", None) or []
    shapes = [s for s in (_field_dims(f) for f in fields) if s is not None]
    axis = int(call.attrs.axis) if call.attrs.axis is not None else 0
    out: list[Requirement] = []
    for other in shapes[1:]:
        if len(other) != len(shapes[0]):
            continue
        for i, (a, b) in enumerate(zip(shapes[0], other, strict=True)):
            if i != axis % len(other):
                out.append(equal(a, b, f"{what}: dimension {i} of its inputs"))
    return out


def _field_dims(ty: relax.Type) -> list[PrimExpr] | None:
    if not isinstance(ty, relax.TensorType) or ty.shape is None:
        return None
    values = getattr(ty.shape, "values", None)
    return list(values) if values is not None else None


def _reshape_rule(call: relax.Call, what: str) -> list[Requirement]:
    src, dst = dims(call.args[0]), _field_dims(call.ty)
    if src is None or dst is None:
        return []
    return [equal(element_count(src), element_count(dst), f"{what}: the element counts")]


def _conv_rule(call: relax.Call, what: str) -> list[Requirement]:
    data, weight = dims(call.args[0]), dims(call.args[1])
    if data is None or weight is None:
        return []
    c = data[str(call.attrs.data_layout).index("C")]
    i = weight[str(call.attrs.kernel_layout).index("I")]
    groups = tirx.const(int(call.attrs.groups), "int64")
    return [equal(c, as_int64(i) * groups, f"{what}: the input channels")]


def _norm_rule(call: relax.Call, what: str) -> list[Requirement]:
    data = dims(call.args[0])
    if data is None:
        return []
    axes = [int(a) for a in call.attrs.axes]
    expected = [data[a % len(data)] for a in axes]
    return _same_shape(expected, call.args[1:3], what)


def _batch_norm_rule(call: relax.Call, what: str) -> list[Requirement]:
    data = dims(call.args[0])
    if data is None:
        return []
    return _same_shape([data[int(call.attrs.axis) % len(data)]], call.args[1:5], what)


def _same_shape(
    expected: list[PrimExpr], operands: list[relax.Expr], what: str
) -> list[Requirement]:
    out: list[Requirement] = []
    for operand in operands:
        got = dims(operand)
        if got is not None and len(got) == len(expected):
            out += [
                equal(e, g, f"{what}: the scale/bias sizes")
                for e, g in zip(expected, got, strict=True)
            ]
    return out


def _gather_elements_rule(call: relax.Call, what: str) -> list[Requirement]:
    data, indices = dims(call.args[0]), dims(call.args[1])
    if data is None or indices is None or len(data) != len(indices):
        return []
    axis = int(call.attrs.axis) % len(data)
    return [
        at_most(i, d, f"{what}: dimension {n} of the indices")
        for n, (d, i) in enumerate(zip(data, indices, strict=True))
        if n != axis
    ]


def _broadcast_to_rule(call: relax.Call, what: str) -> list[Requirement]:
    src, dst = dims(call.args[0]), _field_dims(call.ty)
    if src is None or dst is None:
        return []
    out = []
    for a, b in zip(reversed(src), reversed(dst), strict=False):
        a, b = as_int64(a), as_int64(b)
        ok = tirx.Or(tirx.EQ(a, b), tirx.EQ(a, tirx.const(1, "int64")))
        out.append(Requirement(ok, f"{what} cannot expand {_text(a)} to {_text(b)}", _shown(a, b)))
    return out


_BROADCAST_OPS = [
    "add",
    "subtract",
    "multiply",
    "divide",
    "floor_divide",
    "power",
    "maximum",
    "minimum",
    "mod",
    "floor_mod",
    "equal",
    "not_equal",
    "less",
    "less_equal",
    "greater",
    "greater_equal",
    "logical_and",
    "logical_or",
    "logical_xor",
    "bitwise_and",
    "bitwise_or",
    "bitwise_xor",
    "left_shift",
    "right_shift",
    "where",
]

#: How users know the operators (the ONNX names) where Relax's differ in more than case.
_ONNX_NAMES = {
    "matmul": "MatMul",
    "conv1d": "Conv",
    "conv2d": "Conv",
    "conv3d": "Conv",
    "reshape": "Reshape",
    "concat": "Concat",
    "broadcast_to": "Expand",
    "layer_norm": "LayerNormalization",
    "batch_norm": "BatchNormalization",
    "gather_elements": "GatherElements",
}

RULES: dict[str, Rule] = {
    **{f"relax.{name}": _broadcast_rule for name in _BROADCAST_OPS},
    "relax.matmul": _matmul_rule,
    "relax.concat": _concat_rule,
    "relax.reshape": _reshape_rule,
    "relax.broadcast_to": _broadcast_to_rule,
    "relax.nn.conv1d": _conv_rule,
    "relax.nn.conv2d": _conv_rule,
    "relax.nn.conv3d": _conv_rule,
    "relax.nn.layer_norm": _norm_rule,
    "relax.nn.batch_norm": _batch_norm_rule,
    "relax.gather_elements": _gather_elements_rule,
}


def requirements(call: relax.Call) -> list[Requirement]:
    """Every requirement of `call` (possibly trivially true), or [] for an unlisted op."""
    if not isinstance(call.op, tvm.ir.Op) or call.op.name not in RULES:
        return []
    name = call.op.name.removeprefix("relax.").removeprefix("nn.")
    return RULES[call.op.name](call, _ONNX_NAMES.get(name, name))

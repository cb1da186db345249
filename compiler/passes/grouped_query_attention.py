"""Grouped-query attention without copying the key/value heads to every query head.

Llama-style decoders keep fewer key/value heads than query heads (`kv` against `kv * g`) and
export `repeat_kv` as Unsqueeze, Expand, Reshape: each step copies the whole cache `g` times
([b, kv, T, d] to [b, kv * g, T, d]), and the keys are transposed after that copy. For a decode
step these copies cost more than the attention itself (a Llama-style decoder with 255 cached
tokens: 0.19 ms per layer against 0.06 ms for its two matmuls).

Query heads `kv_i * g + j` all read key/value head `kv_i`, and `[b, kv * g, s, d]` is
`[b, kv, g * s, d]` in memory, so each group's queries multiply their one key/value head as a
matrix of `g * s` rows:

    matmul(q, permute(repeat(k)))  ->  reshape(matmul(reshape(q, [b, kv, g*s, d]), permute(k)))
    matmul(p, repeat(v))           ->  reshape(matmul(reshape(p, [b, kv, g*s, T]), v))

The reshapes are views; the same products, in the same order. Precondition: Relax before
LegalizeOps. `repeat` is broadcast_to of a [b, kv, 1, T, d] tensor to [b, kv, g, T, d], then
reshape to [b, kv * g, T, d]; anything else is left as it is.
"""

from __future__ import annotations

from typing import Any

import tvm
from tvm import relax
from tvm.relax.expr_functor import PyExprMutator, mutator

from ..ir.rewrite import rewrite_and_prune

_MATMUL = tvm.ir.Op.get("relax.matmul")
_PERMUTE_DIMS = tvm.ir.Op.get("relax.permute_dims")
_RESHAPE = tvm.ir.Op.get("relax.reshape")
_BROADCAST_TO = tvm.ir.Op.get("relax.broadcast_to")
_EXPAND_DIMS = tvm.ir.Op.get("relax.expand_dims")


@tvm.transform.module_pass(opt_level=0, name="EmberGroupedQueryAttention")
def grouped_query_attention(mod: tvm.IRModule, _ctx: Any) -> tvm.IRModule:
    """Multiply each key/value head once per group of query heads (see the module docstring)."""
    return rewrite_and_prune(mod, _Rewriter(mod))


def _shape(expr: relax.Expr) -> list[Any] | None:
    """The dimensions of a tensor of known rank and shape, else None."""
    ty = expr.ty
    if not isinstance(ty, relax.TensorType) or not isinstance(ty.shape, relax.ShapeExpr):
        return None
    return list(ty.shape.values)


@mutator
class _Rewriter(PyExprMutator):
    def __init__(self, mod: tvm.IRModule) -> None:
        super().__init__(mod)
        self.analyzer = tvm.sym.Analyzer()

    def visit_call_(self, call: relax.Call) -> relax.Expr:
        call = super().visit_call_(call)
        if not isinstance(call, relax.Call) or call.op != _MATMUL:
            return call
        lhs, rhs = call.args
        rows = _shape(lhs)
        out = _shape(call)
        if rows is None or out is None or len(rows) != 4:
            return call
        out_dtype = call.attrs.out_dtype
        transposed = self._binding(rhs, _PERMUTE_DIMS)
        if transposed is not None and [int(a) for a in transposed.attrs.axes] == [0, 1, 3, 2]:
            heads = self._repeated_heads(transposed.args[0])
            if heads is None:
                return call
            source, groups = heads
            if not self._groups_of(rows, source, groups):
                return call
            keys = self.builder_.emit(relax.op.permute_dims(source, [0, 1, 3, 2]))
            return self._grouped(lhs, keys, groups, out, out_dtype)
        heads = self._repeated_heads(rhs)
        if heads is None or not self._groups_of(rows, heads[0], heads[1]):
            return call
        return self._grouped(lhs, heads[0], heads[1], out, out_dtype)

    def _groups_of(self, rows: list[Any], source: relax.Expr, groups: Any) -> bool:
        """The left operand has every query head (not one broadcast) of `source`'s batch."""
        b, kv = (_shape(source) or [None, None])[:2]
        equal = self.analyzer.can_prove_equal
        return b is not None and equal(rows[0], b) and equal(rows[1], kv * groups)

    def _grouped(
        self, lhs: relax.Expr, rhs: relax.Expr, groups: Any, out: list[Any], out_dtype: str
    ) -> relax.Expr:
        """reshape(matmul(lhs as [b, kv, g * s, k], rhs [b, kv, k, n]), out)."""
        b, _, s, k = _shape(lhs) or []
        kv = (_shape(rhs) or [])[1]
        rows = self.builder_.emit(relax.op.reshape(lhs, [b, kv, groups * s, k]))
        product = self.builder_.emit(relax.op.matmul(rows, rhs, out_dtype=out_dtype))
        return relax.op.reshape(product, out)

    def _repeated_heads(self, expr: relax.Expr) -> tuple[relax.Expr, Any] | None:
        """(source [b, kv, T, d], g) where `expr` is `source` repeated g times per head."""
        reshaped = self._binding(expr, _RESHAPE)
        if reshaped is None:
            return None
        broadcast = self._binding(reshaped.args[0], _BROADCAST_TO)
        if broadcast is None:
            return None
        single = broadcast.args[0]
        one, wide, flat = _shape(single), _shape(broadcast), _shape(reshaped)
        if one is None or wide is None or flat is None or len(one) != 5 or len(flat) != 4:
            return None
        b, kv, unit, t, d = one
        equal = self.analyzer.can_prove_equal
        groups = wide[2]
        if not (
            equal(unit, 1)
            and all(equal(x, y) for x, y in zip(wide, [b, kv, groups, t, d], strict=True))
            and all(equal(x, y) for x, y in zip(flat, [b, kv * groups, t, d], strict=True))
        ):
            return None
        expanded = self._binding(single, _EXPAND_DIMS)
        if expanded is not None and [int(a) for a in expanded.attrs.axis] == [2]:
            return expanded.args[0], groups
        return self.builder_.emit(relax.op.reshape(single, [b, kv, t, d])), groups

    def _binding(self, expr: relax.Expr, op: tvm.ir.Op) -> relax.Call | None:
        """The call of `op` bound to `expr`, if `expr` is a variable bound to one."""
        if not isinstance(expr, relax.Var):
            return None
        value = self.lookup_binding(expr)
        return value if isinstance(value, relax.Call) and value.op == op else None

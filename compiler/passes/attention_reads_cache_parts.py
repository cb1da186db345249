"""Attention reads a cache's past and its new rows where they lie, not their concatenation.

A decoder with a key/value cache concatenates each layer's past keys (a view of the stacked
cache input, see `leading_takes_as_views`) with the step's new keys, reads the result in
attention, and then stacks every layer's grown cache into the output. Each cache is copied
twice per step, once by the concatenation and once by the stack: at a past length of 255,
GPT-2 small's 24 concatenations and 2 stacks took 4.5 ms of a 34 ms step (2 threads, Intel
Xeon). Matmuls distribute over a concatenation along the axis they read, so

    q @ concat(A, B)^T  ==  concat(q @ A^T, q @ B^T)           (scores, along their last axis)
    p @ concat(A, B)    ==  p[..., :a] @ A + p[..., a:] @ B   (values, a = A's rows)

and a stack of every layer's `concat(past[i], new_i)`, taken in order from one input, is
`concat(past, stack(new))` along the length axis: one copy of the caches, made once, for the
output only. A concatenation is rewritten only when every reader is one of these (scores,
values, a full stack), so that it is no longer computed at all; otherwise it stays as it was.

Precondition: Relax before dispatch and LegalizeOps, after `leading_takes_as_views`.
Postcondition: the rewritten concatenations are gone; their stacks concatenate the cache
input with the stacked new rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import tvm
from tvm import relax, tirx
from tvm.relax.expr_functor import PyExprMutator, mutator

from ..ir.attrs import out_dtype
from ..ir.bindings import function_bindings, readers
from ..ir.extents import entry_bytes
from ..ir.rewrite import rewrite_and_prune
from ..provenance.node_sources import AddedTags

_CONCAT = tvm.ir.Op.get("relax.concat")
_MATMUL = tvm.ir.Op.get("relax.matmul")
_PERMUTE = tvm.ir.Op.get("relax.permute_dims")
#: The ops that lift a layer's cache to [1, *shape] for a stack (same data, one more axis).
_LIFTS = (tvm.ir.Op.get("relax.reshape"), tvm.ir.Op.get("relax.expand_dims"))
_VIEW = tvm.ir.Op.get("relax.memory.view")


@dataclass
class _Cache:
    """One `concat((past, new), axis=rank - 2)` whose readers all distribute over it."""

    var: relax.Var
    past: relax.Expr
    new: relax.Expr
    scores: list[relax.Var] = field(default_factory=list)  # matmul(q, permute_dims(cache))
    values: list[relax.Var] = field(default_factory=list)  # matmul(p, cache)
    stacked_by: relax.Var | None = None  # reshape(cache, [1, ...]) read by a stack


@mutator
class _Rewriter(PyExprMutator):
    def __init__(self, mod: tvm.IRModule, caches: list[_Cache], stacks: dict[Any, Any]) -> None:
        super().__init__(mod)
        self.scores = {v: c for c in caches for v in c.scores}
        self.values = {v: c for c in caches for v in c.values}
        self.stacks = stacks  # stack var -> (cache input, [new rows per layer], axis)
        self.tags = AddedTags(mod)

    def _emit(self, expr: relax.Expr, sources: list[relax.Var | None]) -> relax.Var:
        var = self.builder_.emit(expr)
        self.tags.tag(var, sources)
        return var

    def visit_var_binding_(self, binding: relax.VarBinding) -> None:
        var, value = binding.var, binding.value
        if var in self.scores:
            cache = self.scores[var]
            q = self.visit_expr(value.args[0])
            rank = cache.var.ty.ndim
            swap = [*range(rank - 2), rank - 1, rank - 2]
            parts = []
            for part in (cache.past, cache.new):
                seen = self._emit(relax.op.permute_dims(self.visit_expr(part), swap), [cache.var])
                parts.append(self._emit(relax.op.matmul(q, seen, out_dtype(value)), [var]))
            # The last axis by its index: legalization rejects -1 on a symbolic shape.
            result = relax.op.concat(parts, axis=var.ty.ndim - 1)
        elif var in self.values:
            cache = self.values[var]
            p = self.visit_expr(value.args[0])
            axis = p.ty.ndim - 1
            rows = cache.past.ty.shape.values[-2]
            total = p.ty.shape.values[-1]
            halves = [(cache.past, 0, rows), (cache.new, rows, total)]
            products = []
            for part, begin, end in halves:
                # In bounds: p's last axis is the two parts' rows together.
                piece = relax.op.strided_slice(
                    p, axes=[axis], begin=[begin], end=[end], assume_inbound=True
                )
                sliced = self._emit(piece, [var])
                product = relax.op.matmul(sliced, self.visit_expr(part), out_dtype(value))
                products.append(self._emit(product, [var, cache.var]))
            # The past's product first in the add: it takes the add into its epilogue.
            result = relax.op.add(products[0], products[1])
        elif var in self.stacks:
            cache_input, new_rows, axis = self.stacks[var]
            lifted = [
                self._emit(relax.op.reshape(self.visit_expr(n), [1, *n.ty.shape.values]), [var])
                for n in new_rows
            ]
            stacked_new = self._emit(relax.op.concat(lifted, axis=0), [var])
            result = relax.op.concat([cache_input, stacked_new], axis=axis)
        else:
            super().visit_var_binding_(binding)
            return
        self._emit_result(var, result)

    def _emit_result(self, var: relax.Var, expr: relax.Expr) -> None:
        """Bind `expr` to a fresh variable of `var`'s kind, with `var`'s tags, and remap."""
        if isinstance(var, relax.DataflowVar):
            out = self.builder_.emit(expr)
        else:
            out = self.builder_.emit_output(expr)
        self.tags.tag(out, [var])
        self.set_var_remap(var, out)


@tvm.transform.module_pass(opt_level=0, name="EmberAttentionReadsCacheParts")
def attention_reads_cache_parts(mod: tvm.IRModule, _ctx: Any) -> tvm.IRModule:
    """Distribute attention's matmuls over cache concatenations (see the docstring)."""
    caches: list[_Cache] = []
    stacks: dict[Any, Any] = {}
    for func in mod.functions.values():
        if isinstance(func, relax.Function) and isinstance(func.body, relax.SeqExpr):
            found, found_stacks = _rewritable(func)
            caches.extend(found)
            stacks.update(found_stacks)
    if not caches:
        return mod
    rewriter = _Rewriter(mod, caches, stacks)
    # The new bindings carry the ONNX nodes they compute (`ember profile` names them).
    return rewriter.tags.apply(rewrite_and_prune(mod, rewriter))


def _rewritable(func: relax.Function) -> tuple[list[_Cache], dict[Any, Any]]:
    """The caches of `func` whose every reader distributes, and their stacks."""
    read_by = readers(func)
    bindings = {b.var: b.value for b in function_bindings(func)}
    candidates = {}
    for var, value in bindings.items():
        cache = _cache(var, value, read_by)
        if cache is not None:
            candidates[var] = cache
    # A stack is rewritten only whole: every part one candidate's lift, in the input's order.
    stacks: dict[Any, Any] = {}
    stacked: set[relax.Var] = set()
    by_lift = {c.stacked_by: c for c in candidates.values() if c.stacked_by is not None}
    for var, value in bindings.items():
        layers = _stack(value, by_lift)
        if layers is not None:
            cache_input, axis = _stack_input(layers, var, bindings)
            if cache_input is not None:
                stacks[var] = (cache_input, [c.new for c in layers], axis)
                stacked.update(c.var for c in layers)
    kept = [c for c in candidates.values() if c.stacked_by is None or c.var in stacked]
    return kept, stacks


def _cache(var: relax.Var, value: Any, read_by: dict[relax.Var, list[Any]]) -> _Cache | None:
    """`var = concat((past, new), axis=-2)` as a `_Cache` if every reader distributes over it."""
    if not (isinstance(value, relax.Call) and value.op.same_as(_CONCAT)):
        return None
    parts = value.args[0]
    ty = var.ty
    if not isinstance(parts, relax.Tuple) or len(parts.fields) != 2:
        return None
    if not isinstance(ty, relax.TensorType) or ty.shape is None or ty.ndim < 2:
        return None
    if int(value.attrs.axis) % ty.ndim != ty.ndim - 2:
        return None
    past, new = parts.fields
    if any(getattr(p.ty, "shape", None) is None for p in (past, new)):
        return None
    cache = _Cache(var, past, new)
    for reader in read_by.get(var, [None]):
        if reader is None or not _add_reader(cache, reader, read_by):
            return None
    return cache if cache.scores or cache.values else None


def _add_reader(cache: _Cache, reader: Any, read_by: dict[relax.Var, list[Any]]) -> bool:
    """Record `reader` of the cache on it; False where it does not distribute."""
    value, rank = reader.value, cache.var.ty.ndim
    if not isinstance(value, relax.Call):
        return False
    if value.op.same_as(_MATMUL):
        if not value.args[1].same_as(cache.var) or value.args[0].same_as(cache.var):
            return False
        cache.values.append(reader.var)
        return True
    if value.op.same_as(_PERMUTE):
        axes = [int(a) for a in value.attrs.axes] if value.attrs.axes is not None else None
        if axes != [*range(rank - 2), rank - 1, rank - 2]:
            return False
        for scores in read_by.get(reader.var, [None]):
            if scores is None or not isinstance(scores.value, relax.Call):
                return False
            if not scores.value.op.same_as(_MATMUL) or scores.value.args[0].same_as(reader.var):
                return False
            cache.scores.append(scores.var)
        return True
    if any(value.op.same_as(op) for op in _LIFTS) and cache.stacked_by is None:
        # [1, *cache.shape]: one layer's entry of a stack.
        stack_readers = read_by.get(reader.var, [None])
        if len(stack_readers) != 1 or stack_readers[0] is None:
            return False
        lifted = reader.var.ty
        if not _same_dims(lifted.shape.values, [1, *cache.var.ty.shape.values]):
            return False
        cache.stacked_by = reader.var
        return True
    return False


def _stack(value: Any, by_lift: dict[relax.Var, _Cache]) -> list[_Cache] | None:
    """The caches `value` stacks, in order, if it is `concat(lifted caches, axis=0)`.

    `by_lift` maps each candidate's lift (its `stacked_by`) to the candidate.
    """
    if not (isinstance(value, relax.Call) and value.op.same_as(_CONCAT)):
        return None
    if int(value.attrs.axis) != 0 or not isinstance(value.args[0], relax.Tuple):
        return None
    layers = [by_lift.get(part) for part in value.args[0].fields]
    if not layers or any(c is None for c in layers):
        return None
    return layers  # type: ignore[return-value]


def _stack_input(
    layers: list[_Cache], stack: relax.Var, bindings: dict[relax.Var, Any]
) -> tuple[relax.Var | None, int]:
    """The input whose entries, in order, are the layers' pasts, and the stack's length axis.

    Each past must be a view of that one input at entry i's offset: then the input holds
    them all, in order, and concatenates with the stacked new rows along that axis.
    """
    views = [_view_of(bindings.get(c.past, c.past)) for c in layers]
    if any(v is None for v in views):
        return None, 0
    source = views[0][0]  # type: ignore[index]
    ty = source.ty
    if not isinstance(ty, relax.TensorType) or ty.shape is None:
        return None, 0
    dims = list(ty.shape.values)
    if not isinstance(dims[0], tirx.IntImm) or int(dims[0]) != len(layers):
        return None, 0
    analyzer = tvm.sym.Analyzer()
    entry = entry_bytes(ty)
    for i, view in enumerate(views):
        view_source, offset, shape = view  # type: ignore[misc]
        if not view_source.same_as(source) or not analyzer.can_prove_equal(offset, i * entry):
            return None, 0
        if not _same_dims(shape, dims[1:]):
            return None, 0
    return source, stack.ty.ndim - 2


def _same_dims(a: list[Any], b: list[Any]) -> bool:
    """Whether two shapes provably agree, dimension by dimension (symbolic ones included)."""
    analyzer = tvm.sym.Analyzer()
    return len(a) == len(b) and all(
        analyzer.can_prove_equal(x, y) for x, y in zip(a, b, strict=True)
    )


def _view_of(expr: relax.Expr) -> tuple[relax.Var, Any, list[Any]] | None:
    """(source, byte offset, shape) of `expr` if it is `R.memory.view` of a variable."""
    if not (isinstance(expr, relax.Call) and expr.op.same_as(_VIEW)):
        return None
    source, shape, _dtype, offset = expr.args
    if not isinstance(source, relax.Var) or not isinstance(offset.ty, tvm.ir.PrimType):
        return None
    if not isinstance(shape, relax.ShapeExpr):
        return None
    return source, offset, list(shape.values)

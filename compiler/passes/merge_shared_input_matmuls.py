"""Merge the matmuls that read one activation by constant weights: attention's projections.

Transformers project the same hidden states three times, `x @ Wq + bq`, `x @ Wk + bk` and
`x @ Wv + bv`, and each product then goes through a reshape and a transpose into heads. Three
[rows, k] x [k, n] library calls do the work of one [rows, k] x [k, 3n] call with wider column
tiles, and a decode step pays three calls' fixed cost for one token. So two or more matmuls of
the same activation by constant float32 weights become one, by the weights concatenated along
the columns, with their biases (a constant over each member's columns; zeros for a member
without one, as Whisper's key projection) concatenated the same way so that they stay in the
library call's epilogue. Each original result is a column slice of the merged one. A slice of
the last axis is a copy, so only members whose every reader is a reshape or a transpose (which
copy anyway and fuse with the slice) are merged: a member read by another matmul, or by an
activation the library call would have applied in its epilogue, stays as it was.

Precondition: Relax before dispatch and LegalizeOps, constants folded. Postcondition: the
merged members' bindings are gone; their results are `strided_slice`s of the merged product.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
import tvm
from tvm import relax
from tvm.relax.expr_functor import PyExprMutator, mutator

from ..ir.attrs import out_dtype
from ..ir.bindings import readers
from ..ir.rewrite import rewrite_and_prune
from ..provenance.node_sources import AddedTags

_MATMUL = tvm.ir.Op.get("relax.matmul")
_ADD = tvm.ir.Op.get("relax.add")
#: Readers that copy the member's result anyway, so the slice fuses into their kernel.
_COPYING_READERS = (tvm.ir.Op.get("relax.reshape"), tvm.ir.Op.get("relax.permute_dims"))


@dataclass
class _Member:
    matmul: relax.Var  # the product's binding
    weights: np.ndarray  # [k, n]
    add: relax.Var | None = None  # the bias add reading it, if any
    bias: np.ndarray | None = None  # [n]

    @property
    def result(self) -> relax.Var:
        return self.add if self.add is not None else self.matmul


@tvm.transform.module_pass(opt_level=0, name="EmberMergeSharedInputMatmuls")
def merge_shared_input_matmuls(mod: tvm.IRModule, _ctx: Any) -> tvm.IRModule:
    """Merge matmuls of one activation by constant weights into one (see the docstring)."""
    groups = [
        g for f in mod.functions.values() if isinstance(f, relax.Function) for g in _groups(f)
    ]
    if not groups:
        return mod
    merger = _Merger(mod, groups)
    # The new bindings carry their members' ONNX nodes (`ember profile` names them).
    return merger.tags.apply(rewrite_and_prune(mod, merger))


def _groups(func: relax.Function) -> list[list[_Member]]:
    """Per dataflow block, the mergeable matmuls of each activation (two or more)."""
    if not isinstance(func.body, relax.SeqExpr):
        return []
    read_by = readers(func)
    groups: list[list[_Member]] = []
    for block in func.body.blocks:
        by_source: defaultdict[relax.Var, list[_Member]] = defaultdict(list)
        for binding in block.bindings:
            member = _member(binding, read_by)
            if member is not None:
                by_source[binding.value.args[0]].append(member)
        groups.extend(members for members in by_source.values() if len(members) >= 2)
    return groups


def _member(binding: Any, read_by: dict[relax.Var, list[Any]]) -> _Member | None:
    """`binding` as a group member: `x @ W` (W a constant float32 [k, n]), maybe `+ b` after."""
    value = binding.value
    if not (isinstance(value, relax.Call) and value.op.same_as(_MATMUL)):
        return None
    source, weights = value.args
    if not isinstance(source, relax.Var) or not isinstance(weights, tvm.ir.GenericConst):
        return None
    w = weights.value.numpy()
    if w.ndim != 2 or w.dtype != np.float32 or out_dtype(value) not in (None, "float32"):
        return None
    ty = binding.var.ty
    if not isinstance(ty, relax.TensorType) or ty.ndim < 2:
        return None  # the slices need the product's rank
    member = _Member(binding.var, w)
    after = read_by.get(binding.var, [])
    if len(after) == 1 and after[0] is not None:
        bias = _bias(after[0].value, binding.var, w.shape[1])
        if bias is not None:
            member.add, member.bias = after[0].var, bias
    # Read only inside the block (the slices are emitted there), and only by copying ops.
    if not isinstance(member.result, relax.DataflowVar):
        return None
    # (None, the function's result reading it, is not a copy.)
    if not all(_copies(r) for r in read_by.get(member.result, [])):
        return None
    return member


def _bias(value: Any, product: relax.Var, columns: int) -> np.ndarray | None:
    """The [columns] constant `value` adds to `product`, if it is such an add."""
    if not (isinstance(value, relax.Call) and value.op.same_as(_ADD)):
        return None
    a, b = value.args
    other = b if a.same_as(product) else a if b.same_as(product) else None
    if not isinstance(other, tvm.ir.GenericConst):
        return None
    bias = other.value.numpy()
    if bias.dtype != np.float32 or bias.size != columns or bias.shape[-1:] != (columns,):
        return None
    return bias.reshape(columns)


def _copies(reader: Any) -> bool:
    value = None if reader is None else reader.value
    return isinstance(value, relax.Call) and any(value.op.same_as(op) for op in _COPYING_READERS)


@mutator
class _Merger(PyExprMutator):
    def __init__(self, mod: tvm.IRModule, groups: list[list[_Member]]) -> None:
        super().__init__(mod)
        # The first member's product binding emits the merged call and every slice.
        self.first = {g[0].matmul: g for g in groups}
        self.dropped = {v for g in groups for m in g for v in (m.matmul, m.add) if v is not None}
        self.tags = AddedTags(mod)

    def visit_var_binding_(self, binding: relax.VarBinding) -> None:
        group = self.first.get(binding.var)
        if group is None:
            if binding.var not in self.dropped:
                super().visit_var_binding_(binding)
            return
        source = self.visit_expr(binding.value.args[0])
        weights = np.concatenate([m.weights for m in group], axis=1)
        merged = self.builder_.emit(relax.op.matmul(source, relax.const(weights)))
        self.tags.tag(merged, [m.matmul for m in group])
        if any(m.bias is not None for m in group):
            # A member without a bias (Whisper's key projection) adds zeros: exact.
            bias = np.concatenate(
                [
                    m.bias if m.bias is not None else np.zeros(m.weights.shape[1], np.float32)
                    for m in group
                ]
            )
            merged = self.builder_.emit(relax.op.add(merged, relax.const(bias)))
            self.tags.tag(merged, [m.add for m in group])
        # The last axis by its index: legalization rejects -1 on a symbolic shape.
        axis = binding.var.ty.ndim - 1
        begin = 0
        for member in group:
            end = begin + member.weights.shape[1]
            piece = relax.op.strided_slice(merged, axes=[axis], begin=[begin], end=[end])
            sliced = self.builder_.emit(piece)
            self.tags.tag(sliced, [member.result])
            self.set_var_remap(member.result, sliced)
            begin = end

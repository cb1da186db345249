"""Each part a Split hands on as a slice of its input, so the part's reader can fuse it.

FuseOps does not fuse a `split` (a tuple of outputs) into the kernels that read its parts:
GPT-2's attention splits its merged query/key/value projection ([128, 2304]) into three
[128, 768] copies in one kernel, and three more kernels then reshape and transpose each part
into heads. As a `strided_slice` each part fuses into its reader, so the projection is read
once, straight into the heads' layout, as BERT's separately projected query, key and value
(merged by `merge_shared_input_matmuls`) already are. Only splits whose parts have static
extents along the axis are rewritten; a part read other than through indexing (the tuple
itself returned, say) keeps the split. Precondition: Relax before LegalizeOps.
"""

from __future__ import annotations

from typing import Any

import tvm
from tvm import relax
from tvm.relax.expr_functor import PyExprMutator, mutator

from ..ir.rewrite import rewrite_and_prune
from ..provenance.node_sources import AddedTags

_SPLIT = tvm.ir.Op.get("relax.split")


@tvm.transform.module_pass(opt_level=0, name="EmberSplitAsSlices")
def split_as_slices(mod: tvm.IRModule, _ctx: Any) -> tvm.IRModule:
    """Read each indexed part of a static split as a strided slice of the split's input."""
    rewriter = _Rewriter(mod)
    return rewriter.tags.apply(rewrite_and_prune(mod, rewriter))


def _bounds(call: relax.Call) -> tuple[int, list[tuple[int, int]]] | None:
    """The split's axis and each part's [begin, end) along it, if every extent is static."""
    ty = call.ty
    if not isinstance(ty, relax.TupleType):
        return None
    axis = int(call.attrs.axis)
    bounds = []
    begin = 0
    for field in ty.fields:
        shape = getattr(field, "shape", None)
        if not isinstance(shape, relax.ShapeExpr):
            return None
        if axis < 0:
            axis += len(shape.values)
        extent = shape.values[axis]
        if not isinstance(extent, tvm.tirx.IntImm):
            return None
        bounds.append((begin, begin + int(extent)))
        begin += int(extent)
    return axis, bounds


@mutator
class _Rewriter(PyExprMutator):
    def __init__(self, mod: tvm.IRModule) -> None:
        super().__init__(mod)
        self.tags = AddedTags(mod)
        # A split's variable -> (its input, axis, each part's bounds).
        self.splits: dict[relax.Var, tuple[relax.Expr, int, list[tuple[int, int]]]] = {}

    def visit_var_binding_(self, binding: relax.VarBinding) -> None:
        value = binding.value
        if isinstance(value, relax.Call) and value.op.same_as(_SPLIT):
            found = _bounds(value)
            if found is not None:
                self.splits[binding.var] = (value.args[0], *found)
        elif isinstance(value, relax.TupleGetItem) and value.tuple_value in self.splits:
            source, axis, bounds = self.splits[value.tuple_value]
            begin, end = bounds[value.index]
            part = relax.op.strided_slice(
                self.visit_expr(source), axes=[axis], begin=[begin], end=[end]
            )
            var = binding.var
            # The part keeps its kind: a function's output stays an output of the block.
            out = (
                self.builder_.emit(part)
                if isinstance(var, relax.DataflowVar)
                else self.builder_.emit_output(part)
            )
            self.tags.tag(out, [var, value.tuple_value])
            self.set_var_remap(var, out)
            return
        super().visit_var_binding_(binding)

"""Unsqueeze and Squeeze as reshapes, which the runtime makes views instead of copies.

`expand_dims` and `squeeze` only relabel dimensions, but TVM lowers each one left unfused to a
kernel that copies its input; a `reshape` left unfused becomes a view of the same memory
(the build's RewriteDataflowReshape). A KV-cache decoder unsqueezes each layer's grown cache
before stacking the layers: 8 copies of the whole cache per decode step in a 4-layer model.
Where the output's shape is known (symbolic dimensions included), each becomes the reshape to
that shape. Precondition: Relax before LegalizeOps.
"""

from __future__ import annotations

from typing import Any

import tvm
from tvm import relax
from tvm.relax.expr_functor import PyExprMutator, mutator

from ..ir.rewrite import rewrite_functions

_RELABELS = (tvm.ir.Op.get("relax.expand_dims"), tvm.ir.Op.get("relax.squeeze"))


@tvm.transform.module_pass(opt_level=0, name="EmberShapeOpsAsViews")
def shape_ops_as_views(mod: tvm.IRModule, _ctx: Any) -> tvm.IRModule:
    """Replace each expand_dims and squeeze of a known output shape by a reshape to it."""
    return rewrite_functions(mod, _Rewriter(mod))


@mutator
class _Rewriter(PyExprMutator):
    def visit_call_(self, call: relax.Call) -> relax.Expr:
        call = super().visit_call_(call)
        if not isinstance(call, relax.Call) or not any(call.op.same_as(op) for op in _RELABELS):
            return call
        ty = call.ty
        if not isinstance(ty, relax.TensorType) or not isinstance(ty.shape, relax.ShapeExpr):
            return call
        return relax.op.reshape(call.args[0], ty.shape)

"""Replace constants with no elements by tensors allocated at run time.

The VM stores constants in the artifact, and TVM 0.27's loader rejects a stored tensor of
zero bytes ("Invalid DLTensor file format"), so a model holding an empty initializer, or
folding to one (a zero-length pad, an empty slice), compiled but did not load. An empty
tensor has no contents to keep: allocating it at run time is the same value.
Precondition: after the last FoldConstant (which would fold it back).
"""

from __future__ import annotations

from typing import Any

import tvm
from tvm import relax
from tvm.relax.expr_functor import PyExprMutator, mutator

from ..ir.rewrite import rewrite_functions


@tvm.transform.module_pass(opt_level=0, name="EmberMaterializeEmptyConstants")
def materialize_empty_constants(mod: tvm.IRModule, _ctx: Any) -> tvm.IRModule:
    """Every zero-element tensor constant becomes a run-time allocation of its shape."""
    return rewrite_functions(mod, _Rewriter(mod))


@mutator
class _Rewriter(PyExprMutator):
    def visit_generic_const_(self, const: Any) -> relax.Expr:
        array = const.value
        if not hasattr(array, "shape") or 0 not in array.shape:
            return const
        shape = relax.ShapeExpr([int(d) for d in array.shape])
        return relax.op.builtin.alloc_tensor(shape, str(array.dtype), 0)

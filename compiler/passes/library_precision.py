"""Tell each oneDNN matmul and convolution call the precision it multiplies in.

Precondition: `fuse_library_epilogues` has run (a call's attributes end with its epilogue, if
it has one). For a precision other than fp32, every `ember.dnnl.matmul*` and
`ember.dnnl.conv_nhwc*` call gets the compute type appended to its attributes
(runtime_cpp/plugins/common/epilogue.h decodes it): with bf16 the plugin packs constant
weights as bfloat16 and rounds each tile's source to bfloat16, and sums products in float32.
Operands, outputs and everything outside these calls (softmax, normalization, elementwise
kernels) stay float32. A call without an epilogue gets an empty one first, so the compute
type always follows [has_bias, count, steps]. Postcondition: no other call changes; fp32
changes nothing, so fp32 artifacts keep the attributes older runtimes read.
"""

from __future__ import annotations

from typing import Any

import tvm
from tvm import relax
from tvm.relax.expr_functor import PyExprMutator, mutator

from ..libraries import onednn
from .rewrite import rewrite_functions

_CALL_PACKED = tvm.ir.Op.get("relax.call_dps_packed")


def library_precision(precision: str) -> tvm.transform.Pass:
    """The pass that makes the oneDNN calls compute in `precision` ("fp32" or "bf16")."""
    compute = onednn.COMPUTE_TYPES[precision]

    @tvm.transform.module_pass(opt_level=0, name="EmberLibraryPrecision")
    def apply(mod: tvm.IRModule, _ctx: Any) -> tvm.IRModule:
        if compute == onednn.COMPUTE_TYPES["fp32"]:
            return mod
        return rewrite_functions(mod, _Rewriter(mod, compute))

    return apply


@mutator
class _Rewriter(PyExprMutator):
    def __init__(self, mod: tvm.IRModule, compute: int) -> None:
        super().__init__(mod)
        self.compute = compute

    def visit_call_(self, call: relax.Call) -> relax.Expr:
        call = super().visit_call_(call)
        if not (isinstance(call, relax.Call) and call.op.same_as(_CALL_PACKED)):
            return call
        name = str(call.args[0].global_symbol)
        leading = onednn.LEADING_ATTRS.get(name)
        if leading is None:
            return call
        *tensors, attrs = list(call.args[1].fields)
        values = [int(v) for v in attrs.values]
        no_epilogue = [0, 0] if len(values) == leading else []
        shape = relax.ShapeExpr([*values, *no_epilogue, self.compute])
        return relax.op.call_dps_packed(name, [*tensors, shape], call.ty)

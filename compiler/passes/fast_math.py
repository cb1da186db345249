"""exp, tanh, erf and softmax as vectorizable polynomial approximations (TOPI's fast_*).

Without this each element of a softmax or GELU makes one libm call. The approximations keep
float32 results within about 1e-7 relative of libm on the ranges these functions saturate at.
(TVM ships a FastMathTransform pass, but it fails on calls to external functions, which the
importer emits for some shape computations; this one only looks at operator calls.)
Precondition: Relax before LegalizeOps.
"""

from __future__ import annotations

from typing import Any

import tvm
from tvm import relax, topi
from tvm.relax.expr_functor import PyExprMutator, mutator

from ..ir.rewrite import rewrite_functions

_ELEMENTWISE = {
    "relax.exp": topi.fast_exp,
    "relax.tanh": topi.fast_tanh,
    "relax.erf": topi.fast_erf,
}
_SOFTMAX = "relax.nn.softmax"


@tvm.transform.module_pass(opt_level=0, name="EmberFastMath")
def fast_math(mod: tvm.IRModule, _ctx: Any) -> tvm.IRModule:
    """Replace float32 exp, tanh and erf calls by their fast TOPI forms."""
    return rewrite_functions(mod, _Rewriter(mod, softmax=False))


@tvm.transform.module_pass(opt_level=0, name="EmberFastSoftmax")
def fast_softmax(mod: tvm.IRModule, _ctx: Any) -> tvm.IRModule:
    """Replace float32 softmax calls by TOPI's fast form.

    A pass of its own, run after dispatch: the softmaxes a library computes
    (`dispatch_cpu_kernels`) must still be softmax calls there.
    """
    return rewrite_functions(mod, _Rewriter(mod, softmax=True))


@mutator
class _Rewriter(PyExprMutator):
    def __init__(self, mod: tvm.IRModule, softmax: bool) -> None:
        super().__init__(mod)
        self.softmax = softmax

    def visit_call_(self, call: relax.Call) -> relax.Expr:
        op = call.op
        # Calls to functions (external or in the module) have no operator name.
        if not isinstance(op, tvm.ir.Op) or getattr(call.ty, "dtype", None) != "float32":
            return call
        if op.name in _ELEMENTWISE and not self.softmax:
            return self.builder_.call_te(_ELEMENTWISE[op.name], call.args[0])
        if op.name == _SOFTMAX and self.softmax:
            return self.builder_.call_te(topi.nn.fast_softmax, call.args[0], call.attrs.axis)
        return call

"""Rewrite `x * sigmoid(x)` as one SiLU (Swish) call.

ONNX has no SiLU before opset 24, so exporters write it as Sigmoid then Mul (EfficientNet,
MobileViT, YOLO, Llama's MLP). As two ops reading `x`, it cannot join the epilogue of the
convolution or matmul that makes `x` (`fuse_library_epilogues` follows single-use chains)
and costs a pass over memory of its own per op. Precondition: Relax before LegalizeOps.
The sigmoid binding, left without readers, is removed; one with other readers stays.
"""

from __future__ import annotations

from typing import Any

import tvm
import tvm_ffi
from tvm import relax
from tvm.relax.expr_functor import PyExprMutator, mutator

from ..ir.rewrite import rewrite_and_prune

_MULTIPLY = tvm.ir.Op.get("relax.multiply")
_SIGMOID = tvm.ir.Op.get("relax.sigmoid")


@tvm.transform.module_pass(opt_level=0, name="EmberRecognizeSilu")
def recognize_silu(mod: tvm.IRModule, _ctx: Any) -> tvm.IRModule:
    """Replace `multiply(x, sigmoid(x))` (either order) by `nn.silu(x)`."""
    return rewrite_and_prune(mod, _Rewriter(mod))


@mutator
class _Rewriter(PyExprMutator):
    def visit_call_(self, call: relax.Call) -> relax.Expr:
        call = super().visit_call_(call)
        if not isinstance(call, relax.Call) or call.op != _MULTIPLY:
            return call
        a, b = call.args
        for x, other in ((a, b), (b, a)):
            if self._is_sigmoid_of(other, x) and _same_type(x, call):
                return relax.op.nn.silu(x)
        return call

    def _is_sigmoid_of(self, expr: relax.Expr, x: relax.Expr) -> bool:
        if not isinstance(expr, relax.Var):
            return False
        value = self.lookup_binding(expr)
        return isinstance(value, relax.Call) and value.op == _SIGMOID and value.args[0].same_as(x)


def _same_type(x: relax.Expr, call: relax.Call) -> bool:
    """The product neither broadcasts `x` nor changes its dtype."""
    xt, ct = x.ty, call.ty
    if not isinstance(xt, relax.TensorType) or not isinstance(ct, relax.TensorType):
        return False
    if xt.dtype != ct.dtype or xt.shape is None or ct.shape is None:
        return False
    return bool(tvm_ffi.structural_equal(xt.shape, ct.shape))

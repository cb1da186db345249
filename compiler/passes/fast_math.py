"""exp, tanh, erf, softmax, GELU, sigmoid and SiLU as vectorizable approximations (TOPI's fast_*).

Without this each element of a softmax, GELU or sigmoid makes one libm call (wav2vec2's feature
extractor spent 12 ms of 99 in the erf of its GELUs, CLIP's vision encoder 2.3 ms of 52 in the
sigmoid of its quick GELUs; 2 threads, AMD Zen 4). The approximations keep float32 results
within about 1e-7 relative of libm on the ranges these functions saturate at.
(TVM ships a FastMathTransform pass, but it fails on calls to external functions, which the
importer emits for some shape computations; this one only looks at operator calls.)
Precondition: Relax before LegalizeOps.
"""

from __future__ import annotations

import math
from typing import Any

import tvm
from tvm import relax, te, topi
from tvm.relax.expr_functor import PyExprMutator, mutator

from ..ir.bindings import reader_counts
from ..ir.rewrite import rewrite_and_prune, rewrite_functions
from ..provenance.node_sources import AddedTags
from .softmax_producers import softmax_input

_ELEMENTWISE = {
    "relax.exp": topi.fast_exp,
    "relax.tanh": topi.fast_tanh,
    "relax.erf": topi.fast_erf,
}
_SOFTMAX = "relax.nn.softmax"


def _gelu(x: te.Tensor) -> te.Tensor:
    """GELU as TVM legalizes `relax.nn.gelu`, x * (1 + erf(x / sqrt 2)) / 2, with the fast erf."""
    return topi.multiply(x, 0.5 + topi.fast_erf(x * math.sqrt(0.5)) * 0.5)


def _gelu_tanh(x: te.Tensor) -> te.Tensor:
    """GELU's tanh form, x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 x^3))) / 2, fast tanh."""
    inner = math.sqrt(2.0 / math.pi) * (x + 0.044715 * x * x * x)
    return topi.multiply(x * 0.5, 1.0 + topi.fast_tanh(inner))


def _sigmoid(x: te.Tensor) -> te.Tensor:
    """1 / (1 + exp(-x)) with the fast exp (which clamps its argument: no overflow)."""
    return topi.divide(1.0, 1.0 + topi.fast_exp(topi.negative(x)))


def _silu(x: te.Tensor) -> te.Tensor:
    """SiLU, x * sigmoid(x), with the fast exp."""
    return topi.multiply(x, _sigmoid(x))


# Rewritten after dispatch: a oneDNN call applies these in its epilogue where they follow it.
_AFTER_DISPATCH = {
    "relax.nn.gelu": _gelu,
    "relax.nn.gelu_tanh": _gelu_tanh,
    "relax.sigmoid": _sigmoid,
    "relax.nn.silu": _silu,
}


@tvm.transform.module_pass(opt_level=0, name="EmberFastMath")
def fast_math(mod: tvm.IRModule, _ctx: Any) -> tvm.IRModule:
    """Replace float32 exp, tanh and erf calls by their fast TOPI forms."""
    return rewrite_functions(mod, _Rewriter(mod, after_dispatch=False))


@tvm.transform.module_pass(opt_level=0, name="EmberFastMathAfterDispatch")
def fast_math_after_dispatch(mod: tvm.IRModule, _ctx: Any) -> tvm.IRModule:
    """Replace float32 softmax, GELU, sigmoid and SiLU calls by their fast forms.

    A pass of its own, run after dispatch: the softmaxes a library computes
    (`dispatch_cpu_kernels`) and the activations a library call applies in its epilogue
    (`fuse_library_epilogues`) must still be those calls there. A softmax also computes the
    elementwise arithmetic feeding it that nothing else reads (`softmax_producers`): those
    bindings go, and the softmax's kernel is named after their ONNX nodes too.
    """
    rewriter = _Rewriter(mod, after_dispatch=True)
    return rewriter.tags.apply(rewrite_and_prune(mod, rewriter))


@mutator
class _Rewriter(PyExprMutator):
    def __init__(self, mod: tvm.IRModule, after_dispatch: bool) -> None:
        super().__init__(mod)
        self.after_dispatch = after_dispatch
        self.readers = reader_counts(mod) if after_dispatch else None
        self.tags = AddedTags(mod)
        self.bound: relax.Var | None = None

    def visit_var_binding_(self, binding: relax.VarBinding) -> None:
        # The variable a call is bound to, for tagging a softmax with the nodes it takes in.
        self.bound = binding.var
        super().visit_var_binding_(binding)
        self.bound = None

    def visit_call_(self, call: relax.Call) -> relax.Expr:
        op = call.op
        # Calls to functions (external or in the module) have no operator name.
        if not isinstance(op, tvm.ir.Op) or getattr(call.ty, "dtype", None) != "float32":
            return call
        if op.name in _ELEMENTWISE and not self.after_dispatch:
            return self.builder_.call_te(_ELEMENTWISE[op.name], call.args[0])
        if op.name == _SOFTMAX and self.after_dispatch:
            return self._softmax(call)
        if op.name in _AFTER_DISPATCH and self.after_dispatch:
            return self.builder_.call_te(_AFTER_DISPATCH[op.name], call.args[0])
        return call

    def _softmax(self, call: relax.Call) -> relax.Expr:
        """The fast softmax of `call`'s input, with the producers it can take in computed."""
        assert self.readers is not None
        # The producers precede the softmax, so they are bound as this rewrite emitted them,
        # their operands included.
        source = softmax_input(call.args[0], self.lookup_binding, self.readers)
        if self.bound is not None and source.folded:
            self.tags.tag(self.bound, [*reversed(source.folded), self.bound])
        axis = int(call.attrs.axis)

        def fast_softmax(*tensors: te.Tensor) -> te.Tensor:
            return topi.nn.fast_softmax(source.build(list(tensors)), axis)

        return self.builder_.call_te(fast_softmax, *source.leaves)

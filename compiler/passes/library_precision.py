"""Tell each oneDNN matmul and convolution call the precision it multiplies in.

Precondition: `fuse_library_epilogues` has run (a call's attributes end with its epilogue, if
it has one). For a precision other than fp32, every `ember.dnnl.matmul*` and
`ember.dnnl.conv_nhwc*` call gets the compute type appended to its attributes
(runtime_cpp/plugins/common/epilogue.h decodes it): with bf16 the plugin packs constant
weights as bfloat16 and rounds each tile's source to bfloat16, and sums products in float32;
the constant weights it packs are stored as bfloat16 (rounded to nearest even, as the plugin
would), half their float32 bytes in the artifact.
Operands, outputs and everything outside these calls (softmax, normalization, elementwise
kernels) stay float32; so do the int8 calls of a quantized model (`quantized_library_calls`).
A call without an epilogue gets an empty one first, so the compute type always follows
[has_bias, count, steps]; a matmul's source that is its producer's output reshaped back to
its own shape is read directly. Then a convolution or matmul whose result only other bf16
calls of its kind read, all with constant weights, gets a bf16 output: the plugin writes bf16
and the next call reads it as it is (the same numbers as rounding it there). A matmul's is
read as the next one's source (a matmul with a residual add or softmax writes float32); a
convolution's also as the residual a convolution adds, so a residual block's output stays
bf16 (`_bf16_producers`). Postcondition: no other call changes; fp32 changes nothing, so
fp32 artifacts keep the attributes older runtimes read.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import ml_dtypes
import tvm
import tvm_ffi
from tvm import relax
from tvm.relax.expr_functor import PyExprMutator, mutator

from ..ir.bindings import reader_counts
from ..ir.constants import DerivedConstants
from ..ir.rewrite import rewrite_and_prune
from ..libraries import onednn
from ..libraries.onednn_calls import (
    CONVS,
    MATMULS,
    LibraryCall,
    library_call,
    retype_outputs,
    sole_source_producers,
)

_RESHAPE = tvm.ir.Op.get("relax.reshape")
#: Bindings whose result no kernel that a cast can join writes: a view, a library call.
_NOT_COMPUTED = tuple(
    tvm.ir.Op.get(f"relax.{name}")
    for name in ("reshape", "memory.view", "call_dps_packed", "call_pure_packed")
)


def library_precision(precision: str) -> tvm.transform.Pass:
    """The pass that makes the oneDNN calls compute in `precision` ("fp32" or "bf16")."""
    compute = onednn.COMPUTE_TYPES[precision]

    @tvm.transform.module_pass(opt_level=0, name="EmberLibraryPrecision")
    def apply(mod: tvm.IRModule, _ctx: Any) -> tvm.IRModule:
        if compute == onednn.COMPUTE_TYPES["fp32"]:
            return mod
        mod = rewrite_and_prune(mod, _Rewriter(mod, compute, reader_counts(mod)))
        outputs: list[tuple[relax.Call, str | None, list[int]]] = [
            (call.expr, "bfloat16", call.values)
            for f in mod.functions.values()
            for call in _bf16_producers(f)
            if call.expr is not None  # taken apart from a binding
        ]
        return retype_outputs(mod, outputs)

    return apply


def _bf16_producers(func: Any) -> list[LibraryCall]:
    """Calls whose output only other bf16 calls read, as bf16.

    Convolutions feeding convolutions, and matmuls feeding matmuls (a transformer's
    feed-forward pair, an MLP's layers): the output is written as bf16 and read as it is, with
    no float32 round trip through memory and no rounding before the next kernel (activations
    stay bf16 between such calls). Producers and readers have constant weights (hashed) and
    compute in bf16, not int8. A convolution may also read it as the residual it adds, so a
    residual block's output (itself a convolution with a residual add) stays bf16 into the
    next block's convolutions and residual add; a matmul reads it as its left operand only,
    and a matmul without a residual add that does not end in a softmax produces.
    """

    def bf16(call: LibraryCall) -> bool:
        return _packed(call) and call.compute_type != onednn.COMPUTE_TYPES["int8"]

    def produces(call: LibraryCall) -> bool:
        return bf16(call) and not call.ends_in_softmax

    return [
        produced.call
        for family, residuals in ((CONVS, True), (MATMULS, False))
        for produced in sole_source_producers(func, bf16, produces, family, residuals)
    ]


def _rounded_to_bf16(weights: tvm.ir.GenericConst) -> tvm.ir.GenericConst:
    """`weights` rounded to bfloat16 (nearest, ties to even, as oneDNN rounds)."""
    return relax.const(weights.value.numpy().astype(ml_dtypes.bfloat16))


def _packed(call: LibraryCall) -> bool:
    """Whether the plugin packs `call`'s weights: constant (hashed), and 2-D for a matmul.

    Only packed weights are read as bf16 (stored so, or rounded when packed); so are the
    operands a bf16 call passes to the next.
    """
    return call.hashed and (call.name not in MATMULS or call.tensors[1].ty.ndim == 2)


@mutator
class _Rewriter(PyExprMutator):
    def __init__(self, mod: tvm.IRModule, compute: int, readers: Counter[relax.Var]) -> None:
        super().__init__(mod)
        self.compute = compute
        self.readers = readers
        self.bf16_constants = DerivedConstants(_rounded_to_bf16)

    def visit_call_(self, call: relax.Call) -> relax.Expr:
        call = super().visit_call_(call)
        parts = library_call(call)
        # A compute type already there is int8: the model's own quantization.
        if parts is None or parts.compute_type is not None:
            return call
        no_epilogue = [0, 0] if len(parts.values) == parts.leading else []
        shape = relax.ShapeExpr([*parts.values, *no_epilogue, self.compute])
        source, *rest = parts.tensors
        if parts.name in MATMULS:
            source = self._unreshaped(source)
        if self.compute == onednn.COMPUTE_TYPES["bf16"] and self._rounds_operands(parts):
            source, rest[0] = (relax.op.astype(t, "bfloat16") for t in (source, rest[0]))
        elif self.compute == onednn.COMPUTE_TYPES["bf16"] and _packed(parts):
            rest[0] = self._bf16_weights(rest[0])
        return relax.op.call_dps_packed(parts.name, [source, *rest, shape], call.ty)

    def _bf16_weights(self, weights: relax.Expr) -> relax.Expr:
        """Constant float32 `weights` rounded to bfloat16, once each; other weights as they are.

        The plugin would round them so when it packs them; stored so, they take half the bytes
        in the artifact.
        """
        if not (isinstance(weights, tvm.ir.GenericConst) and weights.ty.dtype == "float32"):
            return weights
        return self.bf16_constants.get(weights)

    def _rounds_operands(self, parts: LibraryCall) -> bool:
        """Whether a batched matmul of two computed operands gets both as bf16.

        Attention's Q x K^T and P x V: the cast to bf16 fuses into the kernels that compute
        the operands (the heads' transposes, the softmax), which then write half the bytes, and
        oneDNN multiplies them at the bf16 rate (AVX512-BF16 included, where its bf16 math
        mode on float32 operands keeps float32). Operands read as they are (a cache passed in,
        a view of one) stay float32: rounding them would copy them whole on every run; so do
        operands something else reads too, whose rounding would be a kernel of its own.
        """
        if parts.name not in (*MATMULS, onednn.MATMUL_BT) or parts.hashed:
            return False
        operands = parts.tensors[:2]
        if any(t.ty.ndim < 3 or t.ty.dtype != "float32" for t in operands):
            return False
        return all(self._computed(t) for t in operands)

    def _computed(self, tensor: relax.Expr) -> bool:
        """Whether an operator writes `tensor` for this call alone (not a view, not an input)."""
        if not isinstance(tensor, relax.Var) or self.readers[tensor] != 1:
            return False
        bound = self.lookup_binding(tensor)
        return (
            isinstance(bound, relax.Call)
            and isinstance(bound.op, tvm.ir.Op)
            and not any(bound.op.same_as(op) for op in _NOT_COMPUTED)
        )

    def _unreshaped(self, source: relax.Expr) -> relax.Expr:
        """`source` without reshapes that end where they began, so two matmuls can be chained.

        GPT-2's export reshapes [n, k] -> [1, n, k] -> [n, k] between its feed-forward matmuls.
        """
        origin = source
        while isinstance(origin, relax.Var):
            bound = self.lookup_binding(origin)
            if not (isinstance(bound, relax.Call) and bound.op.same_as(_RESHAPE)):
                break
            origin = bound.args[0]
        if origin is source or not tvm_ffi.structural_equal(origin.ty, source.ty):
            return source
        return origin

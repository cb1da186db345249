"""Tell each oneDNN matmul and convolution call the precision it multiplies in.

Precondition: `fuse_library_epilogues` has run (a call's attributes end with its epilogue, if
it has one). For a precision other than fp32, every `ember.dnnl.matmul*` and
`ember.dnnl.conv_nhwc*` call gets the compute type appended to its attributes
(runtime_cpp/plugins/common/epilogue.h decodes it): with bf16 the plugin packs constant
weights as bfloat16 and rounds each tile's source to bfloat16, and sums products in float32.
Operands, outputs and everything outside these calls (softmax, normalization, elementwise
kernels) stay float32; so do the int8 calls of a quantized model (`quantized_library_calls`).
A call without an epilogue gets an empty one first, so the compute
type always follows [has_bias, count, steps]. Then a convolution (without a residual add)
whose result only feeds other bf16 convolutions' data, with constant weights, gets a bf16
output: the plugin writes bf16 and the next call reads it as it is (the same numbers as
rounding it there). Postcondition: no other call changes; fp32
changes nothing, so fp32 artifacts keep the attributes older runtimes read.
"""

from __future__ import annotations

from typing import Any

import tvm
from tvm import relax
from tvm.relax.expr_functor import PyExprMutator, mutator

from ..ir.rewrite import rewrite_functions
from ..libraries import onednn
from ..libraries.onednn_calls import library_call

_CALL_PACKED = tvm.ir.Op.get("relax.call_dps_packed")


def library_precision(precision: str) -> tvm.transform.Pass:
    """The pass that makes the oneDNN calls compute in `precision` ("fp32" or "bf16")."""
    compute = onednn.COMPUTE_TYPES[precision]

    @tvm.transform.module_pass(opt_level=0, name="EmberLibraryPrecision")
    def apply(mod: tvm.IRModule, _ctx: Any) -> tvm.IRModule:
        if compute == onednn.COMPUTE_TYPES["fp32"]:
            return mod
        mod = rewrite_functions(mod, _Rewriter(mod, compute))
        producers = [call for f in mod.functions.values() for call in _bf16_producers(f)]
        return rewrite_functions(mod, _Bf16Outputs(mod, producers)) if producers else mod

    return apply


_CONVS = (onednn.CONV_NHWC, onednn.CONV_NHWC_EPILOGUE)
#: The weights' content hash: the last of a convolution's leading attributes.
_CONV_HASH = onednn.LEADING_ATTRS[onednn.CONV_NHWC] - 1


def _conv_fields(value: Any) -> list[Any] | None:
    """The operands of a oneDNN convolution call, or None for any other value."""
    if not (isinstance(value, relax.Call) and value.op.same_as(_CALL_PACKED)):
        return None
    if str(value.args[0].global_symbol) not in (*_CONVS, onednn.CONV_NHWC_RESIDUAL):
        return None
    return list(value.args[1].fields)


def _is_int8(call: relax.Call) -> bool:
    """Whether a oneDNN call computes in int8 (`quantized_library_calls` made it so)."""
    parts = library_call(call)
    return parts is not None and parts.compute_type == onednn.COMPUTE_TYPES["int8"]


def _bf16_producers(func: Any) -> list[relax.Call]:
    """Convolutions (no residual) whose output only feeds other bf16 convolutions' data.

    Such an output is written as bf16 and read as it is: no float32 round trip through memory
    and no rounding before the next kernel (activations stay bf16 between convolutions).
    """
    if not isinstance(func, relax.Function) or not isinstance(func.body, relax.SeqExpr):
        return []
    bindings = [b for block in func.body.blocks for b in block.bindings]
    other_uses: set[Any] = set(relax.analysis.free_vars(func.body.body))
    data_uses: set[Any] = set()
    for binding in bindings:
        fields = _conv_fields(binding.value)
        packed = fields is not None and int(fields[-1].values[_CONV_HASH]) != 0
        if fields is None or not packed or _is_int8(binding.value):
            other_uses.update(relax.analysis.free_vars(binding.value))
            continue
        data_uses.add(fields[0])
        for field in fields[1:]:
            other_uses.update(relax.analysis.free_vars(field))
    return [
        binding.value
        for binding in bindings
        if binding.var in data_uses
        and binding.var not in other_uses
        and isinstance(binding.value, relax.Call)
        and _conv_fields(binding.value) is not None
        and str(binding.value.args[0].global_symbol) in _CONVS
    ]


@mutator
class _Bf16Outputs(PyExprMutator):
    """Give the calls in `producers` a bf16 output (their readers' types follow)."""

    def __init__(self, mod: tvm.IRModule, producers: list[relax.Call]) -> None:
        super().__init__(mod)
        self.producers = producers

    def visit_call_(self, call: relax.Call) -> relax.Expr:
        visited = super().visit_call_(call)
        if not any(call.same_as(p) for p in self.producers):
            return visited
        ty = call.ty
        return relax.op.call_dps_packed(
            visited.args[0], list(visited.args[1].fields), relax.TensorType(ty.shape, "bfloat16")
        )


@mutator
class _Rewriter(PyExprMutator):
    def __init__(self, mod: tvm.IRModule, compute: int) -> None:
        super().__init__(mod)
        self.compute = compute

    def visit_call_(self, call: relax.Call) -> relax.Expr:
        call = super().visit_call_(call)
        parts = library_call(call)
        # A compute type already there is int8: the model's own quantization.
        if parts is None or parts.compute_type is not None:
            return call
        no_epilogue = [0, 0] if len(parts.values) == parts.leading else []
        shape = relax.ShapeExpr([*parts.values, *no_epilogue, self.compute])
        return relax.op.call_dps_packed(parts.name, [*parts.tensors, shape], call.ty)

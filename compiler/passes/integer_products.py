"""Matmuls of two computed, quantized operands multiply their integers, exactly, at bf16's rate.

A QDQ model quantizes both operands of attention's Q x K^T and P x V; `fake_quantize` has made
each a float32 rounding `multiply(minimum(maximum(round(divide(y, s)), lo), hi), s)`: an
integer in [lo, hi] (within +-255) times its scale. oneDNN's int8 calls take constant weights
only (`quantized_library_calls`), so these products ran in float32 on the dequantized values.
But an integer within +-255 is exact in bfloat16 (8 significant bits), and so is the product
of two; oneDNN's bf16 matmul sums those products in float32, exactly while a row's sum stays
within 2^24 (up to 258 products of 255 x 255, and further unless the operands are extreme).
So such a call reads both integer tensors as bf16 and scales its sums by `s_a * s_b` as the
first step of its epilogue: ONNX Runtime's integer products, at the rate of bf16 instructions
(AVX512-BF16, AMX-BF16) instead of float32's.

Only for targets with those instructions: elsewhere oneDNN would emulate bf16, slower than
float32 (`compiler/precision.py` decides; the artifact then lists avx512bf16 among the CPU
features it needs). Only calls without a bias (the scale must come before it). Precondition:
after `quantized_library_calls`, before `library_precision`, which leaves calls that have a
compute type alone. The roundings' `multiply`, left without readers, go.
"""

from __future__ import annotations

from typing import Any

import tvm
from tvm import relax
from tvm.relax.expr_functor import PyExprMutator, mutator

from ..ir.bindings import module_bindings
from ..ir.rewrite import rewrite_and_prune
from ..libraries import onednn
from ..libraries.onednn_calls import LibraryCall, float_bits, library_call
from .fake_quantize import rounding_of

_BF16 = onednn.COMPUTE_TYPES["bf16"]
#: The CPU feature an artifact with such calls needs (the runtime refuses CPUs without it).
BF16_FEATURE = "avx512bf16"
#: The largest |integer| of an 8-bit grid with its zero point taken off (uint8 at zero 0).
_EIGHT_BIT_RANGE = 255


def integer_products(enabled: bool) -> tvm.transform.Pass:
    """The pass (see the module docstring); `enabled` False (no bf16 instructions) is a no-op."""

    @tvm.transform.module_pass(opt_level=0, name="EmberIntegerProducts")
    def apply(mod: tvm.IRModule, _ctx: Any) -> tvm.IRModule:
        return rewrite_and_prune(mod, _Rewriter(mod)) if enabled else mod

    return apply


def uses_integer_products(mod: tvm.IRModule) -> bool:
    """Whether `mod` (lowered) holds a call this pass wrote: it needs bf16 instructions."""
    for binding in module_bindings(mod):
        call = library_call(binding.value)
        if call is not None and is_integer_product(call):
            return True
    return False


def is_integer_product(call: LibraryCall) -> bool:
    """Whether `call` is one this pass wrote: a bf16 call whose epilogue starts by scaling."""
    start = call.leading
    return (
        call.compute_type == _BF16
        and len(call.values) > start + 2
        and call.values[start] == 0  # no bias
        and call.values[start + 2] == onednn.LINEAR_STEP
        and all(t.ty.dtype == "bfloat16" for t in call.tensors[:2])
    )


@mutator
class _Rewriter(PyExprMutator):
    def visit_call_(self, call: relax.Call) -> relax.Expr:
        call = super().visit_call_(call)
        parts = library_call(call)
        if parts is None or parts.name != onednn.MATMUL or parts.hashed:
            return call
        if parts.compute_type is not None or len(parts.tensors) != 2:
            return call
        # Batched products only: the plugin reads bf16 operands of a 2-D call only as the
        # source of packed constant weights.
        if any(t.ty.ndim < 3 for t in parts.tensors):
            return call
        if len(parts.values) > parts.leading and parts.values[parts.leading] != 0:
            return call  # a bias: it would be added before the scale
        grids = [self._integers(t) for t in parts.tensors]
        if grids[0] is None or grids[1] is None:
            return call
        (a, scale_a), (b, scale_b) = grids[0], grids[1]
        steps = [onednn.LINEAR_STEP, float_bits(scale_a * scale_b), float_bits(0.0)]
        if len(parts.values) == parts.leading:  # no epilogue: one with the scale alone
            epilogue = [0, 1, *steps]
        else:
            count = parts.values[parts.leading + 1]
            rest = parts.values[parts.leading + 2 : parts.epilogue_end]
            epilogue = [0, count + 1, *steps, *rest]
        attrs = [*parts.values[: parts.leading], *epilogue, _BF16]
        operands = [relax.op.astype(t, "bfloat16") for t in (a, b)]
        return relax.op.call_dps_packed(parts.name, [*operands, relax.ShapeExpr(attrs)], call.ty)

    def _integers(self, operand: relax.Expr) -> tuple[relax.Expr, float] | None:
        """(integers, scale) where `operand` is `fake_quantize`'s rounding to an 8-bit grid."""
        rounding = rounding_of(operand, self.lookup_binding)
        if rounding is None or not rounding.scale > 0:
            return None
        low, high = rounding.low, rounding.high
        if max(abs(low), abs(high)) > _EIGHT_BIT_RANGE or low != int(low) or high != int(high):
            return None
        return rounding.integers, rounding.scale

"""Rewrite QuantizeLinear -> DequantizeLinear pairs as float32 arithmetic on the same grid.

QDQ models (`onnxruntime.quantization.quantize_static`) put such a pair on every activation
that feeds a Conv, MatMul or Gemm, and the pair changes only values: x becomes the nearest
point of the quantization grid, `(clip(round(x / s) + zp, qmin, qmax) - zp) * s`. As two
typed ops (float32 -> uint8 -> float32) it has no layout rule, so the NHWC pass wraps every
pair in transposes back to NCHW, and the uint8 tensor between them is written and read again.
As `min(max(round(x / s), qmin - zp), qmax - zp) * s` (the same values: integers up to 2^24 are
exact in float32, round is half to even as ONNX asks) it is plain elementwise float32 that
follows any layout and fuses into the kernel before or after it.

Matched: a dequantize whose input is a quantize with the same constant scalar scale and zero
point (per-tensor, as QDQ activations are). Per-axis pairs, a quantize whose integers are an
output of the model, and a lone Quantize or Dequantize stay as they are. Precondition: Relax
before LegalizeOps. A quantize left without readers is removed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import tvm
from tvm import relax
from tvm.relax.expr_functor import PyExprMutator, mutator

from ..ir.constants import scalar_constant
from ..ir.rewrite import rewrite_and_prune

_QUANTIZE = tvm.ir.Op.get("relax.quantize")
_DEQUANTIZE = tvm.ir.Op.get("relax.dequantize")
_INTEGER_TYPES = ("int8", "uint8", "int16", "uint16")
_DIVIDE = tvm.ir.Op.get("relax.divide")
_ROUND = tvm.ir.Op.get("relax.round")
_MAXIMUM = tvm.ir.Op.get("relax.maximum")
_MINIMUM = tvm.ir.Op.get("relax.minimum")
_MULTIPLY = tvm.ir.Op.get("relax.multiply")


@dataclass(frozen=True)
class Rounding:
    """A rounding of `y` to a grid as this pass writes it, for the passes after it.

    `multiply(minimum(maximum(round(divide(y, scale)), low), high), scale)`.
    """

    y: relax.Expr
    #: The `minimum`: the grid's integers in [low, high] (the zero point taken off).
    integers: relax.Expr
    scale: float
    low: float
    high: float


def rounding_of(
    expr: relax.Expr, lookup: Callable[[relax.Var], relax.Expr | None]
) -> Rounding | None:
    """The rounding whose result `expr` is, else None; `lookup` finds a variable's binding."""
    chain = []
    for op in (_MULTIPLY, _MINIMUM, _MAXIMUM, _ROUND, _DIVIDE):
        value = lookup(expr) if isinstance(expr, relax.Var) else None
        if not (isinstance(value, relax.Call) and value.op.same_as(op)):
            return None
        chain.append(value)
        expr = value.args[0]
    multiply, minimum, maximum, _, divide = chain
    scale, divisor = scalar_constant(multiply.args[1]), scalar_constant(divide.args[1])
    low, high = scalar_constant(maximum.args[1]), scalar_constant(minimum.args[1])
    if scale is None or low is None or high is None or scale != divisor:
        return None
    return Rounding(divide.args[0], multiply.args[0], scale, low, high)


@tvm.transform.module_pass(opt_level=0, name="EmberFakeQuantize")
def fake_quantize(mod: tvm.IRModule, _ctx: Any) -> tvm.IRModule:
    """Replace `dequantize(quantize(x, s, zp), s, zp)` by float32 rounding to its grid."""
    return rewrite_and_prune(mod, _Rewriter(mod))


@mutator
class _Rewriter(PyExprMutator):
    def visit_call_(self, call: relax.Call) -> relax.Expr:
        call = super().visit_call_(call)
        if not isinstance(call, relax.Call) or call.op != _DEQUANTIZE:
            return call
        quantized = call.args[0]
        if not isinstance(quantized, relax.Var):
            return call
        quantize = self.lookup_binding(quantized)
        if not isinstance(quantize, relax.Call) or quantize.op != _QUANTIZE:
            return call
        grid = _grid(quantize, call)
        if grid is None:
            return call
        scale, low, high = grid
        x = quantize.args[0]
        s = relax.const(scale, "float32")
        # maximum/minimum with scalar constants, not clip: clip has no layout rule in TVM.
        steps = relax.op.round(relax.op.divide(x, s))
        steps = relax.op.minimum(
            relax.op.maximum(steps, relax.const(low, "float32")), relax.const(high, "float32")
        )
        return relax.op.multiply(self.builder_.emit(steps), s)


def _grid(quantize: relax.Call, dequantize: relax.Call) -> tuple[float, float, float] | None:
    """(scale, lowest step, highest step) of a per-tensor float32 pair, else None."""
    x = quantize.args[0]
    dtype = str(quantize.attrs.out_dtype)
    if dtype not in _INTEGER_TYPES or str(dequantize.attrs.out_dtype) != "float32":
        return None
    if not isinstance(x.ty, relax.TensorType) or x.ty.dtype != "float32":
        return None
    q_scale, q_zero = scalar_constant(quantize.args[1]), scalar_constant(quantize.args[2])
    d_scale, d_zero = scalar_constant(dequantize.args[1]), scalar_constant(dequantize.args[2])
    if None in (q_scale, q_zero, d_scale, d_zero) or (q_scale, q_zero) != (d_scale, d_zero):
        return None
    assert q_scale is not None and q_zero is not None
    if not (np.isfinite(q_scale) and q_scale > 0):
        return None
    info = np.iinfo(dtype)
    return q_scale, float(info.min) - q_zero, float(info.max) - q_zero

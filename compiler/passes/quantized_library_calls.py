"""oneDNN matmuls and convolutions of QDQ models multiply 8-bit integers (VNNI, AMX-INT8).

A QDQ model (`onnxruntime.quantization.quantize_static`) stores each weight as int8 times a
scale per output channel and quantizes each activation before the Conv, MatMul or Gemm that
reads it; `fake_quantize` has turned that pair into float32 rounding to its grid, and constant
folding the weights into float32. A oneDNN call whose source is such a rounding of `y` and whose
constant weights lie on a symmetric int8 grid per output channel (column `j` is `q * s_j`
with `s_j = max |w_j| / 127` and integers |q| <= 127, which recovers the model's own int8
weights) becomes an int8 call: it reads `y` itself, quantizes it per tile as the
QuantizeLinear would (scale, zero point), multiplies u8/s8 by s8 with int32 sums, and scales
the sums back to float32 before its epilogue. The same numbers as the float32 call, up to the
order of float32 additions (the int32 sums are exact). Weights on no such grid, or a source
that is not a per-tensor 8-bit rounding, keep their precision. An int8 convolution whose
output only int8 convolutions read as their source, on one grid, writes that output as 8-bit
itself (the grid follows its own int8 values in its attributes); the readers take it as is.

Precondition: `fuse_library_epilogues` has run; before `library_precision`, which leaves these
calls int8. Attributes: the compute type `int8` then [scale bits, zero point, is_signed] after
the epilogue (runtime_cpp/plugins/common/epilogue.h). The rounding, left without readers, is
removed.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import tvm
from tvm import relax
from tvm.relax.expr_functor import PyExprMutator, mutator

from ..ir.constants import scalar_constant
from ..ir.rewrite import rewrite_and_prune, rewrite_functions
from ..libraries import onednn
from ..libraries.onednn_calls import LibraryCall, library_call

_DIVIDE = tvm.ir.Op.get("relax.divide")
_ROUND = tvm.ir.Op.get("relax.round")
_MAXIMUM = tvm.ir.Op.get("relax.maximum")
_MINIMUM = tvm.ir.Op.get("relax.minimum")
_MULTIPLY = tvm.ir.Op.get("relax.multiply")
_PERMUTE_DIMS = tvm.ir.Op.get("relax.permute_dims")
#: How far from an integer a weight divided by its channel's scale may be (float32 rounding).
_GRID_TOLERANCE = 1e-3


@tvm.transform.module_pass(opt_level=0, name="EmberQuantizedLibraryCalls")
def quantized_library_calls(mod: tvm.IRModule, _ctx: Any) -> tvm.IRModule:
    """Make each oneDNN call of quantized source and weights an int8 call (see the docstring)."""
    mod = rewrite_and_prune(mod, _Rewriter(mod))
    producers = [p for func in mod.functions.values() for p in _eight_bit_producers(func)]
    return rewrite_functions(mod, _EightBitOutputs(mod, producers)) if producers else mod


_CONVS = (onednn.CONV_NHWC, onednn.CONV_NHWC_EPILOGUE, onednn.CONV_NHWC_RESIDUAL)
_INT8 = onednn.COMPUTE_TYPES["int8"]


def _int8_conv(value: Any) -> LibraryCall | None:
    """`value` taken apart if it is an int8 oneDNN convolution, else None."""
    call = library_call(value)
    if call is None or call.name not in _CONVS or call.compute_type != _INT8:
        return None
    return call


def _eight_bit_producers(func: Any) -> list[tuple[relax.Call, list[int]]]:
    """int8 convolutions whose output only int8 convolutions read as their source, on one grid.

    Returned as (call, that grid's attributes [scale bits, zero, is_signed]); convolutions
    with a residual add are left out (they write float32). Such an output is written as 8-bit
    by the convolution itself (oneDNN quantizes its float32 result) and read as it is: no
    float32 round trip through memory, no quantizing per tile.
    """
    if not isinstance(func, relax.Function) or not isinstance(func.body, relax.SeqExpr):
        return []
    bindings = [b for block in func.body.blocks for b in block.bindings]
    other_uses: set[Any] = set(relax.analysis.free_vars(func.body.body))
    grids: dict[Any, set[tuple[int, ...]]] = {}
    for binding in bindings:
        call = _int8_conv(binding.value)
        if call is None:
            other_uses.update(relax.analysis.free_vars(binding.value))
            continue
        source, *rest = call.tensors
        end = call.epilogue_end
        grids.setdefault(source, set()).add(tuple(call.values[end + 1 : end + 4]))
        for tensor in rest:
            other_uses.update(relax.analysis.free_vars(tensor))
    producers = []
    for binding in bindings:
        call = _int8_conv(binding.value)
        if call is None or call.name == onednn.CONV_NHWC_RESIDUAL or binding.var in other_uses:
            continue
        if len(call.values) != call.epilogue_end + 4:  # an 8-bit output already
            continue
        readers = grids.get(binding.var, set())
        if len(readers) == 1:
            producers.append((binding.value, list(next(iter(readers)))))
    return producers


@mutator
class _EightBitOutputs(PyExprMutator):
    """Give the calls in `producers` an 8-bit output on their grid (readers' types follow)."""

    def __init__(self, mod: tvm.IRModule, producers: list[tuple[relax.Call, list[int]]]) -> None:
        super().__init__(mod)
        self.producers = producers

    def visit_call_(self, call: relax.Call) -> relax.Expr:
        visited = super().visit_call_(call)
        grid = next((g for p, g in self.producers if call.same_as(p)), None)
        parts = library_call(visited) if grid is not None else None
        if parts is None or grid is None:
            return visited
        ty = relax.TensorType(call.ty.shape, "int8" if grid[2] else "uint8")
        shape = relax.ShapeExpr([*parts.values, *grid])
        return relax.op.call_dps_packed(parts.name, [*parts.tensors, shape], ty)


@mutator
class _Rewriter(PyExprMutator):
    def visit_call_(self, call: relax.Call) -> relax.Expr:
        call = super().visit_call_(call)
        parts = library_call(call)
        # The weights' content hash is the last leading attribute: 0 for computed weights.
        if parts is None or parts.values[parts.leading - 1] == 0 or parts.compute_type is not None:
            return call
        source, weights, *others = parts.tensors
        grid = self._source_grid(source)
        if grid is None or not _on_int8_grid(weights):
            return call
        y, scale, zero, is_signed = grid
        no_epilogue = [0, 0] if len(parts.values) == parts.leading else []
        scale_bits = struct.unpack("<I", struct.pack("<f", scale))[0]
        int8 = [onednn.COMPUTE_TYPES["int8"], scale_bits, zero, int(is_signed)]
        shape = relax.ShapeExpr([*parts.values, *no_epilogue, *int8])
        return relax.op.call_dps_packed(parts.name, [y, weights, *others, shape], call.ty)

    def _source_grid(self, source: relax.Expr) -> tuple[relax.Expr, float, int, bool] | None:
        """(y, scale, zero point, is_signed) where `source` is `y` rounded to an 8-bit grid.

        The rounding is `fake_quantize`'s: multiply(minimum(maximum(round(divide(y, s)), lo),
        hi), s), with lo = qmin - zero and hi = qmax - zero; or a transpose of it (a model's
        NCHW input before the first NHWC convolution), which then transposes `y` instead.
        """
        chain = []
        expr = source
        transpose = self.lookup_binding(expr) if isinstance(expr, relax.Var) else None
        if isinstance(transpose, relax.Call) and transpose.op.same_as(_PERMUTE_DIMS):
            expr = transpose.args[0]
        else:
            transpose = None
        for op in (_MULTIPLY, _MINIMUM, _MAXIMUM, _ROUND, _DIVIDE):
            value = self.lookup_binding(expr) if isinstance(expr, relax.Var) else None
            if not (isinstance(value, relax.Call) and value.op.same_as(op)):
                return None
            chain.append(value)
            expr = value.args[0]
        multiply, minimum, maximum, _, divide = chain
        scales = [scalar_constant(multiply.args[1]), scalar_constant(divide.args[1])]
        low, high = scalar_constant(maximum.args[1]), scalar_constant(minimum.args[1])
        if low is None or high is None or scales[0] is None or scales[0] != scales[1]:
            return None
        if high - low != 255:
            return None
        y = divide.args[0]
        if not (isinstance(y.ty, relax.TensorType) and y.ty.dtype == "float32"):
            return None
        if transpose is not None:
            y = self.builder_.emit(relax.op.permute_dims(y, transpose.attrs.axes))
        zero = -int(low)
        if low != int(low) or not 0 <= zero <= 255:
            zero = -128 - int(low)
            return (y, scales[0], zero, True) if -128 <= zero <= 127 else None
        return y, scales[0], zero, False


def _on_int8_grid(weights: relax.Expr) -> bool:
    """Whether each output channel (last axis) of constant `weights` is int8 times its scale.

    The scale is the plugin's, `max |w| / 127` in float32 (plugins/cpu_dnnl PackWeights), so
    quantizing with it gives back the model's integers.
    """
    if not isinstance(weights, tvm.ir.GenericConst):
        return False
    w = weights.value.numpy()
    if w.dtype != np.float32 or w.ndim < 2:
        return False
    columns = w.reshape(-1, w.shape[-1])
    maxima = np.abs(columns).max(axis=0)
    scales = np.where(maxima > 0, maxima / np.float32(127), np.float32(1)).astype(np.float32)
    steps = columns / scales
    return bool(np.all(np.abs(steps - np.rint(steps)) <= _GRID_TOLERANCE))

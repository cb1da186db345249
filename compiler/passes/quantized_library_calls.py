"""oneDNN matmuls and convolutions of QDQ models multiply 8-bit integers (VNNI, AMX-INT8).

A QDQ model (`onnxruntime.quantization.quantize_static`) stores each weight as int8 times a
scale per output channel and quantizes each activation before the Conv, MatMul or Gemm that
reads it; `fake_quantize` has turned that pair into float32 rounding to its grid, and constant
folding the weights into float32. A oneDNN call whose source is such a rounding of `y` and whose
constant weights lie on a symmetric int8 grid per output channel (column `j` is `q * s_j`
with integers |q| <= 127, `int8_weights`: the model's own int8 weights) becomes an int8 call:
it reads `y` itself, quantizes it per tile as the QuantizeLinear would (scale, zero point),
multiplies u8/s8 by s8 with int32 sums, and scales the sums back to float32 before its
epilogue. Its weights are stored as those integers, int8, followed by their scales `s_j` as
an operand of their own: a quarter of the float32 weights' bytes in the artifact. The same
numbers as the float32 call, up to the order of float32 additions (the int32 sums are exact).
Weights on no such grid, or a source that is not a per-tensor 8-bit rounding, keep their
precision. A source may also be a convolution whose epilogue ends in such a rounding
(`fuse_library_epilogues`: round, clip, linear): its output lies on the grid already, and the
reader quantizes it to the same integers. An int8 convolution whose
output only int8 convolutions read as their source, on one grid, writes that output as 8-bit
itself (the grid follows its own int8 values in its attributes, and a rounding its epilogue
ended in goes: oneDNN's quantization of the output is the same rounding); the readers take
it as is.

Precondition: `fuse_library_epilogues` has run; before `library_precision`, which leaves these
calls int8. Operands: source, int8 weights, their float32 scales [channels], then bias and
residual where the call has them (runtime_cpp/plugins/common/operands.h). Attributes: the
compute type `int8` then [scale bits, zero point, is_signed] after the epilogue
(runtime_cpp/plugins/common/epilogue.h). The rounding and the float32 weights, left without
readers, are removed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import tvm
from tvm import relax
from tvm.relax.expr_functor import PyExprMutator, mutator

from ..ir.constants import DerivedConstants
from ..ir.rewrite import rewrite_and_prune
from ..libraries import onednn
from ..libraries.onednn_calls import (
    CONVS,
    LibraryCall,
    bits_float,
    float_bits,
    library_call,
    retype_outputs,
    sole_source_producers,
)
from .fake_quantize import rounding_of

_PERMUTE_DIMS = tvm.ir.Op.get("relax.permute_dims")
#: How far from an integer a weight divided by its channel's scale may be (float32 rounding).
_GRID_TOLERANCE = 1e-3
#: Rows read to find a channel's grid before all of them are checked on it.
_SAMPLE_ROWS = 64


@tvm.transform.module_pass(opt_level=0, name="EmberQuantizedLibraryCalls")
def quantized_library_calls(mod: tvm.IRModule, _ctx: Any) -> tvm.IRModule:
    """Make each oneDNN call of quantized source and weights an int8 call (see the docstring)."""
    mod = rewrite_and_prune(mod, _Rewriter(mod))
    outputs = [o for func in mod.functions.values() for o in _eight_bit_outputs(func)]
    return retype_outputs(mod, outputs)


_INT8 = onednn.COMPUTE_TYPES["int8"]


def _source_grid_attrs(call: LibraryCall) -> tuple[int, ...]:
    """An int8 call's source grid as its attributes hold it: [scale bits, zero, is_signed]."""
    end = call.epilogue_end
    return tuple(call.values[end + 1 : end + 4])


def _eight_bit_outputs(func: Any) -> list[tuple[relax.Call, str | None, list[int]]]:
    """int8 convolutions whose output only int8 convolutions read, on one grid, made 8-bit.

    Returned as (call, uint8 or int8 or None, its new attributes). A reader takes the output as
    its source (quantized on the grid its attributes name) or as the residual it adds; the
    latter needs the producer's epilogue to end in that grid's rounding (the output's values
    are then on it). Such an output is written as 8-bit by the convolution itself (oneDNN
    quantizes its float32 result; the grid follows its int8 values in its attributes, and the
    rounding its epilogue ended in goes) and read as it is: no float32 round trip through
    memory, no quantizing per tile. A residual reader adds the integers `q` instead of
    `(q - zero) * scale`: its epilogue becomes `x / scale - zero`, the add, then `* scale`
    (None: its output keeps its type, or the new one it gets as a producer).
    """

    def int8(call: LibraryCall) -> bool:
        return call.compute_type == _INT8

    def float_output(call: LibraryCall) -> bool:  # not given an 8-bit output already
        return int8(call) and len(call.values) == call.epilogue_end + 4

    edits: dict[relax.Call, _Edit] = {}

    def edit(call: LibraryCall) -> _Edit:
        assert call.expr is not None  # taken apart from a binding
        return edits.setdefault(call.expr, _Edit(call, call.steps))

    for produced in sole_source_producers(func, int8, float_output, CONVS, residuals=True):
        parts = produced.call
        ending = _epilogue_rounding(parts)
        own = None if ending is None else _grid_attrs(*ending)
        # A call reading the output both ways is listed twice: its epilogue is edited once.
        residual_readers = list(
            {r.expr: r for r in produced.readers if produced.reads_as_residual(r)}.values()
        )
        grids = {
            _source_grid_attrs(r) for r in produced.readers if r.tensors[0].same_as(produced.var)
        }
        if residual_readers:
            grids.add(own)  # type: ignore[arg-type]
        if len(grids) != 1 or None in grids:
            continue
        grid = grids.pop()
        producer = edit(parts)
        producer.dtype = "int8" if grid[2] else "uint8"
        producer.appended = list(grid)
        if own == grid:
            producer.steps = producer.steps[:-3]  # the output's quantization rounds the same
        scale, zero = bits_float(grid[0]), grid[1]
        for reader in residual_readers:
            steps = edit(reader).steps
            at = next(i for i, step in enumerate(steps) if step[0] == onednn.RESIDUAL_STEP)
            steps[at : at + 1] = [
                (onednn.LINEAR_STEP, float_bits(1.0 / scale), float_bits(float(-zero))),
                steps[at],
                (onednn.LINEAR_STEP, grid[0], float_bits(0.0)),
            ]
    return [
        (call, e.dtype, [*e.call.with_steps(e.steps), *e.appended]) for call, e in edits.items()
    ]


@dataclass
class _Edit:
    """What `_eight_bit_outputs` changes in one call: its steps, its output type and grid."""

    call: LibraryCall
    steps: list[tuple[int, int, int]]
    dtype: str | None = None
    appended: list[int] = field(default_factory=list)


def _epilogue_rounding(call: LibraryCall) -> tuple[float, float, float] | None:
    """(scale, low, high) where `call`'s epilogue ends in a rounding to an 8-bit grid."""
    steps = call.steps
    if len(steps) < 3 or call.ends_in_softmax:
        return None
    (round_kind, scale, _), (clip_kind, low, high), (linear_kind, factor, offset) = steps[-3:]
    kinds = (onednn.ROUND_STEP, onednn.CLIP_STEP, onednn.LINEAR_STEP)
    if (round_kind, clip_kind, linear_kind) != kinds or factor != scale or offset != 0:
        return None
    return bits_float(scale), bits_float(low), bits_float(high)


def _grid(scale: float, low: float, high: float) -> tuple[float, int, bool] | None:
    """(scale, zero point, is_signed) of the 8-bit grid whose integers are [low, high]."""
    if high - low != 255 or low != int(low):
        return None
    zero = -int(low)
    if 0 <= zero <= 255:
        return scale, zero, False
    zero = -128 - int(low)
    return (scale, zero, True) if -128 <= zero <= 127 else None


def _grid_attrs(scale: float, low: float, high: float) -> tuple[int, ...] | None:
    """The grid as an int8 call's attributes hold it: [scale bits, zero, is_signed]."""
    grid = _grid(scale, low, high)
    return None if grid is None else (float_bits(grid[0]), grid[1], int(grid[2]))


@mutator
class _Rewriter(PyExprMutator):
    def __init__(self, mod: tvm.IRModule) -> None:
        super().__init__(mod)
        self.int8_constants = DerivedConstants(_int8_constants)

    def visit_call_(self, call: relax.Call) -> relax.Expr:
        call = super().visit_call_(call)
        parts = library_call(call)
        if parts is None or not parts.hashed or parts.compute_type is not None:
            return call
        source, weights, *others = parts.tensors
        grid = self._source_grid(source)
        if grid is None or not isinstance(weights, tvm.ir.GenericConst):
            return call
        int8_weights = self.int8_constants.get(weights)
        if int8_weights is None:
            return call
        y, scale, zero, is_signed = grid
        no_epilogue = [0, 0] if len(parts.values) == parts.leading else []
        int8 = [onednn.COMPUTE_TYPES["int8"], float_bits(scale), zero, int(is_signed)]
        shape = relax.ShapeExpr([*parts.values, *no_epilogue, *int8])
        return relax.op.call_dps_packed(parts.name, [y, *int8_weights, *others, shape], call.ty)

    def _source_grid(self, source: relax.Expr) -> tuple[relax.Expr, float, int, bool] | None:
        """(y, scale, zero point, is_signed) where `source` is `y` rounded to an 8-bit grid.

        The rounding is `fake_quantize`'s: multiply(minimum(maximum(round(divide(y, s)), lo),
        hi), s), with lo = qmin - zero and hi = qmax - zero; or a transpose of it (a model's
        NCHW input before the first NHWC convolution), which then transposes `y` instead.
        """
        expr = source
        transpose = self.lookup_binding(expr) if isinstance(expr, relax.Var) else None
        if isinstance(transpose, relax.Call) and transpose.op.same_as(_PERMUTE_DIMS):
            expr = transpose.args[0]
        else:
            transpose = None
        rounding = rounding_of(expr, self.lookup_binding)
        if rounding is not None:
            y, scale, low, high = rounding.y, rounding.scale, rounding.low, rounding.high
        else:
            producer = self.lookup_binding(expr) if isinstance(expr, relax.Var) else None
            parts = library_call(producer) if producer is not None else None
            ending = _epilogue_rounding(parts) if parts is not None else None
            if ending is None:
                return None
            y, (scale, low, high) = expr, ending
        if not (isinstance(y.ty, relax.TensorType) and y.ty.dtype == "float32"):
            return None
        grid = _grid(scale, low, high)
        if grid is None:
            return None
        if transpose is not None:
            y = self.builder_.emit(relax.op.permute_dims(y, transpose.attrs.axes))
        return (y, *grid)


def _int8_constants(
    weights: tvm.ir.GenericConst,
) -> tuple[tvm.ir.GenericConst, tvm.ir.GenericConst] | None:
    """`weights` as constants of int8 integers and float32 scales, or None off a grid."""
    split = int8_weights(weights.value.numpy())
    if split is None:
        return None
    integers, scales = split
    return relax.const(integers), relax.const(scales)


def int8_weights(w: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Float32 `w` as int8 integers `q` and float32 scales `s` per output channel (last axis).

    Column `j` must be `q * s_j` with integers |q| <= m_j <= 127, some at +-m_j: the model's own
    int8 weights, whatever their range (ONNX Runtime's usually reach +-127; it has quantized
    MobileNetV2's classifier to m_j of 1 to 18). Then `s_j` is max|w_j| / m_j, and `q` the
    model's integers. None where some column lies on no such grid.
    """
    if w.dtype != np.float32 or w.ndim < 2:
        return None
    columns = w.reshape(-1, w.shape[-1])
    maxima = np.abs(columns).max(axis=0)
    unit = columns / np.where(maxima > 0, maxima, np.float32(1))  # in [-1, 1]
    steps = np.where(_integral(unit * np.float32(127)), np.float32(127), np.float32(0))
    off = steps == 0
    if off.any():
        # The rest must be on a coarser grid: find each one's m_j on a few rows, then check all.
        rest = unit[:, off]
        sample = rest[:_SAMPLE_ROWS]
        found = np.zeros(rest.shape[1], np.float32)
        for m in range(1, 127):
            found[(found == 0) & _integral(sample * np.float32(m))] = m
        if not (np.all(found > 0) and np.all(_integral(rest * found))):
            return None
        steps[off] = found
    integers = np.rint(unit * steps).astype(np.int8).reshape(w.shape)
    scales = np.where(maxima > 0, maxima / steps, np.float32(1)).astype(np.float32)
    return integers, scales


def _integral(values: np.ndarray) -> np.ndarray:
    """Per column, whether every value is within `_GRID_TOLERANCE` of an integer."""
    return np.all(np.abs(values - np.rint(values)) <= _GRID_TOLERANCE, axis=0)

"""Det: the determinant of each square matrix in the last two axes.

Relax has no determinant or LU decomposition, so Gaussian elimination with partial
pivoting is unrolled over the (static) matrix size: at step k the row with the largest
|a[i, k]| (i >= k) is swapped into row k, flipping the sign, and eliminates the entries
below it. The determinant is the sign times the product of the diagonal. Pivoting keeps
the result as accurate as LAPACK's getrf, which ONNX Runtime and NumPy use. The graph grows
with the size, so large matrices are refused.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from tvm import relax
from tvm.relax.frontend.onnx.onnx_frontend import OnnxOpConverter

from ember.errors import UnsupportedModelError

from .common import const, dtype_of, static_shape

op = relax.op

#: Largest matrix the unrolled elimination accepts (its op count grows with the size).
MAX_SIZE = 32


def _swap_pivot_row(bb: Any, a: Any, k: int, size: int, dtype: str) -> tuple[Any, Any]:
    """`a` with row k swapped for the best pivot row at or below k, and whether they differ."""
    rows = np.arange(size)
    rank = a.ty.ndim
    column = op.abs(op.squeeze(op.strided_slice(a, [rank - 1], [k], [k + 1]), [rank - 1]))
    below = relax.const((rows >= k).astype(dtype))
    # Rows above k score -1, below every candidate's |a[i, k]| >= 0.
    score = op.subtract(op.multiply(column, below), op.subtract(const(1, dtype), below))
    pivot = bb.emit(op.argmax(score, axis=-1))
    at_pivot = op.astype(op.equal(relax.const(rows, "int64"), op.expand_dims(pivot, -1)), dtype)
    at_k = relax.const((rows == k).astype(dtype).reshape(size, 1))
    pivot_row = op.sum(op.multiply(a, op.expand_dims(at_pivot, -1)), axis=-2, keepdims=True)
    row_k = op.strided_slice(a, [rank - 2], [k], [k + 1])
    swapped = op.add(
        a,
        op.add(
            op.multiply(at_k, op.subtract(pivot_row, row_k)),
            op.multiply(op.expand_dims(at_pivot, -1), op.subtract(row_k, pivot_row)),
        ),
    )
    return bb.emit(swapped), bb.emit(op.not_equal(pivot, relax.const(k, "int64")))


def _eliminate_below(bb: Any, a: Any, k: int, size: int, dtype: str) -> Any:
    """Subtract multiples of row k from the rows below it so column k is zero there."""
    rank = a.ty.ndim
    row_k = op.strided_slice(a, [rank - 2], [k], [k + 1])  # (..., 1, size)
    pivot = op.strided_slice(row_k, [rank - 1], [k], [k + 1])  # (..., 1, 1)
    safe = op.where(op.equal(pivot, const(0, dtype)), op.ones_like(pivot), pivot)
    column = op.strided_slice(a, [rank - 1], [k], [k + 1])  # (..., size, 1)
    below = relax.const((np.arange(size) > k).astype(dtype).reshape(size, 1))
    factors = op.multiply(op.divide(column, safe), below)
    return bb.emit(op.subtract(a, op.multiply(factors, row_k)))


class Det(OnnxOpConverter):
    """Input (..., M, M), output (...)."""

    @classmethod
    def _impl_v11(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        a = inputs[0]
        shape = static_shape(a, "Det input")
        if len(shape) < 2 or shape[-1] != shape[-2]:
            raise UnsupportedModelError(
                f"Det needs square matrices in the last two axes, got {shape}"
            )
        size = shape[-1]
        if size > MAX_SIZE:
            raise UnsupportedModelError(f"Det of {size}x{size} matrices (at most {MAX_SIZE})")
        dtype = dtype_of(a)
        swaps = []
        for k in range(size - 1):
            a, swapped = _swap_pivot_row(bb, a, k, size, dtype)
            swaps.append(swapped)
            a = _eliminate_below(bb, a, k, size, dtype)
        diagonal = op.multiply(a, relax.const(np.eye(size, dtype=dtype)))
        product = op.prod(op.sum(diagonal, axis=-1), axis=-1)
        sign = const(1, dtype)
        for swapped in swaps:
            sign = op.multiply(sign, op.where(swapped, const(-1, dtype), const(1, dtype)))
        return bb.emit(op.multiply(product, sign))

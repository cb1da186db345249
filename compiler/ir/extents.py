"""Arithmetic on tensor extents, symbolic dimensions included."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from tvm import tirx

PrimExpr = Any  # TIR expressions (TVM 0.27 has one `Expr` class for Relax and TIR)


def as_int64(value: PrimExpr) -> PrimExpr:
    """`value` as an int64 expression (extents may be int32 where they were written as such)."""
    return value if str(value.ty) == "int64" else tirx.Cast("int64", value)


def element_count(dims: Sequence[PrimExpr]) -> PrimExpr:
    """The product of `dims` in int64: 1 for no dimensions."""
    result: PrimExpr = tirx.const(1, "int64")
    for dim in dims:
        result = result * as_int64(dim)
    return result


def entry_bytes(ty: Any) -> PrimExpr:
    """The bytes of one entry along the leading axis of a tensor type (`ty.shape[1:]`)."""
    return element_count(list(ty.shape.values)[1:]) * np.dtype(str(ty.dtype)).itemsize

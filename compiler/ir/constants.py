"""Reading constants out of Relax expressions."""

from __future__ import annotations

from typing import Any

import tvm


def scalar_constant(expr: Any) -> float | None:
    """The value of a one-element tensor constant or a number (a clip bound), else None."""
    if isinstance(expr, tvm.ir.GenericConst):
        data = expr.value.numpy()
        return float(data.reshape(-1)[0]) if data.size == 1 else None
    value = getattr(expr, "value", None)
    return float(value) if isinstance(value, int | float) else None

"""Reading the attributes of Relax calls."""

from __future__ import annotations

from typing import Any

#: How TVM prints an `out_dtype` that was left unset (the op keeps its inputs' type).
_UNSET = ("", "void", "None")


def out_dtype(call: Any) -> str | None:
    """The `out_dtype` a call (a matmul, a convolution) asks for; None where it is unset."""
    value = getattr(call.attrs, "out_dtype", None)
    return None if value is None or str(value) in _UNSET else str(value)

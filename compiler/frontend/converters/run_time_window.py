"""Hann, Hamming and Blackman windows whose size is a graph input, known only at run time.

The size is the output's only extent: it becomes a symbolic int64 matched from the input's
value, and one kernel computes `a0 - a1 cos(p) + a2 cos(2p)` with `p = 2 pi n / N` (N the size
when periodic, else size - 1) in float64, as the constant path does, cast to the output type.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tvm import relax, te, tirx

from .common import symbolic_values

op = relax.op

#: Window -> cosine-sum coefficients (a0, a1, a2).
COEFFICIENTS: dict[str, tuple[float, float, float]] = {
    "HannWindow": (0.5, 0.5, 0.0),
    "HammingWindow": (25.0 / 46.0, 21.0 / 46.0, 0.0),
    "BlackmanWindow": (0.42, 0.5, 0.08),
}


def _kernel(name: str, periodic: bool, dtype: str) -> Callable[[Any], te.Tensor]:
    a0, a1, a2 = COEFFICIENTS[name]

    def compute(size: Any) -> te.Tensor:
        period = size if periodic else size - 1
        denominator = tirx.max(period, tirx.const(1, "int64")).astype("float64")

        def body(n: Any) -> Any:
            phase = tirx.const(2.0 * 3.141592653589793, "float64") * n.astype("float64")
            phase = phase / denominator
            value = a0 - a1 * tirx.cos(phase) + a2 * tirx.cos(2.0 * phase)
            return value.astype(dtype)

        return te.compute((tirx.max(size, tirx.const(0, "int64")),), body, name="window")

    return compute


def run_time_window(bb: Any, name: str, size: Any, periodic: bool, dtype: str) -> Any:
    """The `name` window of the run-time one-element `size`, of element type `dtype`."""
    (length,) = symbolic_values(bb, size, 1, "window_size")
    return bb.emit_te(_kernel(name, periodic, dtype), length)

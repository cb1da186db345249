"""Tolerances per precision, and how far one tensor is from its reference."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ember.errors import OptionError

from ..precision import PRECISIONS

#: Default (rtol, atol) per precision. rtol is relative to the largest reference magnitude of
#: the tensor (see `Tolerance.allows`): fp32 kernels reorder sums, so they sit near 1e-6 of
#: the scale; 16-bit floats keep 8 (bf16) or 11 (fp16) significant bits, about 4e-3 and 5e-4
#: per rounding, and errors add up over a network's depth; int8 is coarser still.
DEFAULT_TOLERANCES: dict[str, tuple[float, float]] = {
    "fp32": (1e-4, 1e-6),
    "fp16": (1e-2, 1e-4),
    "bf16": (1e-2, 1e-4),
    "int8": (5e-2, 1e-3),
}


@dataclass(frozen=True)
class Tolerance:
    """How close an output must be to ONNX Runtime's: max |a - e| <= atol + rtol * max |e|."""

    rtol: float
    atol: float
    #: Where the figures come from: "fp32 default" or "given".
    source: str

    def allows(self, error: TensorError) -> bool:
        """Whether `error` is within this tolerance."""
        return error.max_abs <= self.atol + self.rtol * error.scale

    def describe(self) -> str:
        """One line for the report: ``rtol 0.0001, atol 1e-06 (fp32 default)``."""
        return f"rtol {self.rtol:g}, atol {self.atol:g} ({self.source})"


def tolerance_for(precision: str, rtol: float | None, atol: float | None) -> Tolerance:
    """The given figures, or the precision's defaults for those not given."""
    if precision not in DEFAULT_TOLERANCES:
        raise OptionError(f"unknown precision '{precision}' (expected {', '.join(PRECISIONS)})")
    for flag, value in (("--rtol", rtol), ("--atol", atol)):
        if value is not None and not (value >= 0 and np.isfinite(value)):
            raise OptionError(f"invalid {flag} {value}: expected a finite number >= 0")
    default_rtol, default_atol = DEFAULT_TOLERANCES[precision]
    given = rtol is not None or atol is not None
    source = "given" if given else f"{precision} default"
    if given and (rtol is None or atol is None):
        source = f"given, the other {precision} default"
    return Tolerance(
        default_rtol if rtol is None else rtol, default_atol if atol is None else atol, source
    )


@dataclass(frozen=True)
class TensorError:
    """How far one tensor is from its reference."""

    name: str
    max_abs: float
    #: max_abs / scale (max_abs itself when the reference is all zeros).
    max_rel: float
    #: The largest magnitude in the reference.
    scale: float

    def describe(self) -> str:
        """``max abs error 1.2e-06, max rel error 3.4e-07``."""
        return f"max abs error {self.max_abs:.3g}, max rel error {self.max_rel:.3g}"


def tensor_error(name: str, actual: np.ndarray, expected: np.ndarray) -> TensorError:
    """Compare two arrays; a shape mismatch or a NaN where the reference has none is infinite."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    if actual.shape != expected.shape:
        return TensorError(name, float("inf"), float("inf"), 0.0)
    if expected.size == 0:
        return TensorError(name, 0.0, 0.0, 0.0)
    a, e = actual.astype(np.float64), expected.astype(np.float64)
    diff = np.abs(a - e)
    # Matching NaNs (and matching infinities) agree; any other NaN difference is unbounded.
    same = (np.isnan(a) & np.isnan(e)) | (a == e)
    diff = np.where(same, 0.0, np.nan_to_num(diff, nan=np.inf))
    finite = e[np.isfinite(e)]
    scale = float(np.max(np.abs(finite))) if finite.size else 0.0
    max_abs = float(np.max(diff))
    return TensorError(name, max_abs, max_abs / scale if scale > 0 else max_abs, scale)

"""Signal-processing generators: Hann, Hamming and Blackman windows, MelWeightMatrix.

Their inputs (window size; mel bins, DFT length, sample rate, band edges) decide the output
shape. Constant ones build the output once at compile time, in float64 and cast to
`output_datatype`. A window size given at run time becomes a symbolic output extent
(`run_time_window.py`); MelWeightMatrix's inputs must be constant.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from onnx import helper
from tvm import relax
from tvm.relax.frontend.onnx.onnx_frontend import OnnxOpConverter

from ember.errors import UnsupportedModelError

from .common import constant_values
from .run_time_window import run_time_window
from .subgraph import constant_value


def _scalar(expr: Any, what: str) -> float:
    value = constant_values(expr, what)
    if value.size != 1:
        raise UnsupportedModelError(f"{what} must be a scalar, got shape {value.shape}")
    return float(value.reshape(()))


def _output(values: np.ndarray, attr: dict[str, Any]) -> relax.Constant:
    dtype = helper.tensor_dtype_to_np_dtype(int(attr.get("output_datatype", 1)))
    return relax.const(values.astype(dtype))


def _run_time(bb: Any, inputs: Any, attr: dict[str, Any], name: str) -> Any:
    """The window computed at run time, or None when its size is a constant."""
    if constant_value(inputs[0]) is not None:
        return None
    dtype = helper.tensor_dtype_to_np_dtype(int(attr.get("output_datatype", 1)))
    periodic = bool(int(attr.get("periodic", 1)))
    return run_time_window(bb, name, inputs[0], periodic, str(np.dtype(dtype)))


def _phase(inputs: Any, attr: dict[str, Any], name: str) -> np.ndarray:
    """2*pi*n/N for n in [0, size): N is size when periodic (default), else size - 1."""
    size = int(_scalar(inputs[0], f"{name} size"))
    if size < 1:
        raise UnsupportedModelError(f"{name} size must be positive, got {size}")
    period = size if int(attr.get("periodic", 1)) else size - 1
    return 2.0 * np.pi * np.arange(size, dtype=np.float64) / max(period, 1)


class HannWindow(OnnxOpConverter):
    """0.5 - 0.5 cos(2 pi n / N)."""

    @classmethod
    def _impl_v17(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        run_time = _run_time(bb, inputs, attr, "HannWindow")
        if run_time is not None:
            return run_time
        phase = _phase(inputs, attr, "HannWindow")
        return _output(0.5 - 0.5 * np.cos(phase), attr)


class HammingWindow(OnnxOpConverter):
    """25/46 - 21/46 cos(2 pi n / N)."""

    @classmethod
    def _impl_v17(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        run_time = _run_time(bb, inputs, attr, "HammingWindow")
        if run_time is not None:
            return run_time
        phase = _phase(inputs, attr, "HammingWindow")
        alpha = 25.0 / 46.0
        return _output(alpha - (1.0 - alpha) * np.cos(phase), attr)


class BlackmanWindow(OnnxOpConverter):
    """0.42 - 0.5 cos(2 pi n / N) + 0.08 cos(4 pi n / N)."""

    @classmethod
    def _impl_v17(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        run_time = _run_time(bb, inputs, attr, "BlackmanWindow")
        if run_time is not None:
            return run_time
        phase = _phase(inputs, attr, "BlackmanWindow")
        return _output(0.42 - 0.5 * np.cos(phase) + 0.08 * np.cos(2.0 * phase), attr)


def _mel(hertz: np.ndarray | float) -> Any:
    return 2595.0 * np.log10(1.0 + np.asarray(hertz) / 700.0)


def _hertz(mel: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


def mel_weight_matrix(
    bins: int, dft_length: int, rate: float, low: float, high: float
) -> np.ndarray:
    """(dft_length // 2 + 1, bins) triangular filters with peak 1, as ONNX defines them.

    The band is split into `bins + 2` equal mel steps; each edge is mapped to a DFT bin
    (rounded down); filter i rises from edge i to edge i + 1 and falls to edge i + 2.
    """
    steps = np.arange(bins + 2, dtype=np.float64)
    mels = _mel(low) + steps * (_mel(high) - _mel(low)) / (bins + 2)
    edges = np.floor((dft_length + 1) * _hertz(mels) / rate).astype(np.int64)
    out = np.zeros((dft_length // 2 + 1, bins))
    rows = np.arange(out.shape[0])
    for i in range(bins):
        left, center, right = edges[i], edges[i + 1], edges[i + 2]
        if center == left:
            out[center, i] = 1.0
        else:
            rising = (rows >= left) & (rows <= center)
            out[rising, i] = (rows[rising] - left) / (center - left)
        if right > center:
            falling = (rows >= center) & (rows < right)
            out[falling, i] = (right - rows[falling]) / (right - center)
    return out


_MEL_INPUTS = ("num_mel_bins", "dft_length", "sample_rate", "lower_edge_hertz", "upper_edge_hertz")


class MelWeightMatrix(OnnxOpConverter):
    """Inputs num_mel_bins, dft_length, sample_rate, lower_edge_hertz, upper_edge_hertz."""

    @classmethod
    def _impl_v17(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        bins, dft_length, rate, low, high = (
            _scalar(value, f"MelWeightMatrix {name}")
            for value, name in zip(inputs, _MEL_INPUTS, strict=True)
        )
        matrix = mel_weight_matrix(int(bins), int(dft_length), rate, low, high)
        return _output(matrix, attr)

"""Resize sampling per axis, computed at compile time: which inputs each output reads, how much.

ONNX Resize is separable: along each resized axis, output position `o` maps to a source
coordinate (by `coordinate_transformation_mode`), and reads `n` neighbouring input positions
with weights given by the interpolation kernel (nearest, linear, cubic; antialiased kernels
widen with the downscale factor). With static shapes and constant scales or sizes, all of
this is a small table per axis: neighbour indices (edge-clamped) and weights, plus, for
`tf_crop_and_resize`, the outputs that fall outside the input and take `extrapolation_value`.
Like ONNX Runtime and the operator's text, the modes that divide by the output length
(align_corners, pytorch_half_pixel, tf_crop_and_resize) use the integer length; only
half_pixel_symmetric uses `input * scale` before rounding, as it is defined to.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ResizeMode:
    """The attributes of one Resize node that shape the sampling."""

    mode: str = "nearest"  # nearest | linear | cubic
    coordinates: str = "half_pixel"
    nearest_mode: str = "round_prefer_floor"
    cubic_a: float = -0.75
    exclude_outside: bool = False
    antialias: bool = False


@dataclass(frozen=True)
class AxisTaps:
    """Per output position: input indices (out, n), weights (out, n), outside-ROI mask."""

    indices: np.ndarray
    weights: np.ndarray
    outside: np.ndarray | None


def axis_taps(
    spec: ResizeMode, in_size: int, out_size: int, scale: float, roi: tuple[float, float]
) -> AxisTaps:
    """The sampling table of one axis resized from `in_size` to `out_size` at `scale`."""
    source, outside = _source_coordinates(spec, in_size, out_size, scale, roi)
    floor = np.floor(source)
    ratios = np.where(source == floor, 1.0, source - floor)
    weights = np.stack([_kernel(spec, float(r), scale) for r in ratios]).reshape(out_size, -1)
    taps = weights.shape[1]
    indices = _neighbours(source, taps)
    if spec.exclude_outside:
        weights = np.where((indices < 0) | (indices >= in_size), 0.0, weights)
        total = weights.sum(axis=1, keepdims=True)
        weights = weights / np.where(total == 0, 1.0, total)
    indices = np.clip(indices, 0, in_size - 1)
    if spec.mode == "nearest":  # exactly one weight is 1: keep that index only
        pick = np.argmax(weights, axis=1)
        indices = indices[np.arange(out_size), pick][:, None]
        weights = np.ones_like(indices, dtype=np.float64)
    return AxisTaps(indices.astype(np.int64), weights, outside)


def _source_coordinates(
    spec: ResizeMode, in_size: int, out_size: int, scale: float, roi: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray | None]:
    """Source coordinate of every output position, and the outside-ROI mask (crop mode)."""
    out = np.arange(out_size, dtype=np.float64)
    exact = scale * in_size  # the output length before rounding to an integer
    mode = spec.coordinates
    if mode == "align_corners":
        return (np.zeros(out_size) if out_size == 1 else out * (in_size - 1) / (out_size - 1)), None
    if mode == "asymmetric":
        return out / scale, None
    if mode == "pytorch_half_pixel":
        return (np.zeros(out_size) if out_size == 1 else (out + 0.5) / scale - 0.5), None
    if mode == "half_pixel":
        return (out + 0.5) / scale - 0.5, None
    if mode == "half_pixel_symmetric":
        offset = in_size / 2 * (1 - out_size / exact)
        return offset + (out + 0.5) / scale - 0.5, None
    if mode == "tf_crop_and_resize":
        start, end = roi
        if out_size == 1:
            source = np.full(out_size, (end - start) * (in_size - 1) / 2)
        else:
            source = out * (end - start) * (in_size - 1) / (out_size - 1)
        source = source + start * (in_size - 1)
        return source, (source < 0) | (source > in_size - 1)
    raise ValueError(f"unsupported coordinate_transformation_mode '{mode}'")


def _neighbours(source: np.ndarray, taps: int) -> np.ndarray:
    """The `taps` input indices nearest each source coordinate (ties to the smaller index)."""
    pad = math.ceil(taps / 2)
    shifted = source + pad
    base = np.floor(shifted)
    frac = shifted - base
    if taps % 2 == 0:
        offset = np.where(frac == 0, -(taps // 2), -(taps // 2) + 1)
    else:
        low = -((taps - 1) // 2)
        offset = np.where(frac <= 0.5, low, low + 1)
    start = base.astype(np.int64) + offset - pad
    return start[:, None] + np.arange(taps)[None, :]


def _kernel(spec: ResizeMode, ratio: float, scale: float) -> np.ndarray:
    """Weights of the neighbours of a coordinate `ratio` past its left neighbour."""
    if spec.mode == "nearest":
        return _nearest(ratio, spec.nearest_mode)
    if spec.mode == "linear":
        return _linear_antialias(ratio, scale) if spec.antialias else np.array([1 - ratio, ratio])
    if spec.mode == "cubic":
        if spec.antialias:
            return _cubic_antialias(ratio, scale, spec.cubic_a)
        return np.array([_cubic(d, spec.cubic_a) for d in (1 + ratio, ratio, 1 - ratio, 2 - ratio)])
    raise ValueError(f"unsupported mode '{spec.mode}'")


def _nearest(ratio: float, rounding: str) -> np.ndarray:
    if float(ratio).is_integer():
        return np.array([0.0, 1.0])
    right = {
        "round_prefer_floor": ratio > 0.5,
        "round_prefer_ceil": ratio >= 0.5,
        "floor": False,
        "ceil": True,
    }
    if rounding not in right:
        raise ValueError(f"unsupported nearest_mode '{rounding}'")
    return np.array([0.0, 1.0]) if right[rounding] else np.array([1.0, 0.0])


def _cubic(distance: float, a: float) -> float:
    """Keys' cubic convolution kernel with parameter `a`."""
    d = abs(distance)
    if d <= 1:
        return ((a + 2) * d - (a + 3)) * d * d + 1
    if d < 2:
        return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return 0.0


def _linear_antialias(ratio: float, scale: float) -> np.ndarray:
    """The triangle kernel stretched by 1/scale when downscaling, normalised."""
    scale = min(scale, 1.0)
    start = int(np.floor(-1 / scale) + 1)
    positions = np.arange(start, 2 - start) - ratio
    weights = np.clip(1 - np.abs(positions * scale), 0, 1)
    return weights / weights.sum()


def _cubic_antialias(ratio: float, scale: float, a: float) -> np.ndarray:
    """The cubic kernel stretched by 1/scale when downscaling, normalised."""
    scale = min(scale, 1.0)
    start = int(np.floor(-2 / scale) + 1)
    weights = np.array([_cubic(scale * (i - ratio), a) for i in range(start, 2 - start)])
    return weights / weights.sum()

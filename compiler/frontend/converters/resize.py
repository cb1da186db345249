"""Resize (opset 11+) and Upsample as gathers and weighted sums along each resized axis.

TVM's converter turns scales into sizes and lets `image.resize2d` recompute the scale from
them, which moves the sampling grid whenever `in * scale` is not an integer; it also ignores
`axes`, `antialias` and `keep_aspect_ratio_policy` and has no `half_pixel_symmetric`. Here
the sampling table of every resized axis is computed at compile time (`resize_taps`) from the
ONNX definition, and applied with `take` (nearest: one index per output) or `take` plus a
weighted sum over the kernel's taps. Scales, sizes and roi must be constants (initializers,
folded values or `--bind`); the resized dimensions must be static. When any of them is a
run-time tensor, the sampling is computed inside the kernels instead (`resize_run_time`).
Other cases (integer data with a linear or cubic kernel, sizes computed as a shape) go to
TVM's converter.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tvm
from tvm import relax
from tvm.relax.frontend.onnx import onnx_frontend
from tvm.relax.frontend.onnx.onnx_frontend import OnnxOpConverter

from ember.errors import UnsupportedModelError

from .common import dtype_of, static_shape, text
from .resize_run_time import resize_run_time
from .resize_taps import AxisTaps, ResizeMode, axis_taps
from .subgraph import run_time_tensor

op = relax.op
_FLOAT = ("float16", "bfloat16", "float32", "float64")


def _constant(value: Any) -> np.ndarray | None:
    """A constant input as an array; None when absent or empty (ONNX's 'not given')."""
    if value is None or not isinstance(value, tvm.ir.GenericConst):
        return None
    array = value.value.numpy()
    return array if array.size else None


def _given(value: Any) -> Any:
    """`value` if the input is given (ONNX's empty input or empty tensor means not), else None."""
    if value is None:
        return None
    if isinstance(value, tvm.ir.GenericConst):
        return value if _constant(value) is not None else None
    dims = getattr(value.ty.shape, "values", None)
    empty = dims is not None and any(isinstance(d, tvm.tirx.IntImm) and int(d) == 0 for d in dims)
    return None if empty else value


def _output_plan(
    shape: list[int],
    axes: list[int],
    scales: np.ndarray | None,
    sizes: np.ndarray | None,
    policy: str,
) -> tuple[list[float], list[int]]:
    """Per resized axis: the scale the sampling uses and the output length."""
    if scales is not None:
        factors = [float(s) for s in scales]
        return factors, [int(np.floor(shape[a] * f)) for a, f in zip(axes, factors, strict=True)]
    assert sizes is not None
    factors = [int(s) / shape[a] for a, s in zip(axes, sizes, strict=True)]
    if policy == "stretch":
        return factors, [int(s) for s in sizes]
    common = min(factors) if policy == "not_larger" else max(factors)
    return [common] * len(axes), [int(common * shape[a] + 0.5) for a in axes]


def _apply_axis(bb: Any, x: Any, axis: int, taps: AxisTaps, fill: Any) -> Any:
    """`x` resampled along `axis` with one axis's table; outside-ROI outputs get `fill`."""
    shape = static_shape(x, "Resize input")
    out, count = taps.weights.shape
    flat = relax.const(taps.indices.reshape(-1), "int64")
    picked = bb.emit(op.take(x, flat, axis=axis))
    if count > 1:
        spread = [*shape[:axis], out, count, *shape[axis + 1 :]]
        picked = bb.emit(op.reshape(picked, spread))
        trailing = (1,) * (len(shape) - axis - 1)
        weights = relax.const(taps.weights.reshape((out, count, *trailing)), dtype_of(x))
        picked = bb.emit(op.sum(op.multiply(picked, weights), axis=[axis + 1]))
    if taps.outside is not None and taps.outside.any():
        mask = taps.outside.reshape((out,) + (1,) * (len(shape) - axis - 1))
        picked = bb.emit(op.where(relax.const(mask), fill, picked))
    return picked


def resample(
    bb: Any,
    x: Any,
    spec: ResizeMode,
    plan: dict[int, tuple[float, int, tuple[float, float]]],
    extrapolation: float,
) -> Any:
    """Apply the sampling of every axis in `plan` (axis -> scale, length, roi) to `x`."""
    dtype = dtype_of(x)
    work = dtype if spec.mode == "nearest" or dtype == "float64" else "float32"
    y = x if work == dtype else bb.emit(op.astype(x, work))
    fill = relax.const(extrapolation, work)
    shape = static_shape(x, "Resize input")
    for axis, (scale, length, roi) in plan.items():
        identity = np.isclose(scale, 1.0) and length == shape[axis] and roi == (0.0, 1.0)
        if identity:
            continue
        y = _apply_axis(bb, y, axis, axis_taps(spec, shape[axis], length, scale, roi), fill)
    return y if work == dtype else op.astype(y, dtype)


def _mode(attr: dict[str, Any]) -> ResizeMode:
    return ResizeMode(
        mode=text(attr.get("mode", b"nearest")),
        coordinates=text(attr.get("coordinate_transformation_mode", b"half_pixel")),
        nearest_mode=text(attr.get("nearest_mode", b"round_prefer_floor")),
        cubic_a=float(attr.get("cubic_coeff_a", -0.75)),
        exclude_outside=bool(attr.get("exclude_outside", 0)),
        antialias=bool(attr.get("antialias", 0)),
    )


class Resize(OnnxOpConverter):
    """Inputs X, roi, scales, sizes; attribute `axes` picks the resized axes (opset 18)."""

    @classmethod
    def _impl_v11(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        x = inputs[0]
        spec = _mode(attr)
        # roi matters only when cropping; a run-time roi otherwise keeps the constant path.
        crop = spec.coordinates == "tf_crop_and_resize"
        if any(run_time_tensor(v) for v in inputs[2:4]) or (crop and run_time_tensor(inputs[1])):
            return cls._run_time(bb, x, spec, inputs, attr)
        scales, sizes, roi = _constant(inputs[2]), _constant(inputs[3]), _constant(inputs[1])
        computed = any(
            v is not None and not isinstance(v, tvm.ir.GenericConst) for v in inputs[1:4]
        )
        linear_int = spec.mode != "nearest" and dtype_of(x) not in _FLOAT
        if computed or linear_int or (scales is None) == (sizes is None):
            return onnx_frontend.Resize._impl_v18(bb, inputs, attr, params)
        shape = static_shape(x, "Resize input")
        rank = len(shape)
        axes = [a % rank for a in attr.get("axes", range(rank))]
        policy = text(attr.get("keep_aspect_ratio_policy", b"stretch"))
        factors, lengths = _output_plan(shape, axes, scales, sizes, policy)
        bounds = _roi_bounds(roi, axes, rank) if spec.coordinates == "tf_crop_and_resize" else {}
        plan = {
            a: (f, n, bounds.get(a, (0.0, 1.0)))
            for a, f, n in zip(axes, factors, lengths, strict=True)
        }
        return resample(bb, x, spec, plan, float(attr.get("extrapolation_value", 0.0)))

    @staticmethod
    def _run_time(bb: Any, x: Any, spec: ResizeMode, inputs: Any, attr: dict[str, Any]) -> Any:
        """Scales, sizes or roi known only at run time: the sampling is computed in the kernels."""
        scales, sizes, roi = _given(inputs[2]), _given(inputs[3]), _given(inputs[1])
        if (scales is None) == (sizes is None):
            raise UnsupportedModelError("Resize needs exactly one of scales and sizes")
        rank = len(x.ty.shape.values)
        axes = [a % rank for a in attr.get("axes", range(rank))]
        policy = text(attr.get("keep_aspect_ratio_policy", b"stretch"))
        extrapolation = float(attr.get("extrapolation_value", 0.0))
        return resize_run_time(bb, x, spec, axes, (scales, sizes, roi), policy, extrapolation)


def _roi_bounds(
    roi: np.ndarray | None, axes: list[int], rank: int
) -> dict[int, tuple[float, float]]:
    """Axis -> (start, end) of the crop window; roi lists all starts, then all ends."""
    if roi is None:
        return {}
    values = [float(v) for v in roi.reshape(-1)]
    count = len(values) // 2
    listed = axes if count == len(axes) else list(range(rank))
    return {a: (values[i], values[count + i]) for i, a in enumerate(listed)}


class Upsample(OnnxOpConverter):
    """Upsample (opsets 7 and 9): Resize with asymmetric coordinates, nearest rounding down."""

    @classmethod
    def _impl_v7(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        return cls._upsample(bb, inputs[0], np.asarray(attr.get("scales", ()), "float64"), attr)

    @classmethod
    def _impl_v9(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        if run_time_tensor(inputs[1]):
            mode = text(attr.get("mode", b"nearest"))
            spec = ResizeMode(mode=mode, coordinates="asymmetric", nearest_mode="floor")
            axes = list(range(len(inputs[0].ty.shape.values)))
            return resize_run_time(bb, inputs[0], spec, axes, (inputs[1], None, None), "", 0.0)
        scales = _constant(inputs[1])
        if scales is None:
            return onnx_frontend.Upsample._impl_v9(bb, inputs, attr, params)
        return cls._upsample(bb, inputs[0], scales, attr)

    @staticmethod
    def _upsample(bb: Any, x: Any, scales: np.ndarray, attr: dict[str, Any]) -> Any:
        mode = text(attr.get("mode", b"nearest"))
        spec = ResizeMode(mode=mode, coordinates="asymmetric", nearest_mode="floor")
        shape = static_shape(x, "Upsample input")
        plan = {
            a: (float(s), int(np.floor(shape[a] * float(s))), (0.0, 1.0))
            for a, s in enumerate(scales.reshape(-1))
        }
        return resample(bb, x, spec, plan, 0.0)

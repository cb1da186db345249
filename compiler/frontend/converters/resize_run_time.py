"""Resize and Upsample whose scales, sizes or roi are graph inputs, known only at run time.

The constant path (`resize.py`, `resize_taps.py`) computes each axis's sampling table in
numpy at compile time. Here the same ONNX definitions are written in TIR and the table is
computed by a kernel at run time: the scale of every resized axis is read from a small
float64 tensor argument, and each output length is a symbolic extent matched from a value
computed in Relax (`floor(in * scale)`, the given size, or with `keep_aspect_ratio_policy`
the rounded `in * min/max(size / in)`). Per resized axis, one small kernel fills the table
(edge-clamped input index and weight per output position and tap, and the outside-ROI flag
of tf_crop_and_resize) and a second resamples the data with it; apart, each weight is
computed once rather than once per element it multiplies. Nearest has one tap, linear two
and cubic four, unrolled so the resampling kernel is elementwise (and vectorized).
Antialias widens the kernel by 1/scale when downscaling, so its tap count
(`2 * ceil(support / min(scale, 1))`) is a symbolic extent of a reduction. The arithmetic
follows `resize_taps` (float64 coordinates and weights, weights cast to the working type), so
a run-time input and a bound one give the same numbers. Every listed axis is resampled, even
one whose scale turns out to be 1 (a copy): which axes those are is known only at run time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from tvm import relax, te, tirx
from tvm.relax.frontend.onnx import onnx_frontend

from ember.errors import UnsupportedModelError

from .common import dtype_of
from .resize_taps import ResizeMode

op = relax.op
_F64 = "float64"
_FLOAT = ("float16", "bfloat16", "float32", "float64")
#: Half-width of each interpolation kernel before antialias stretches it.
_SUPPORT = {"linear": 1.0, "cubic": 2.0}


def _f64(value: Any) -> Any:
    return value.astype(_F64) if not isinstance(value, float) else tirx.const(value, _F64)


def _source(
    spec: ResizeMode, o: Any, length: Any, n_in: Any, scale: Any, window: tuple[Any, Any]
) -> tuple[Any, Any]:
    """Source coordinate (float64) of output position `o`, and the outside-ROI flag (or None)."""
    out, size, n = _f64(o), _f64(length), _f64(n_in)
    one, half, zero = (tirx.const(v, _F64) for v in (1.0, 0.5, 0.0))
    mode = spec.coordinates
    if mode == "align_corners":
        return tirx.Select(length == 1, zero, out * (n - one) / (size - one)), None
    if mode == "asymmetric":
        return out / scale, None
    if mode == "pytorch_half_pixel":
        return tirx.Select(length == 1, zero, (out + half) / scale - half), None
    if mode == "half_pixel":
        return (out + half) / scale - half, None
    if mode == "half_pixel_symmetric":
        offset = n / tirx.const(2.0, _F64) * (one - size / (scale * n))
        return offset + (out + half) / scale - half, None
    if mode == "tf_crop_and_resize":
        start, end = window
        single = (end - start) * (n - one) / tirx.const(2.0, _F64)
        source = tirx.Select(length == 1, single, out * (end - start) * (n - one) / (size - one))
        source = source + start * (n - one)
        return source, tirx.Or(source < zero, source > n - one)
    raise UnsupportedModelError(f"Resize: unsupported coordinate_transformation_mode '{mode}'")


def _clamp(index: Any, n_in: Any) -> Any:
    return tirx.max(tirx.min(index, n_in - 1), tirx.const(0, "int64"))


def _nearest_index(s: Any, rounding: str) -> Any:
    """The input index nearest coordinate `s` (before clamping), by `nearest_mode`."""
    low = tirx.floor(s)
    ratio = s - low
    half = tirx.const(0.5, _F64)
    right = {
        "round_prefer_floor": ratio > half,
        "round_prefer_ceil": ratio >= half,
        "floor": tirx.const(False, "bool"),
        "ceil": tirx.const(True, "bool"),
    }
    if rounding not in right:
        raise UnsupportedModelError(f"Resize: unsupported nearest_mode '{rounding}'")
    step = tirx.Select(right[rounding], tirx.const(1, "int64"), tirx.const(0, "int64"))
    # An integer coordinate reads itself whatever the rounding.
    return tirx.Select(s == low, s.astype("int64"), low.astype("int64") + step)


def _cubic(d: Any, a: float) -> Any:
    """Keys' cubic convolution kernel at distance `d` (float64), parameter `a`."""
    d = tirx.abs(d)
    a_ = tirx.const(a, _F64)
    inner = ((a_ + 2.0) * d - (a_ + 3.0)) * d * d + 1.0
    outer = ((a_ * d - 5.0 * a_) * d + 8.0 * a_) * d - 4.0 * a_
    zero = tirx.const(0.0, _F64)
    return tirx.Select(d <= 1.0, inner, tirx.Select(d < 2.0, outer, zero))


def _weight(spec: ResizeMode, d: Any, stretch: Any) -> Any:
    """The kernel's weight for a tap at distance `d` from the source coordinate."""
    if spec.mode == "linear":
        return tirx.max(tirx.const(1.0, _F64) - tirx.abs(d * stretch), tirx.const(0.0, _F64))
    return _cubic(d * stretch, spec.cubic_a)


def _weights(spec: ResizeMode, raw: te.Tensor, work: str) -> te.Tensor:
    """The weight table in the working type; normalised where ONNX says so."""
    length, taps = raw.shape
    if not (spec.antialias or spec.exclude_outside):
        return te.compute(raw.shape, lambda o, t: raw[o, t].astype(work), name="resize_weight")
    r = te.reduce_axis((0, taps), "r")
    total = te.compute((length,), lambda o: te.sum(raw[o, r], axis=r), name="resize_total")

    def normalised(o: Any, t: Any) -> Any:
        safe = tirx.Select(total[o] == 0.0, tirx.const(1.0, _F64), total[o])
        return (raw[o, t] / safe).astype(work)

    return te.compute(raw.shape, normalised, name="resize_weight")


def _table_kernel(
    spec: ResizeMode, slot: int, window: tuple[int, int], work: str
) -> Callable[..., list[te.Tensor]]:
    """TE compute of one axis's sampling table: index and weight (length, taps), outside (length,).

    `slot` indexes the axis's scale and `window` its roi (start, end). The table is a kernel
    of its own, so each entry is computed once, not once per element it weighs.
    """

    def compute(
        scales: te.Tensor, roi: te.Tensor, length: Any, n_in: Any, *taps_var: Any
    ) -> list[Any]:
        scale = scales[slot]
        bounds = (roi[window[0]], roi[window[1]])

        def source(o: Any) -> tuple[Any, Any]:
            return _source(spec, o, length, n_in, scale, bounds)

        def flag(o: Any) -> Any:
            outside = source(o)[1]
            return tirx.const(False, "bool") if outside is None else outside

        outside = te.compute((length,), flag, name="resize_outside")
        if spec.mode == "nearest":

            def pick(o: Any, t: Any) -> Any:
                return _clamp(_nearest_index(source(o)[0], spec.nearest_mode), n_in)

            index = te.compute((length, 1), pick, name="resize_index")
            weight = te.compute((length, 1), lambda o, t: tirx.const(1, work), name="resize_weight")
            return [index, weight, outside]
        taps = taps_var[0] if taps_var else int(2 * _SUPPORT[spec.mode])
        tap = _tap(spec, source, n_in, scales[slot], taps)
        index = te.compute(
            (length, taps), lambda o, t: _clamp(tap(o, t)[0], n_in), name="resize_index"
        )
        raw = te.compute((length, taps), lambda o, t: tap(o, t)[1], name="resize_raw")
        return [index, _weights(spec, raw, work), outside]

    return compute


def _apply_kernel(spec: ResizeMode, axis: int, fill: float) -> Callable[..., te.Tensor]:
    """TE compute resampling `x` along `axis` with an axis table (`_table_kernel`)."""

    def compute(x: te.Tensor, index: te.Tensor, weight: te.Tensor, outside: te.Tensor) -> Any:
        length, taps = index.shape
        shape = [*x.shape[:axis], length, *x.shape[axis + 1 :]]

        def at(i: tuple[Any, ...], source_index: Any) -> Any:
            return x[(*i[:axis], source_index, *i[axis + 1 :])]

        if isinstance(taps, tirx.IntImm):
            # A fixed tap count is unrolled: an elementwise kernel, which the default schedule
            # vectorizes along the innermost axis.
            def blend(*i: Any) -> Any:
                if spec.mode == "nearest":  # any dtype: a copy, no arithmetic
                    return at(i, index[i[axis], 0])
                terms = [weight[i[axis], t] * at(i, index[i[axis], t]) for t in range(int(taps))]
                return sum(terms[1:], terms[0])

        else:

            def blend(*i: Any) -> Any:
                k = te.reduce_axis((0, taps), "k")
                return te.sum(weight[i[axis], k] * at(i, index[i[axis], k]), axis=k)

        out = te.compute(shape, blend, name=f"resize_{spec.mode}")
        if spec.coordinates != "tf_crop_and_resize":
            return out
        value = tirx.const(fill, x.dtype)

        def crop(*i: Any) -> Any:
            return tirx.Select(outside[i[axis]], value, out[i])

        return te.compute(shape, crop, name="resize_crop")

    return compute


def _tap(
    spec: ResizeMode, source: Callable[[Any], tuple[Any, Any]], n_in: Any, scale: Any, taps: Any
) -> Callable[[Any, Any], tuple[Any, Any]]:
    """(o, t) -> input index (before clamping) and raw float64 weight of tap `t` of output `o`."""
    one = tirx.const(1.0, _F64)
    stretch = tirx.min(scale, one) if spec.antialias else one

    def tap(o: Any, t: Any) -> tuple[Any, Any]:
        s, _ = source(o)
        # The taps sit around the input strictly left of s (an integer s is the right one of
        # its pair, weight 1), as ONNX's neighbour choice does.
        left = tirx.ceil(s).astype("int64") - 1
        index = left - taps // 2 + 1 + t
        weight = _weight(spec, s - _f64(index), stretch)
        if spec.exclude_outside:
            inside = tirx.And(index >= 0, index < n_in)
            weight = tirx.Select(inside, weight, tirx.const(0.0, _F64))
        return index, weight

    return tap


def _in_lengths(x: Any, axes: list[int]) -> Any:
    """The input's lengths along `axes` as a float64 [k] tensor (symbolic ones at run time)."""
    dims = [x.ty.shape.values[a] for a in axes]
    if all(isinstance(d, tirx.IntImm) for d in dims):
        return relax.const(np.array([int(d) for d in dims], _F64), _F64)
    return op.astype(op.shape_to_tensor(relax.ShapeExpr(dims)), _F64)


def _plan(
    bb: Any, x: Any, axes: list[int], scales: Any, sizes: Any, policy: str
) -> tuple[Any, Any]:
    """Per resized axis: the float64 scales tensor and the int64 output lengths tensor."""
    count = len(axes)
    n_in = bb.emit(_in_lengths(x, axes))
    if scales is not None:
        factors = bb.emit(op.reshape(bb.emit(op.astype(scales, _F64)), [count]))
        lengths = op.astype(op.floor(op.multiply(n_in, factors)), "int64")
        return factors, bb.emit(lengths)
    wanted = bb.emit(op.reshape(bb.emit(op.astype(sizes, "int64")), [count]))
    factors = bb.emit(op.divide(op.astype(wanted, _F64), n_in))
    if policy == "stretch":
        return factors, wanted
    common = op.min(factors) if policy == "not_larger" else op.max(factors)
    factors = bb.emit(op.multiply(op.ones_like(factors), common))
    rounded = op.floor(op.add(op.multiply(factors, n_in), relax.const(0.5, _F64)))
    return factors, bb.emit(op.astype(rounded, "int64"))


def _tap_counts(bb: Any, factors: Any, count: int, support: float) -> list[Any]:
    """Antialias: per axis `2 * ceil(support / min(scale, 1))` taps, as symbolic extents."""
    stretch = op.minimum(factors, relax.const(1.0, _F64))
    taps = op.multiply(
        op.ceil(op.divide(relax.const(support, _F64), stretch)), relax.const(2.0, _F64)
    )
    taps = bb.emit(op.astype(taps, "int64"))
    return list(onnx_frontend._tensor_to_shape_expr(bb, taps, count, "resize_taps").values)


def _roi(
    bb: Any, roi: Any, axes: list[int], rank: int
) -> tuple[Any, Callable[[int], tuple[int, int]]]:
    """The roi as a float64 vector, and where each resized axis's (start, end) sit in it."""
    if roi is None:
        return relax.const(np.array([0.0, 1.0]), _F64), lambda i: (0, 1)
    flat = bb.emit(op.reshape(bb.emit(op.astype(roi, _F64)), [-1]))
    count = int(flat.ty.shape.values[0]) // 2
    if count == len(axes):
        return flat, lambda i: (i, count + i)
    return flat, lambda i: (axes[i], rank + axes[i])


def resize_run_time(
    bb: Any,
    x: Any,
    spec: ResizeMode,
    axes: list[int],
    operands: tuple[Any, Any, Any],
    policy: str,
    extrapolation: float,
) -> Any:
    """`x` resized along `axes`; `operands` = (scales, sizes, roi), exactly one of the first two.

    Each may be a constant or a run-time tensor; roi is read only by tf_crop_and_resize.
    """
    scales, sizes, roi = operands
    dtype = dtype_of(x)
    if spec.mode != "nearest" and dtype not in _FLOAT:
        raise UnsupportedModelError(
            f"Resize: {spec.mode} resize of {dtype} data with run-time scales or sizes is not "
            "supported; bind them with --bind"
        )
    count, rank = len(axes), len(x.ty.shape.values)
    factors, lengths = _plan(bb, x, axes, scales, sizes, policy)
    extents = onnx_frontend._tensor_to_shape_expr(bb, lengths, count, "resized").values
    taps: list[Any] = []
    if spec.antialias and spec.mode != "nearest":
        taps = _tap_counts(bb, factors, count, _SUPPORT[spec.mode])
    crop = spec.coordinates == "tf_crop_and_resize"
    roi_vector, window = _roi(bb, roi if crop else None, axes, rank)
    work = dtype if spec.mode == "nearest" or dtype == "float64" else "float32"
    y = x if work == dtype else bb.emit(op.astype(x, work))
    for i, axis in enumerate(axes):
        n_in = y.ty.shape.values[axis]
        table = _table_kernel(spec, i, window(i) if crop else (0, 1), work)
        extra = [taps[i]] if taps else []
        # The input's length is passed too: in the table it appears in no tensor's shape.
        tables = bb.emit_te(table, factors, roi_vector, extents[i], n_in, *extra)
        parts = [bb.emit(relax.TupleGetItem(tables, j)) for j in range(3)]
        y = bb.emit_te(_apply_kernel(spec, axis, extrapolation), y, *parts)
    return y if work == dtype else op.astype(y, dtype)

"""Helpers the converters share: static shapes, constants, slicing and activations."""

from __future__ import annotations

from typing import Any

from tvm import relax, tirx

from ember.errors import UnsupportedModelError


def static_shape(expr: Any, what: str) -> list[int]:
    """The shape of `expr` as ints; an error naming `what` if a dimension is symbolic."""
    shape = getattr(expr.ty, "shape", None)
    values = getattr(shape, "values", None)
    if values is None or not all(isinstance(v, tirx.IntImm) for v in values):
        raise UnsupportedModelError(f"{what} needs a static shape, got {shape}")
    return [int(v.value) for v in values]


def static_shape_dim(expr: Any, axis: int, what: str) -> int:
    """Dimension `axis` of `expr` as an int; an error naming `what` if it is symbolic."""
    values = getattr(getattr(expr.ty, "shape", None), "values", None)
    if values is None or not isinstance(values[axis], tirx.IntImm):
        raise UnsupportedModelError(f"{what} must be static")
    return int(values[axis].value)


def symbolic_values(bb: Any, values: Any, count: int, prefix: str) -> list[Any]:
    """The `count` values of a run-time numeric tensor as symbolic int64 dimensions.

    They are matched from the tensor's value when the model runs, so kernels can use them as
    extents (`prefix_0`, `prefix_1`, ...). A scalar counts as one value.
    """
    from tvm.relax.frontend.onnx import onnx_frontend

    # Each step emitted: TVM normalizes a reshape's input, and an unemitted one has no type.
    as_int = bb.emit(relax.op.reshape(bb.emit(relax.op.astype(values, "int64")), [count]))
    return list(onnx_frontend._tensor_to_shape_expr(bb, as_int, count, prefix).values)


def dtype_of(expr: Any) -> str:
    """Element dtype of a tensor expression."""
    return str(expr.ty.dtype)


def const(value: float | int, dtype: str) -> relax.Constant:
    """A scalar constant of `dtype`."""
    return relax.const(value, dtype)


def take(bb: Any, data: Any, index: int, axis: int) -> Any:
    """`data[..., index, ...]` along `axis`, with that axis removed."""
    part = bb.emit(relax.op.strided_slice(data, [axis], [index], [index + 1]))
    return bb.emit(relax.op.squeeze(part, [axis]))


def split(bb: Any, data: Any, parts: int, axis: int) -> list[Any]:
    """`data` split into `parts` equal pieces along `axis`."""
    pieces = bb.emit(relax.op.split(data, parts, axis))
    return [bb.emit(relax.TupleGetItem(pieces, i)) for i in range(parts)]


def text(value: Any) -> str:
    """An attribute string (bytes in the importer's attribute dict) as text."""
    return value.decode() if isinstance(value, bytes) else str(value)


def constant_values(expr: Any, what: str) -> Any:
    """The numpy value of a constant input.

    An error naming `what` if it is computed at run time (binding the graph input with
    `--bind` makes it a constant).
    """
    from tvm.ir import GenericConst

    if not isinstance(expr, GenericConst):
        raise UnsupportedModelError(f"{what} must be a constant (bind it with --bind)")
    return expr.value.numpy()

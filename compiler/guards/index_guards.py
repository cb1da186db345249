"""Bounds checks for the run-time indices of gathers and scatters.

TVM compiles `take`, `gather_elements`, `gather_nd`, `scatter_elements` and `scatter_nd`
without a bounds check (constant indices are checked at import, `frontend.checks`). Before each
such call the indices get a guard: min and max reductions (one small fused kernel each, over
the indices only, not the data) and `ember.guard.indices(indices, min, max, shape_of(data),
axes, allow_negative, what)`, which returns `indices` (data dependence orders it before the
gather) or raises a one-line `InputError` with the offending index, axis and extent. The
extents come from the data's run-time shape, so unknown shapes are checked too.

ONNX allows negative indices; TVM's importer wraps them (`where(i < 0, i + extent, i)`) before
the call. Where it did, the guard checks the indices as given ([-extent, extent)) and the wrap
is rebuilt after it, so the error quotes the user's index.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeGuard

import tvm
from tvm import relax

GUARD_INDICES = "ember.guard.indices"


@dataclass(frozen=True)
class _Site:
    name: str  # the ONNX operator, for the message
    index_arg: int
    slots: bool  # indices[..., j] indexes an axis each (the ND ops)
    negative: bool  # the kernel itself wraps negative indices


_SITES = {
    "relax.take": _Site("Gather", 1, False, False),
    "relax.gather_elements": _Site("GatherElements", 1, False, False),
    "relax.gather_nd": _Site("GatherND", 1, True, False),
    "relax.scatter_elements": _Site("ScatterElements", 1, False, True),
    "relax.scatter_nd": _Site("ScatterND", 1, True, False),
}

Lookup = Callable[[relax.Var], relax.Expr | None]


def guard_indices(
    bb: relax.BlockBuilder, call: relax.Call, args: list[relax.Expr], lookup: Lookup
) -> list[relax.Expr]:
    """`args` with the call's indices replaced by guarded ones (unchanged for other ops)."""
    site = _SITES.get(call.op.name)
    if site is None or (call.op.name == "relax.take" and str(call.attrs.mode) != "fast"):
        return args
    indices = args[site.index_arg]
    axes = _axes(call, indices, site)
    if axes is None or not isinstance(indices.ty, relax.TensorType):
        return args
    raw, extent = _unwrapped(indices, lookup)
    if _statically_in_range(raw, args[0], axes, negative=site.negative or extent is not None):
        return args
    checked = _guard(bb, raw, args[0], axes, site, negative=site.negative or extent is not None)
    if extent is not None:  # rebuild the wrap of negative indices after the check
        zero = relax.const(0, raw.ty.dtype)
        checked = bb.emit(
            relax.op.where(relax.op.less(checked, zero), relax.op.add(checked, extent), checked)
        )
    out = list(args)
    out[site.index_arg] = checked
    return out


def _axes(call: relax.Call, indices: relax.Expr, site: _Site) -> list[int] | None:
    """The data axis each index slot addresses (None: not checked, a documented limit)."""
    rank = call.args[0].ty.ndim
    if rank < 0:
        return None
    if not site.slots:
        axis = getattr(call.attrs, "axis", None)
        return None if axis is None else [int(axis) % max(rank, 1)]
    shape = getattr(getattr(indices.ty, "shape", None), "values", None)
    if not shape or not isinstance(shape[-1], tvm.tirx.IntImm):
        return None  # a symbolic slot count
    first = int(getattr(call.attrs, "batch_dims", 0) or 0)
    return [first + j for j in range(int(shape[-1].value))]


def _unwrapped(indices: relax.Expr, lookup: Lookup) -> tuple[relax.Expr, relax.Expr | None]:
    """(raw indices, extent) when `indices` is the importer's `where(i < 0, i + e, i)`."""
    value = lookup(indices) if isinstance(indices, relax.Var) else None
    if not _is_call(value, "relax.where"):
        return indices, None
    cond, wrapped, raw = value.args
    cond_v = lookup(cond) if isinstance(cond, relax.Var) else cond
    wrap_v = lookup(wrapped) if isinstance(wrapped, relax.Var) else wrapped
    if not (_is_call(cond_v, "relax.less") and _is_call(wrap_v, "relax.add")):
        return indices, None
    if not (cond_v.args[0].same_as(raw) and wrap_v.args[0].same_as(raw)):
        return indices, None
    return raw, wrap_v.args[1]


def _statically_in_range(
    indices: relax.Expr, data: relax.Expr, axes: list[int], negative: bool
) -> bool:
    """Constant indices inside constant extents need no run-time check."""
    if not isinstance(indices, tvm.ir.GenericConst):
        return False
    shape = getattr(getattr(data.ty, "shape", None), "values", None)
    if shape is None or not all(isinstance(shape[a], tvm.tirx.IntImm) for a in axes):
        return False
    values = indices.value.numpy()
    if values.size == 0:
        return True
    slots = values.reshape(-1, len(axes)) if len(axes) > 1 else values.reshape(-1, 1)
    for j, axis in enumerate(axes):
        extent = int(shape[axis].value)
        low = -extent if negative else 0
        if slots[:, j].min() < low or slots[:, j].max() >= extent:
            return False
    return True


def _is_call(expr: relax.Expr | None, name: str) -> TypeGuard[relax.Call]:
    return isinstance(expr, relax.Call) and isinstance(expr.op, tvm.ir.Op) and expr.op.name == name


def _guard(
    bb: relax.BlockBuilder,
    indices: relax.Expr,
    data: relax.Expr,
    axes: list[int],
    site: _Site,
    negative: bool,
) -> relax.Expr:
    ndim = indices.ty.ndim
    reduce = list(range(ndim - 1)) if site.slots else None
    if site.slots and ndim == 1:
        low, high = indices, indices
    else:
        low = bb.emit(relax.op.min(indices, axis=reduce))
        high = bb.emit(relax.op.max(indices, axis=reduce))
    what = site.name
    if isinstance(indices, relax.Var) and not isinstance(indices, relax.DataflowVar):
        what += f" (indices from input '{indices.name}')"
    return bb.emit(
        relax.op.call_pure_packed(
            GUARD_INDICES,
            indices,
            low,
            high,
            bb.emit(relax.op.shape_of(data)),
            relax.ShapeExpr(axes),
            relax.prim_value(int(negative)),
            tvm.ir.StringImm(what),
            ty_args=indices.ty,
        )
    )

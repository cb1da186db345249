"""Give every unscheduled CPU kernel a parallel loop nest.

Precondition: the module is legalized and fused (each PrimFunc is a list of root-level loop
nests, one per block, as TE legalization emits them). For each block the leading spatial
loops are fused and run in parallel on TVM's thread pool, and an elementwise innermost loop
is vectorized; row reductions such as softmax instead get one parallel row loop with
vectorized partial results (`row_reduction_schedule`), and reductions over outer axes
(a channels-last global pool) vectorize along the kept innermost axis
(`column_reduction_schedule`), and an elementwise kernel that transposes is tiled so that
its strided reads stay in cache (`transpose_tile_schedule`). Without this, LegalizeOps' loops run
on one core. Kernels that already carry `tirx.is_scheduled` (from a tuning record) are left
alone.
"""

from __future__ import annotations

import contextlib
from typing import Any

import tvm
from tvm import s_tir, tirx

from .column_reduction_schedule import schedule_column_reduction
from .row_reduction_schedule import schedule_row_reductions
from .transpose_tile_schedule import tile_transpose

_DATA_PAR = 0
_VECTOR_LANES = 8
#: An innermost loop up to this long is vectorized whole (LLVM splits it into native vectors).
#: Split into 8-lane pieces instead, a short row (24 or 96 channels: 3 or 12 x 8) let LLVM
#: vectorize the loops around it again, with gathers and scatters: MobileNetV2 int8's
#: quantized residual adds ran 3-6x slower than the same kernels vectorized whole (AMD Zen 4).
_WHOLE_VECTOR_MAX = 128
#: Which default schedule this is. Tuning stores measure each kernel's default as a candidate
#: and list it under this number (`tuning.default_candidates`); raise it whenever
#: `default_schedule` produces something else, so stores measure the new default again.
DEFAULT_SCHEDULE_VERSION = 5


@tvm.transform.module_pass(opt_level=0, name="EmberCPUDefaultSchedule")
def cpu_default_schedule(mod: tvm.IRModule, _ctx: Any) -> tvm.IRModule:
    """Schedule each unscheduled PrimFunc of `mod` (see the module docstring)."""
    updates = {}
    for gvar, func in mod.functions.items():
        if isinstance(func, tirx.PrimFunc) and not _is_scheduled(func):
            updates[gvar] = _schedule(func)
    for gvar, func in updates.items():
        mod[gvar] = func
    return mod


def _is_scheduled(func: tirx.PrimFunc) -> bool:
    return bool(func.attrs and func.attrs.get("tirx.is_scheduled", False))


def _schedule(func: tirx.PrimFunc) -> tirx.PrimFunc:
    sch = default_schedule(func)
    if sch is None:
        return func
    return sch.mod["main"].with_attr("tirx.is_scheduled", True)


def default_schedule(func: tirx.PrimFunc) -> s_tir.Schedule | None:
    """The default schedule of `func` as a traced schedule of module {"main": func}.

    None for hand-written TIR kernels (scatter, unpooling, ...): loops without blocks, which
    nothing here applies to and which compile as they are. The trace replays the schedule,
    so the tuner can measure it as a candidate (`tuning.default_candidates`).
    """
    sch = s_tir.Schedule(tvm.IRModule({"main": func}))
    if not _has_root_block(sch):
        return None
    _inline_producers(sch)
    rows = schedule_row_reductions(sch)
    if rows is not None:
        return rows
    for block in sch.get_child_blocks(sch.get_sblock("root")):
        if not schedule_column_reduction(sch, block):
            _parallelize(sch, block)
    return sch


def _has_root_block(sch: s_tir.Schedule) -> bool:
    try:
        sch.get_sblock("root")
    except s_tir.schedule.ScheduleError:
        return False
    return True


def _inline_producers(sch: s_tir.Schedule) -> None:
    """Compute elementwise intermediates where they are used instead of storing them.

    A fused kernel such as add+divide+erf+add+multiply (GELU) otherwise writes and rereads a
    full-size buffer per operator. TVM refuses blocks that cannot be inlined (reductions,
    outputs, non-injective reads); those stay as they are. A kernel with opaque blocks
    (hand-written IR that declares no reads or writes, as NonMaxSuppression's) is left
    whole: TVM cannot see those blocks use a buffer, and would inline its producer anyway.
    """
    blocks = sch.get_child_blocks(sch.get_sblock("root"))
    if any(not sch.get(b).reads and not sch.get(b).writes for b in blocks):
        return
    outputs = {sch.get(b).name_hint for b in sch.get_output_blocks(sch.get_sblock("root"))}
    for block in blocks:
        if sch.get(block).name_hint in outputs:
            continue
        with contextlib.suppress(s_tir.schedule.ScheduleError):
            sch.compute_inline(block)


def _parallelize(sch: s_tir.Schedule, block: Any) -> None:
    loops = sch.get_loops(block)
    if any(_is_empty(sch, loop) for loop in loops):
        return  # a zero-extent nest does no work (and fusing it would divide by zero)
    iter_vars = sch.get(block).iter_vars
    spatial = leading_spatial_loops(sch, loops, iter_vars)
    if not spatial or _has_empty_loop(sch, loops):
        return  # an empty tensor's kernel runs no iteration (fusing its loops divides by 0)
    elementwise = len(spatial) == len(loops) == len(iter_vars)
    if elementwise and tile_transpose(sch, block, loops):
        return
    inner = spatial[-1] if elementwise and len(spatial) > 1 else None
    outer = spatial[:-1] if inner is not None else spatial
    sch.parallel(sch.fuse(*outer) if len(outer) > 1 else outer[0])
    if inner is not None:
        _vectorize(sch, inner)


def _has_empty_loop(sch: s_tir.Schedule, loops: list) -> bool:
    extents = [sch.get(loop).extent for loop in loops]
    return any(isinstance(e, tirx.IntImm) and e.value == 0 for e in extents)


def leading_spatial_loops(sch: s_tir.Schedule, loops: list, iter_vars: list) -> list:
    """Loops bound one to one to the block's leading data-parallel iterators."""
    if not loops:
        return []
    realize = sch.get(loops[-1]).body
    if not isinstance(realize, s_tir.SBlockRealize):
        return []
    spatial = []
    for loop, iv, value in zip(loops, iter_vars, realize.iter_values, strict=False):
        if iv.iter_type != _DATA_PAR or not value.same_as(sch.get(loop).loop_var):
            break
        spatial.append(loop)
    return spatial


def _is_empty(sch: s_tir.Schedule, loop: Any) -> bool:
    extent = sch.get(loop).extent
    return isinstance(extent, tirx.IntImm) and extent.value == 0


def _vectorize(sch: s_tir.Schedule, loop: Any) -> None:
    extent = sch.get(loop).extent
    if not isinstance(extent, tirx.IntImm) or extent.value < _VECTOR_LANES:
        return
    if extent.value <= _WHOLE_VECTOR_MAX:
        sch.vectorize(loop)
    elif extent.value % _VECTOR_LANES == 0:
        _, lanes = sch.split(loop, [None, _VECTOR_LANES])
        sch.vectorize(lanes)

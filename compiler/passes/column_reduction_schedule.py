"""The default schedule of reductions over outer axes that keep the innermost axis.

Examples: a channels-last global pool (`mean` over H and W of NHWC), a sum over the batch.

LegalizeOps writes such a reduction as spatial loops over the kept axes outside the reduced
ones: each output element then walks the input with a stride of a whole row (a channel every
C floats), one scalar at a time, and EfficientNet's squeeze-and-excitation pools spent more
time there than in its convolutions. Here the kept innermost axis is split into vector-wide
chunks; the reduced loops go inside the chunk loop and the chunk's lanes innermost, so each
step adds one contiguous vector of the input row, and chunks run in parallel.

Only a block whose iterators are its loops in order (kept axes, then reduced axes), whose
innermost kept axis indexes the last dimension of what it reads, and whose extents are
constant is taken; anything else is left to the generic default.
"""

from __future__ import annotations

from typing import Any

from tvm import s_tir, tirx

_SPATIAL, _REDUCE = 0, 2
_LANES = (16, 8, 4)


def schedule_column_reduction(sch: s_tir.Schedule, block: Any) -> bool:
    """Schedule `block` as above if it is such a reduction; whether it was."""
    lanes = _lanes(sch, block)
    if lanes is None:
        return False
    trial = sch.copy()
    try:
        _apply(trial, trial.get_sblock(sch.get(block).name_hint), lanes)
    except s_tir.schedule.ScheduleError:
        return False
    _apply(sch, block, lanes)
    return True


def _lanes(sch: s_tir.Schedule, block: Any) -> int | None:
    """The vector width for `block`, or None when it is not a column reduction."""
    loops = sch.get_loops(block)
    iter_vars = sch.get(block).iter_vars
    if len(loops) != len(iter_vars) or len(loops) < 2:
        return None
    kinds = [iv.iter_type for iv in iter_vars]
    first_reduce = next((i for i, k in enumerate(kinds) if k == _REDUCE), None)
    if first_reduce is None or first_reduce == 0:
        return None
    if any(k != _SPATIAL for k in kinds[:first_reduce]) or any(
        k != _REDUCE for k in kinds[first_reduce:]
    ):
        return None
    realize = sch.get(loops[-1]).body
    if not isinstance(realize, s_tir.SBlockRealize):
        return None
    values = zip(loops, realize.iter_values, strict=True)
    if not all(v.same_as(sch.get(lp).loop_var) for lp, v in values):
        return None
    extents = [sch.get(lp).extent for lp in loops]
    if not all(isinstance(e, tirx.IntImm) and e.value > 0 for e in extents):
        return None
    inner = iter_vars[first_reduce - 1].var
    if not _indexes_last_dimension(sch, block, inner):
        return None
    width = int(extents[first_reduce - 1].value)
    # Prefer a width that leaves at least two chunks to run in parallel.
    fitting = [n for n in _LANES if width % n == 0]
    return next((n for n in fitting if width // n >= 2), fitting[0] if fitting else None)


def _indexes_last_dimension(sch: s_tir.Schedule, block: Any, var: tirx.Var) -> bool:
    """Whether every read of `block` has `var` as its last index, and at least one does.

    Scalars and buffers whose last dimension is 1 (broadcast along it) do not count.
    """
    indexed = False
    for read in sch.get(block).reads:
        if len(read.region) == 0 or _is_one(read.source.shape[-1]):
            continue
        last = read.region[-1].min
        if not (isinstance(last, tirx.Var) and last.same_as(var)):
            return False
        indexed = True
    return indexed


def _is_one(extent: Any) -> bool:
    return isinstance(extent, tirx.IntImm) and extent.value == 1


def _apply(sch: s_tir.Schedule, block: Any, lanes: int) -> None:
    loops = sch.get_loops(block)
    kinds = [iv.iter_type for iv in sch.get(block).iter_vars]
    first_reduce = kinds.index(_REDUCE)
    *outer, kept = loops[:first_reduce]
    reduced = loops[first_reduce:]
    chunk, lane = sch.split(kept, [None, lanes])
    sch.reorder(*outer, chunk, *reduced, lane)
    parallel = sch.fuse(*outer, chunk) if outer else chunk
    sch.parallel(parallel)
    # The lanes vectorize while the block still holds its init (TVM refuses afterwards);
    # the init then moves out of the reduced loops, into its own vector loop.
    sch.vectorize(lane)
    init = sch.decompose_reduction(block, reduced[0])
    sch.vectorize(sch.get_loops(init)[-1])

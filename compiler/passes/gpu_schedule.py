"""Give every GPU kernel a schedule that binds its loops to CUDA blocks and threads.

Precondition: the module is legalized and fused, and the pass runs under a CUDA target. Each
unscheduled PrimFunc gets the first of TVM's dlight rules (matmul, GEMV, reductions, TVM's
fallback) whose result lowers; a rule that raises, declines, or leaves a loop unbound ("Did
you forget to bind?") is skipped. A kernel no rule serves gets Ember's fallback: in each block
the leading spatial loops are fused and split over `blockIdx.x` / `threadIdx.x`, and the
remaining (reduction) loops run inside each thread; a block with no spatial loop runs on one
thread. Slow but always valid, so every model compiles; tuning records replace it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import tvm
from tvm import s_tir, tirx
from tvm.s_tir import dlight

from ember.errors import CompileError

from .cpu_default_schedule import leading_spatial_loops

_THREADS = 256
Rule = Any  # dlight.ScheduleRule


def default_rules() -> list[Rule]:
    """TVM's default GPU rules, in the order `tvm.compile` tries them."""
    gpu = dlight.gpu
    return [gpu.Matmul(), gpu.GEMV(), gpu.Reduction(), gpu.GeneralReduction(), gpu.Fallback()]


def gpu_schedule(rules: Callable[[], Sequence[Rule]] | None = None) -> tvm.transform.Pass:
    """The pass: schedule each unscheduled kernel (see the module docstring).

    `rules` returns the dlight rules to try; by default `default_rules` (looked up when the
    pass runs, so tests can replace it to force the fallback).
    """

    @tvm.transform.module_pass(opt_level=0, name="EmberGPUSchedule")
    def schedule(mod: tvm.IRModule, _ctx: Any) -> tvm.IRModule:
        target = tvm.target.Target.current(allow_none=False)
        updates = {}
        for gvar, func in mod.functions.items():
            if isinstance(func, tirx.PrimFunc) and not _is_scheduled(func):
                tried = rules() if rules is not None else default_rules()
                scheduled = schedule_kernel(func, target, tried, gvar.name_hint)
                updates[gvar] = scheduled.with_attr("tirx.is_scheduled", True)
        for gvar, func in updates.items():
            mod[gvar] = func
        return mod

    return schedule


def schedule_kernel(
    func: tirx.PrimFunc, target: Any, rules: Sequence[Rule], name: str = "main"
) -> tirx.PrimFunc:
    """The first valid schedule of `func`: a dlight rule's, else Ember's fallback."""
    for rule in rules:
        try:
            space = rule.apply(func, target, False)
            candidate = _first(space)
        except Exception:  # a rule that crashes on this kernel is skipped, like one that declines
            continue
        if candidate is not None and lowers(candidate, target):
            return candidate
    candidate = fallback_schedule(func)
    if not lowers(candidate, target):
        raise CompileError(f"kernel '{name}': no GPU schedule lowers (even the fallback)")
    return candidate


def _first(space: Any) -> tirx.PrimFunc | None:
    if space is None:
        return None
    sch = space[0] if isinstance(space, list) else space
    return sch.mod["main"] if sch is not None else None


def lowers(func: tirx.PrimFunc, target: Any) -> bool:
    """Whether every block of `func` runs on GPU threads and TVM's lowering accepts it.

    An unbound block would make TVM either fail ("Did you forget to bind?") or, worse,
    silently compile it as host code; so binding is checked here, not left to the build.
    """
    if not all_blocks_bound(func):
        return False
    mod = tvm.IRModule(
        {"main": func.with_attr("target", target).with_attr("global_symbol", "main")}
    )
    pipeline = tvm.tirx.get_default_tir_pipeline(target)[0]
    try:
        with target:
            pipeline(mod)
    except Exception:  # VerifyMemory and friends raise TVMError subclasses
        return False
    return True


def all_blocks_bound(func: tirx.PrimFunc) -> bool:
    """Whether each block sits under a loop bound to a GPU thread axis (or in such a block)."""
    sch = s_tir.Schedule(tvm.IRModule({"main": func}))

    def bound(block: Any, inherited: bool) -> bool:
        here = inherited or any(
            sch.get(loop).kind == tirx.ForKind.THREAD_BINDING for loop in sch.get_loops(block)
        )
        children = sch.get_child_blocks(block)
        if not children:
            return here
        return all(bound(child, here) for child in children)

    root = sch.get_sblock("root")
    return all(bound(child, False) for child in sch.get_child_blocks(root))


def fallback_schedule(func: tirx.PrimFunc) -> tirx.PrimFunc:
    """Bind every block's fused spatial loops to blocks x threads (see the module docstring)."""
    sch = s_tir.Schedule(tvm.IRModule({"main": func}))
    for block in sch.get_child_blocks(sch.get_sblock("root")):
        _bind_block(sch, block)
    return sch.mod["main"]


def _bind_block(sch: s_tir.Schedule, block: Any) -> None:
    loops = sch.get_loops(block)
    spatial = leading_spatial_loops(sch, loops, sch.get(block).iter_vars)
    if spatial:
        fused = sch.fuse(*spatial) if len(spatial) > 1 else spatial[0]
        outer, inner = sch.split(fused, [None, _THREADS])
    else:  # a full reduction to a scalar: one thread does it
        inner = sch.add_unit_loop(loops[0] if loops else block)
        outer = sch.add_unit_loop(inner)
    sch.bind(outer, "blockIdx.x")
    sch.bind(inner, "threadIdx.x")


def _is_scheduled(func: tirx.PrimFunc) -> bool:
    return bool(func.attrs and func.attrs.get("tirx.is_scheduled", False))

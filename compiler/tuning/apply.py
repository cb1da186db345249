"""Apply tuning records in a compile: the "tuning" phase, just before "schedule".

Every kernel whose workload has a record gets the record's schedule (MetaSchedule's
`MetaScheduleApplyDatabase`) and is tagged `ember.tuned`, so the count survives to the
manifest; the default schedule then skips it because it carries `tirx.is_scheduled`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..passes.pipeline import count_kernels
from ..target import Target, preset_names, resolve
from . import database, store
from .default_candidates import is_default_record

TUNED_ATTR = "ember.tuned"
#: Also set on a tuned kernel whose best record is its own default schedule (none faster found).
DEFAULT_KEPT_ATTR = "ember.default_kept"


@dataclass
class CompileRecords:
    """What a compile uses: the stores searched, their database, and one line per problem."""

    stores: list[Path]
    loaded: database.LoadedRecords | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def records(self) -> int:
        """Usable records found in the stores."""
        return self.loaded.records if self.loaded else 0


def record_stores(target: Target, user_store: Path | None, shipped: bool) -> list[Path]:
    """The stores a compile reads, user records first, then Ember's shipped ones."""
    stores = [user_store or store.default_store(target.name)]
    if shipped:
        stores += [store.shipped_store(preset.name) for preset in shipped_presets(target)]
    return stores


def shipped_presets(target: Target) -> list[Target]:
    """The presets whose shipped records a compile for `target` applies.

    The target's own, where Ember ships records for it; otherwise, for a CPU target such as
    `x86` (this machine's CPU), every preset of the same architecture whose required ISA
    extensions the target has, those requiring the most first: a record replays the same
    schedule on any CPU that runs the preset's code.
    """
    if store.shipped_store(target.name).is_dir():
        return [target]
    if target.device != "cpu":
        return []
    fitting = []
    for name in preset_names():
        if not store.shipped_store(name).is_dir():
            continue
        preset = resolve(name)
        needs = set(preset.cpu_features)
        if preset.arch == target.arch and needs and needs <= set(target.cpu_features):
            fitting.append(preset)
    return sorted(fitting, key=lambda p: -len(p.cpu_features))


def open_records(stores: list[Path], target: Target) -> CompileRecords:
    """Load every usable record of `stores` for `target`.

    Records in another preset's shipped store are matched against that preset's TVM target
    (they were tuned for it), not `target`'s.
    """
    tuned_for = {store.shipped_store(p.name): p for p in shipped_presets(target)}
    loaded = database.load_stores(stores, target, tuned_for)
    return CompileRecords(stores=stores, loaded=loaded, problems=list(loaded.problems))


def tuning_passes(records: CompileRecords) -> list[Any]:
    """The passes of the "tuning" phase (none when there is no record)."""
    if not records.records or records.loaded is None or records.loaded.database is None:
        return []
    return [_apply_database(records.loaded.database)]


def _apply_database(db: Any) -> Any:
    import tvm
    from tvm import relax, tirx

    @tvm.transform.module_pass(opt_level=0, name="EmberApplyTuningRecords")
    def apply(mod: tvm.IRModule, _ctx: Any) -> tvm.IRModule:
        before = {gv.name_hint for gv, f in mod.functions.items() if _scheduled(f)}
        target = tvm.target.Target.current()
        defaults = {
            gv.name_hint
            for gv, f in mod.functions.items()
            if isinstance(f, tirx.PrimFunc)
            and not _scheduled(f)
            and _default_is_best(db, f, target)
        }
        with db:
            mod = relax.transform.MetaScheduleApplyDatabase(enable_warning=False)(mod)
        for gvar, func in list(mod.functions.items()):
            fresh = gvar.name_hint not in before
            if fresh and isinstance(func, tirx.PrimFunc) and _scheduled(func):
                func = func.with_attr(TUNED_ATTR, True)
                if gvar.name_hint in defaults:
                    func = func.with_attr(DEFAULT_KEPT_ATTR, True)
                mod[gvar] = func
        return mod

    return apply


def _default_is_best(db: Any, func: Any, target: Any) -> bool:
    """Whether the record applied to `func` would be its measured default schedule."""
    from tvm.s_tir.meta_schedule.tune_context import _normalize_mod

    record = db.query_tuning_record(_normalize_mod(func), target, "main")
    return record is not None and is_default_record(record)


def _scheduled(func: Any) -> bool:
    return bool(func.attrs and func.attrs.get("tirx.is_scheduled", False))


def count_tuned(mod: Any, attr: str = TUNED_ATTR) -> int:
    """Kernels of `mod` scheduled from a tuning record (or carrying another of its marks)."""
    return sum(
        1 for f in mod.functions.values() if f.attrs is not None and f.attrs.get(attr, False)
    )


def tuning_summary(mod: Any) -> dict[str, int]:
    """The manifest's `tuning` entry."""
    return {
        "records_used": count_tuned(mod),
        "defaults_kept": count_tuned(mod, DEFAULT_KEPT_ATTR),
        "tasks_total": count_kernels(mod),
    }

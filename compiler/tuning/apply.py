"""Apply tuning records in a compile: the "tuning" phase, just before "schedule".

Every kernel whose workload has a record gets the record's schedule (MetaSchedule's
`MetaScheduleApplyDatabase`) and is tagged `ember.tuned`, so the count survives to the
manifest; the default schedule then skips it because it carries `tirx.is_scheduled`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..target import Target
from . import database, store

TUNED_ATTR = "ember.tuned"


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
        stores.append(store.shipped_store(target.name))
    return stores


def open_records(stores: list[Path], target: Target) -> CompileRecords:
    """Load every usable record of `stores` for `target`."""
    loaded = database.load_stores(stores, target)
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
        with db:
            mod = relax.transform.MetaScheduleApplyDatabase(enable_warning=False)(mod)
        for gvar, func in list(mod.functions.items()):
            fresh = gvar.name_hint not in before
            if fresh and isinstance(func, tirx.PrimFunc) and _scheduled(func):
                mod[gvar] = func.with_attr(TUNED_ATTR, True)
        return mod

    return apply


def _scheduled(func: Any) -> bool:
    return bool(func.attrs and func.attrs.get("tirx.is_scheduled", False))


def count_tuned(mod: Any) -> int:
    """Kernels of `mod` scheduled from a tuning record."""
    return sum(
        1 for f in mod.functions.values() if f.attrs is not None and f.attrs.get(TUNED_ATTR, False)
    )

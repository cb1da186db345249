"""Record stores as TVM MetaSchedule databases: for applying records and for tuning into.

Lines are validated in `store` first, then parsed by TVM one by one, so a line TVM cannot
read costs that line only. The tuner writes through MetaSchedule's `JSONDatabase`, which
appends one line per measured candidate; a store with bad lines is repaired (bad lines moved
aside) before the tuner opens it, because `JSONDatabase` refuses a file it cannot parse.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ember.errors import OptionError

from ..target import Target
from . import store


@dataclass
class LoadedRecords:
    """A TVM database of every usable record of some stores, and the problems met."""

    #: None when no store exists (TVM's MetaSchedule is then never imported).
    database: Any
    records: int = 0
    problems: list[str] = field(default_factory=list)


def tvm_version() -> str:
    """The running TVM's version (stores are stamped with it)."""
    import tvm

    return str(tvm.__version__)


def load_stores(
    paths: list[Path], target: Target, tuned_for: dict[Path, Target] | None = None
) -> LoadedRecords:
    """One database answering from the first store that has a record (user before shipped).

    `tuned_for` names the target a store's records were tuned for where it is not `target`
    (another preset's shipped records that fit it).
    """
    existing = [path for path in paths if path.is_dir()]
    if not existing:  # most compiles: importing MetaSchedule alone costs a second
        return LoadedRecords(None)
    from tvm.s_tir import meta_schedule as ms

    loaded = [_load_one(path, (tuned_for or {}).get(path, target)) for path in existing]
    problems = [p for one in loaded for p in one.problems]
    databases = [one.database for one in loaded if one.records]
    if not databases:
        return LoadedRecords(None, 0, problems)
    union = ms.database.OrderedUnionDatabase(*databases)
    return LoadedRecords(union, sum(one.records for one in loaded), problems)


def _load_one(path: Path, target: Target) -> LoadedRecords:
    from tvm.s_tir import meta_schedule as ms

    database = ms.database.MemoryDatabase()
    other_version = store.version_problem(path, tvm_version())
    if other_version:
        return LoadedRecords(database, 0, [other_version])
    lines = store.read_store(path, store.target_identity(target.tvm))
    problems = [p for p in [store.stamp_problem(path)] if p] + lines.problems
    workloads: dict[int, Any] = {}
    unreadable = 0
    for index, body in lines.records:
        try:
            if index not in workloads:
                # A MemoryDatabase answers only for workloads committed to it.
                parsed = ms.database.Workload.from_json(lines.workloads[index])
                workloads[index] = database.commit_workload(parsed.mod)
            record = ms.database.TuningRecord.from_json(body, workloads[index])
        except Exception:  # TVM rejects a trace or IR it cannot parse: skip that line only
            unreadable += 1
            continue
        database.commit_tuning_record(record)
    if unreadable:
        problems.append(f"records '{path}': {unreadable} record(s) TVM cannot read skipped")
    return LoadedRecords(database, len(lines.records) - unreadable, problems)


def open_for_tuning(path: Path, target: Target) -> tuple[Any, list[str]]:
    """The store as a `JSONDatabase` that appends each measured record; stamps the store.

    Bad lines are moved to ``rejected.jsonl`` beside the store first (one problem line).
    """
    from tvm.s_tir import meta_schedule as ms

    store.ensure_writable(path)
    other = store.other_tvm_version(path, tvm_version())
    if other:  # one store holding two versions' records would be half unusable to each
        raise OptionError(
            f"records '{path}' were tuned with TVM {other}, this is TVM {tvm_version()}: "
            "tune into another --records folder"
        )
    problems = _repair(path)
    store.write_stamp(path, target.name, dict(target.tvm), tvm_version())
    database = ms.database.JSONDatabase(
        path_workload=str(path / store.WORKLOAD_FILE),
        path_tuning_record=str(path / store.RECORD_FILE),
        allow_missing=True,
    )
    return database, problems


def _repair(path: Path) -> list[str]:
    lines = store.read_store(path)
    if not lines.corrupt_lines and not lines.duplicate_workloads:
        return []
    set_aside = lines.corrupt_lines + lines.renamed_lines
    if set_aside:
        with (path / "rejected.jsonl").open("a", encoding="utf-8") as rejected:
            rejected.writelines(line + "\n" for line in set_aside)
    # Rewritten with each workload once: JSONDatabase numbers what it appends by the
    # workloads it keeps, so a repeated one would shift every later record's workload.
    store.write_store(path, lines.workloads, lines.records)
    problems = []
    if lines.corrupt_lines:
        problems.append(
            f"records '{path}': {len(lines.corrupt_lines)} corrupt line(s) moved to rejected.jsonl"
        )
    if lines.renamed_lines:
        problems.append(
            f"records '{path}': {len(lines.renamed_lines)} record(s) of a kernel stored twice "
            "under other names moved to rejected.jsonl"
        )
    return problems

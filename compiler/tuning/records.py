"""Manage record stores (`ember records`): statistics, merge, prune, export.

These work on the JSON lines alone (no TVM), so they are fast and they never drop a line
they do not understand without saying so: corrupt lines are counted in `problems`.
"""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ember.errors import OptionError

from . import store
from .library_race import copy_library_times

Record = tuple[int, list[Any]]


@dataclass
class Combined:
    """Workloads and records gathered from several stores, deduplicated."""

    workloads: list[list[str]] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    #: Workload index per structural hash (the same kernel may be written with other names).
    _index: dict[str, int] = field(default_factory=dict)
    _seen: set[str] = field(default_factory=set)
    #: Records skipped because their kernel is already here under other names.
    renamed: int = 0

    def add(self, lines: store.StoreLines) -> int:
        """Add a store's lines; returns how many records were new."""
        added = 0
        for index, body in lines.records:
            workload = lines.workloads[index]
            key = workload[0]
            if key not in self._index:
                self._index[key] = len(self.workloads)
                self.workloads.append(workload)
            elif self.workloads[self._index[key]][1] != workload[1]:
                # The kernel is here under other names; this record's trace would not
                # replay on it (see store._read_workloads).
                self.renamed += 1
                continue
            text = json.dumps([key, body], sort_keys=True)
            if text not in self._seen:
                self._seen.add(text)
                self.records.append((self._index[key], body))
                added += 1
        self.problems += lines.problems
        return added


def require_store(path: Path) -> Path:
    """`path` if it holds a store, else an OptionError naming it."""
    if not (path / store.RECORD_FILE).is_file():
        raise OptionError(f"records folder '{path}' holds no {store.RECORD_FILE}")
    return path


def stats(path: Path) -> dict[str, Any]:
    """Counts per target, failed measurements, best latency per workload, the stamp."""
    lines = store.read_store(require_store(path))
    per_target: dict[str, int] = defaultdict(int)
    for _, body in lines.records:
        per_target[store.describe_target(body[2])] += 1
    failed = sum(1 for _, body in lines.records if store.mean_seconds(body) is None)
    best = lines.best_per_workload()
    return {
        "store": str(path),
        "stamp": store.read_stamp(path),
        "workloads": len(lines.workloads),
        "records": len(lines.records),
        "failed": failed,
        "per_target": dict(per_target),
        "best_ms": {key: secs * 1e3 for key, secs in best.items()},
        "problems": lines.problems,
    }


def merge(sources: list[Path], dest: Path, tvm_version: str) -> tuple[int, list[str]]:
    """Merge stores into `dest` (kept first); skips stores of another TVM version."""
    combined = Combined()
    if (dest / store.RECORD_FILE).is_file():
        combined.add(store.read_store(dest))
    added = 0
    for source in sources:
        problem = store.version_problem(require_store(source), tvm_version)
        if problem:
            combined.problems.append(problem)
            continue
        added += combined.add(store.read_store(source))
    if combined.renamed:
        combined.problems.append(
            f"{combined.renamed} record(s) of kernels already merged under other names skipped"
        )
    store.ensure_writable(dest)
    store.write_store(dest, combined.workloads, combined.records)
    _copy_stamp(sources, dest)
    copy_library_times(sources, dest, {w[0] for w in combined.workloads})
    return added, combined.problems


def prune(path: Path, keep: int, identity: tuple[str, ...] | None = None) -> tuple[int, int]:
    """Keep the `keep` fastest records per workload and target; returns (kept, dropped)."""
    lines = store.read_store(require_store(path), identity)
    kept = best_records(lines.records, keep)
    store.write_store(path, lines.workloads, kept)
    return len(kept), len(lines.records) + lines.foreign - len(kept)


def export(
    path: Path,
    dest: Path,
    keep: int,
    identity: tuple[str, ...] | None = None,
    improved_only: bool = False,
) -> int:
    """Write the `keep` best records per workload into a new store `dest` (for shipping).

    With `improved_only`, only kernels whose best record beats their measured default
    schedule (`default_times.json`) and is not that schedule itself (a store keeps the default
    records it measured): the rest compile the same without a record.
    """
    lines = store.read_store(require_store(path), identity)
    kept = best_records(lines.records, keep)
    if improved_only:
        kept = _improved(path, lines, kept)
    store.ensure_writable(dest)
    store.write_store(dest, lines.workloads, kept)
    _copy_stamp([path], dest)
    copy_library_times([path], dest, {lines.workloads[index][0] for index, _ in kept})
    return len(kept)


def _improved(path: Path, lines: store.StoreLines, kept: list[Record]) -> list[Record]:
    """The records of `kept` whose kernel the search made faster than its default schedule."""
    # Imported here: these load TVM, which the other `ember records` commands skip.
    from tvm.s_tir import meta_schedule as ms

    from ..passes.cpu_default_schedule import DEFAULT_SCHEDULE_VERSION
    from .default_candidates import is_default_record

    defaults = store.read_default_times(path, DEFAULT_SCHEDULE_VERSION)
    best = lines.best_per_workload()

    def improved(record: Record) -> bool:
        workload = lines.workloads[record[0]]
        key = workload[0]
        if key in defaults and best[key] >= defaults[key]:
            return False
        parsed = ms.database.Workload.from_json(workload)
        return not is_default_record(ms.database.TuningRecord.from_json(record[1], parsed))

    return [record for record in kept if improved(record)]


def best_records(records: list[Record], keep: int) -> list[Record]:
    """The `keep` fastest successful records of each (workload, target)."""
    if keep < 1:
        raise OptionError(f"--keep must be at least 1, got {keep}")
    groups: dict[tuple[int, tuple[str, ...]], list[Record]] = defaultdict(list)
    for record in records:
        if store.mean_seconds(record[1]) is not None:
            groups[(record[0], store.target_identity(record[1][2]))].append(record)
    kept = []
    for group in groups.values():
        group.sort(key=lambda r: store.mean_seconds(r[1]) or 0.0)
        kept += group[:keep]
    return kept


def _copy_stamp(sources: list[Path], dest: Path) -> None:
    if (dest / store.STAMP_FILE).is_file():
        return
    for source in sources:
        if (source / store.STAMP_FILE).is_file():
            shutil.copyfile(source / store.STAMP_FILE, dest / store.STAMP_FILE)
            return

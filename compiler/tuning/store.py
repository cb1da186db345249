"""Record stores on disk: MetaSchedule JSON databases plus a small stamp, read line by line.

A store is a folder holding MetaSchedule's two files (`database_workload.json`: one
``[structural_hash, base64_ir]`` per line; `database_tuning_record.json`: one
``[workload_index, [trace, run_secs, target, args_info]]`` per line), so TVM's own tools read
it, and `ember_store.json`, which says which target and TVM version wrote it. Reading never
fails on one bad line: corrupt lines and records of another target are skipped and reported
in one line each, and the rest of the store is used. Nothing here imports TVM.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ember._cache import cache_root
from ember.errors import OptionError

WORKLOAD_FILE = "database_workload.json"
#: Each task's default-schedule seconds, one JSON line per task (`default_candidates`).
DEFAULT_TIMES_FILE = "default_times.json"
RECORD_FILE = "database_tuning_record.json"
STAMP_FILE = "ember_store.json"
#: The XGBoost cost model (booster and training data) saved after each tune: warm start.
COST_MODEL_FILE = "cost_model.tar"
STORE_FORMAT = 1
#: Index of a workload line that repeats an earlier kernel under other names.
RENAMED = -1
# Target fields that decide whether a record's schedule fits; "num-cores" only sizes threads.
_TARGET_IDENTITY = ("kind", "mtriple", "mcpu", "mattr", "arch")


@dataclass
class StoreLines:
    """The valid content of one store, and what was wrong with the rest."""

    path: Path
    #: ``[structural_hash, base64_ir]`` per workload.
    workloads: list[list[str]] = field(default_factory=list)
    #: ``(workload_index, [trace, run_secs, target, args_info])`` per record of this target.
    records: list[tuple[int, list[Any]]] = field(default_factory=list)
    #: One line per problem found (corrupt lines, other targets, other TVM versions).
    problems: list[str] = field(default_factory=list)
    #: Records skipped because they were tuned for another target.
    foreign: int = 0
    #: Lines that could not be parsed (kept aside when the store is repaired).
    corrupt_lines: list[str] = field(default_factory=list)
    #: Workload lines repeating an earlier one's structural hash.
    duplicate_workloads: int = 0
    #: Record lines of a repeat written with other names: unusable (set aside on repair).
    renamed_lines: list[str] = field(default_factory=list)

    def records_per_workload(self) -> dict[str, int]:
        """Measured records (any outcome) per workload hash."""
        counts: dict[str, int] = {}
        for index, _ in self.records:
            key = self.workloads[index][0]
            counts[key] = counts.get(key, 0) + 1
        return counts

    def best_per_workload(self) -> dict[str, float]:
        """The fastest successful measurement (seconds) per workload hash."""
        best: dict[str, float] = {}
        for index, body in self.records:
            key, secs = self.workloads[index][0], mean_seconds(body)
            if secs is not None and secs < best.get(key, float("inf")):
                best[key] = secs
        return best


def default_store(target_name: str) -> Path:
    """The user's store for a target: ``<cache>/tuning/<target>``."""
    return cache_root() / "tuning" / target_name


def shipped_store(target_name: str) -> Path:
    """Ember's shipped records: ``ember/tuning_logs/<target>`` (``tuning_logs/`` in a checkout)."""
    return Path(__file__).resolve().parent.parent.parent / "tuning_logs" / target_name


def target_identity(tvm_target: dict[str, Any]) -> tuple[str, ...]:
    """The fields of a TVM target dict that a schedule depends on, as a comparable tuple."""
    values = []
    for key in _TARGET_IDENTITY:
        value = tvm_target.get(key, "")
        values.append(",".join(map(str, value)) if isinstance(value, list | tuple) else str(value))
    return tuple(values)


def describe_target(tvm_target: dict[str, Any]) -> str:
    """A short human name of a TVM target dict (``llvm mcpu=znver3``)."""
    parts = [str(tvm_target.get("kind", "?"))]
    parts += [f"{k}={tvm_target[k]}" for k in ("mcpu", "arch", "mtriple") if tvm_target.get(k)]
    return " ".join(parts)


def read_stamp(path: Path) -> dict[str, Any] | None:
    """The store's stamp, or None when it has none (a plain MetaSchedule work folder)."""
    try:
        stamp = json.loads((path / STAMP_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    return stamp if isinstance(stamp, dict) else {}


def other_tvm_version(path: Path, tvm_version: str) -> str | None:
    """The TVM version the store is stamped with, when it is not `tvm_version`."""
    written = (read_stamp(path) or {}).get("tvm_version")
    return str(written) if written and written != tvm_version else None


def version_problem(path: Path, tvm_version: str) -> str | None:
    """One line when another TVM version wrote the store (its traces may not replay)."""
    other = other_tvm_version(path, tvm_version)
    if other is None:
        return None
    return f"records '{path}' were tuned with TVM {other}, this is TVM {tvm_version}: skipped"


def stamp_problem(path: Path) -> str | None:
    """One line when the stamp itself is unreadable (the records are still used)."""
    if read_stamp(path) == {}:
        return f"records '{path}': {STAMP_FILE} is corrupt; using the records anyway"
    return None


def write_stamp(path: Path, target_name: str, tvm_target: dict[str, Any], tvm_version: str) -> None:
    """Stamp the store with its target and TVM version (kept if already there)."""
    if read_stamp(path):
        return
    stamp = {
        "format": STORE_FORMAT,
        "target": target_name,
        "tvm_target": tvm_target,
        "tvm_version": tvm_version,
    }
    _atomic_write(path / STAMP_FILE, json.dumps(stamp, indent=2) + "\n")


def ensure_writable(path: Path) -> Path:
    """Create the store folder if needed; a folder that cannot be written is an OptionError."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OptionError(f"records folder '{path}' cannot be created: {err.strerror}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise OptionError(f"records folder '{path}' is not writable")
    for name in (WORKLOAD_FILE, RECORD_FILE):
        existing = path / name
        if existing.exists() and not os.access(existing, os.W_OK):
            raise OptionError(f"records file '{existing}' is not writable")
    return path


def read_store(path: Path, identity: tuple[str, ...] | None = None) -> StoreLines:
    """Read a store's valid lines; with `identity`, keep only that target's records."""
    lines = StoreLines(path=path)
    index_map = _read_workloads(path / WORKLOAD_FILE, lines)
    _read_records(path / RECORD_FILE, lines, index_map, identity)
    if lines.corrupt_lines:
        lines.problems.insert(
            0,
            f"records '{path}': {len(lines.corrupt_lines)} corrupt line(s) skipped, "
            "the rest of the store is used",
        )
    if lines.renamed_lines:
        lines.problems.append(
            f"records '{path}': {len(lines.renamed_lines)} record(s) of a kernel stored twice "
            "under other names skipped"
        )
    if lines.foreign:
        lines.problems.append(
            f"records '{path}': {lines.foreign} record(s) for another target skipped"
        )
    return lines


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return []


def _read_workloads(path: Path, lines: StoreLines) -> dict[int, int]:
    """Valid workload lines; returns file line number -> index in `lines.workloads`.

    A workload is its structural hash. The same kernel can be written twice (merged from two
    tunes), and MetaSchedule keeps only the first of two such lines: its JSONDatabase then
    numbers each workload it appends wrongly, and a record made on the second replays on the
    first, which fails where their names differ (its trace finds blocks by name). So a repeat
    maps to the first when identical, and to RENAMED (its records set aside) otherwise.
    """
    index_map: dict[int, int] = {}
    first: dict[str, int] = {}
    for number, text in enumerate(_read_lines(path)):
        if not text.strip():
            continue
        value = _parse(text)
        if isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value):
            if value[0] in first:
                same = lines.workloads[first[value[0]]][1] == value[1]
                index_map[number] = first[value[0]] if same else RENAMED
                lines.duplicate_workloads += 1
                continue
            index_map[number] = first[value[0]] = len(lines.workloads)
            lines.workloads.append(value)
        else:
            lines.corrupt_lines.append(text)
    return index_map


def _read_records(
    path: Path, lines: StoreLines, index_map: dict[int, int], identity: tuple[str, ...] | None
) -> None:
    for text in _read_lines(path):
        if not text.strip():
            continue
        value = _parse(text)
        if not _valid_record(value) or value[0] not in index_map:
            lines.corrupt_lines.append(text)
            continue
        if index_map[value[0]] == RENAMED:
            lines.renamed_lines.append(text)
            continue
        body = value[1]
        if identity is not None and target_identity(body[2]) != identity:
            lines.foreign += 1
            continue
        lines.records.append((index_map[value[0]], body))


def _parse(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _valid_record(value: Any) -> bool:
    """``[int, [trace, run_secs | null, target dict, args_info list]]``."""
    if not (isinstance(value, list) and len(value) == 2 and isinstance(value[0], int)):
        return False
    body = value[1]
    if not (isinstance(body, list) and len(body) == 4 and isinstance(body[0], list)):
        return False
    secs, target, args = body[1], body[2], body[3]
    secs_ok = secs is None or (
        isinstance(secs, list) and all(isinstance(s, int | float) for s in secs)
    )
    return secs_ok and isinstance(target, dict) and "kind" in target and isinstance(args, list)


def mean_seconds(body: list[Any]) -> float | None:
    """The mean measured run time of a record, or None for a failed measurement."""
    secs = body[1]
    if not secs:
        return None
    mean = sum(secs) / len(secs)
    return mean if mean < 1e9 else None  # MetaSchedule writes 1e10 for run errors


def read_default_times(path: Path, version: int) -> dict[str, float]:
    """Seconds per task key of default schedule `version` in a store.

    Lines of other versions (lines without one are version 1) and lines that do not parse are
    skipped.
    """
    times: dict[str, float] = {}
    for line in _read_lines(path / DEFAULT_TIMES_FILE):
        try:
            entry = json.loads(line)
            if entry.get("schedule", 1) != version:
                continue
            times[str(entry["key"])] = float(entry["seconds"])
        except (ValueError, KeyError, TypeError):
            continue  # a torn last line costs that task a second measurement only
    return times


def write_store(path: Path, workloads: list[list[str]], records: list[tuple[int, Any]]) -> None:
    """Write a whole store atomically (used by repair, merge, prune and export)."""
    path.mkdir(parents=True, exist_ok=True)
    used = sorted({index for index, _ in records})
    renumber = {old: new for new, old in enumerate(used)}
    _atomic_write(path / WORKLOAD_FILE, "".join(json.dumps(workloads[i]) + "\n" for i in used))
    _atomic_write(
        path / RECORD_FILE,
        "".join(json.dumps([renumber[i], body]) + "\n" for i, body in records),
    )


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

"""Each task's default schedule, measured as a candidate: records never lose to it.

An untuned CPU kernel compiles with Ember's default schedule (parallel, vectorized loop nests,
`passes.cpu_default_schedule`). A short search may find nothing faster for some kernels, and
a compile applies the best record of every kernel that has one: without this, tuning could
make a model slower. So before searching, the tuner builds and runs each task's default
schedule with the same builder and runner as any candidate and commits it as a record (its
trace replays the default schedule). The best record of a task is then never slower than the
default as measured, and the kernels where nothing beat it compile exactly as untuned.

Measured tasks are listed in `default_times.json` (one JSON line each, appended, with the
default schedule's version), so a resumed tune does not measure them again, and a tune after
Ember's default schedule changed measures the new one; their seconds also tell how much the
search gained.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ..passes.cpu_default_schedule import DEFAULT_SCHEDULE_VERSION, default_schedule
from .store import DEFAULT_TIMES_FILE, read_default_times
from .tasks import Task


def is_default_record(record: Any) -> bool:
    """Whether a record is its workload's default schedule (its trace is exactly that one)."""
    sch = default_schedule(record.workload.mod["main"])
    return sch is not None and str(sch.trace.as_json()) == str(record.trace.as_json())


def measure_defaults(
    path: Path,
    tasks: Iterable[Task],
    tvm_target: Any,
    db: Any,
    builder: Any,
    runner: Any,
    on_start: Callable[[int], None] | None = None,
) -> dict[str, float]:
    """Measure and commit the default schedule of each task not measured yet in `path`.

    `on_start` hears how many will be measured, when there are any. Returns the seconds of
    the tasks measured now. A task whose default fails to build or run is skipped (the
    search still covers it).
    """
    from tvm.s_tir import meta_schedule as ms

    done = read_default_times(path, DEFAULT_SCHEDULE_VERSION)
    todo = []
    for task in tasks:
        if task.key in done:
            continue
        sch = default_schedule(task.mod["main"])
        if sch is not None:  # hand-written kernels have no schedule to measure
            todo.append((task, sch))
    if not todo:
        return {}
    if on_start is not None:
        on_start(len(todo))
    built = builder.build([ms.builder.BuilderInput(sch.mod, tvm_target) for _, sch in todo])
    kept, inputs = [], []
    for (task, sch), result in zip(todo, built, strict=True):
        if result.error_msg is None:
            args = ms.arg_info.ArgInfo.from_prim_func(task.mod["main"])
            kept.append((task, sch, args))
            # The default schedule is a CPU one: the kernels run on the (local or remote) CPU.
            inputs.append(ms.runner.RunnerInput(result.artifact_path, "cpu", args))
    futures = runner.run(inputs) if inputs else []
    measured: dict[str, float] = {}
    for (task, sch, args), future in zip(kept, futures, strict=True):
        result = future.result()
        if result.error_msg is not None or not result.run_secs:
            continue
        run_secs = [float(s) for s in result.run_secs]
        workload = db.commit_workload(task.mod)
        db.commit_tuning_record(
            ms.database.TuningRecord(sch.trace, workload, result.run_secs, tvm_target, args)
        )
        measured[task.key] = sum(run_secs) / len(run_secs)
        _append(path, task, measured[task.key])
    return measured


def _append(path: Path, task: Task, seconds: float) -> None:
    with (path / DEFAULT_TIMES_FILE).open("a", encoding="utf-8") as f:
        entry = {"key": task.key, "name": task.name, "seconds": seconds}
        f.write(json.dumps({**entry, "schedule": DEFAULT_SCHEDULE_VERSION}) + "\n")
        f.flush()

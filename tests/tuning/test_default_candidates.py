"""The tuner measures each task's default schedule first and commits it as a record.

So the best record of a task is never slower than the kernel an untuned compile builds,
and a resumed tune does not measure the default again.
"""

from __future__ import annotations

import pytest
import tvm

from ember.compiler.passes.cpu_default_schedule import cpu_default_schedule
from ember.compiler.target import resolve
from ember.compiler.tuning import database, default_candidates, store
from ember.compiler.tuning.tasks import extract_tasks, lowered_module
from ember.compiler.tuning.tuner import TuneConfig, _builder, _runner
from ember.runtime import read_manifest

from .helpers import softmax_model
from .test_records_apply import ember

pytestmark = [pytest.mark.tuning]


def test_default_schedule_is_a_measured_record_that_replays_it(tmp_path):
    from tvm.s_tir import meta_schedule as ms

    model, path = softmax_model(tmp_path), tmp_path / "store"
    target = resolve("x86")
    (task,) = extract_tasks(lowered_module(model, target, {}), target)
    db, _ = database.open_for_tuning(path, target)
    config = TuneConfig(model=str(model), target="x86", trials=1)
    measure = default_candidates.measure_defaults
    measured = measure(path, [task], target.tvm_target(), db, _builder(config), _runner(config))

    assert list(measured) == [task.key] and 0 < measured[task.key] < 0.1
    assert store.read_default_times(path) == measured
    lines = store.read_store(path, store.target_identity(target.tvm))
    assert lines.records_per_workload() == {task.key: 1}
    # The record's trace rebuilds exactly what an untuned compile schedules.
    (record,) = db.get_top_k(db.commit_workload(task.mod), 1)
    replayed = tvm.s_tir.Schedule(task.mod)
    record.trace.apply_to_schedule(replayed, remove_postproc=False)
    untuned = cpu_default_schedule(tvm.IRModule({"main": task.mod["main"]}))
    tvm.ir.assert_structural_equal(
        replayed.mod["main"], untuned["main"].without_attr("tirx.is_scheduled")
    )
    assert isinstance(record, ms.database.TuningRecord)
    # Resuming measures nothing again.
    again = measure(path, [task], target.tvm_target(), db, _builder(config), _runner(config))
    assert again == {}


def test_compile_says_which_kernels_keep_their_default(tmp_path):
    model, path = softmax_model(tmp_path), tmp_path / "store"
    target = resolve("x86")
    (task,) = extract_tasks(lowered_module(model, target, {}), target)
    db, _ = database.open_for_tuning(path, target)
    config = TuneConfig(model=str(model), target="x86", trials=1)
    default_candidates.measure_defaults(
        path, [task], target.tvm_target(), db, _builder(config), _runner(config)
    )
    out = tmp_path / "m.so"
    proc = ember("compile", str(model), "-o", str(out), "--records", str(path))
    assert proc.returncode == 0, proc.stderr
    assert "tuned 1 of 1 tasks (1 keep the default schedule, measured fastest)" in proc.stderr
    tuning = read_manifest(out)["tuning"]
    assert tuning == {"records_used": 1, "defaults_kept": 1, "tasks_total": 1}


@pytest.mark.parametrize(("default_s", "exported"), [(1e-6, 0), (1e-4, 1)])
def test_export_improved_only_ships_kernels_that_beat_their_default(tmp_path, default_s, exported):
    import json

    from ember.compiler.tuning import records
    from ember.compiler.tuning.tasks import extract_tasks as tasks_of

    from .helpers import fake_store

    model, path = softmax_model(tmp_path), tmp_path / "store"
    fake_store(path, model, seconds=1e-5)
    target = resolve("x86")
    (task,) = tasks_of(lowered_module(model, target, {}), target)
    entry = {"key": task.key, "name": task.name, "seconds": default_s}
    (path / store.DEFAULT_TIMES_FILE).write_text(json.dumps(entry) + "\n")
    assert records.export(path, tmp_path / "out", 1, improved_only=True) == exported
    assert records.export(path, tmp_path / "all", 1) == 1

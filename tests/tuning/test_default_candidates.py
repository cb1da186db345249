"""The tuner measures each task's default schedule first and commits it as a record.

So the best record of a task is never slower than the kernel an untuned compile builds,
and a resumed tune does not measure the default again.
"""

from __future__ import annotations

import json

import pytest
import tvm

from ember.compiler.passes.cpu_default_schedule import (
    DEFAULT_SCHEDULE_VERSION,
    cpu_default_schedule,
)
from ember.compiler.target import resolve
from ember.compiler.tuning import database, default_candidates, records, store
from ember.compiler.tuning.tasks import extract_tasks, lowered_module
from ember.compiler.tuning.tuner import TuneConfig, _builder, _runner
from ember.runtime import read_manifest

from .helpers import fake_store, softmax_model
from .test_records_apply import ember

pytestmark = [pytest.mark.tuning]


class SoftmaxStore:
    """The softmax model's one task and a store opened for tuning, as `ember tune` opens it."""

    def __init__(self, tmp_path):
        self.model, self.path = softmax_model(tmp_path), tmp_path / "store"
        self.target = resolve("x86")
        (self.task,) = extract_tasks(lowered_module(self.model, self.target, {}), self.target)
        self.db, _ = database.open_for_tuning(self.path, self.target)

    def measure_defaults(self):
        config = TuneConfig(model=str(self.model), target="x86", trials=1)
        return default_candidates.measure_defaults(
            self.path,
            [self.task],
            self.target.tvm_target(),
            self.db,
            _builder(config),
            _runner(config),
        )


def test_default_schedule_is_a_measured_record_that_replays_it(tmp_path):
    s = SoftmaxStore(tmp_path)
    path, target, task, db = s.path, s.target, s.task, s.db
    measured = s.measure_defaults()

    assert list(measured) == [task.key] and 0 < measured[task.key] < 0.1
    assert store.read_default_times(path, DEFAULT_SCHEDULE_VERSION) == measured
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
    assert s.measure_defaults() == {}  # a resumed tune measures nothing again


def test_a_changed_default_schedule_is_measured_again(tmp_path):
    s = SoftmaxStore(tmp_path)
    s.measure_defaults()
    times = s.path / store.DEFAULT_TIMES_FILE
    # As an Ember whose default schedule had an earlier version wrote it.
    (line,) = times.read_text().splitlines()
    earlier = {**json.loads(line), "schedule": DEFAULT_SCHEDULE_VERSION - 1}
    times.write_text(json.dumps(earlier) + "\n")
    assert store.read_default_times(s.path, DEFAULT_SCHEDULE_VERSION) == {}
    assert list(s.measure_defaults()) == [s.task.key]


def test_compile_says_which_kernels_keep_their_default(tmp_path):
    s = SoftmaxStore(tmp_path)
    s.measure_defaults()
    out = tmp_path / "m.so"
    proc = ember("compile", str(s.model), "-o", str(out), "--records", str(s.path))
    assert proc.returncode == 0, proc.stderr
    assert "tuned 1 of 1 tasks (1 keep the default schedule, measured fastest)" in proc.stderr
    tuning = read_manifest(out)["tuning"]
    assert tuning == {"records_used": 1, "defaults_kept": 1, "tasks_total": 1}


@pytest.mark.parametrize(("default_s", "exported"), [(1e-6, 0), (1e-4, 1)])
def test_export_improved_only_ships_kernels_that_beat_their_default(tmp_path, default_s, exported):
    model, path = softmax_model(tmp_path), tmp_path / "store"
    fake_store(path, model, seconds=1e-5)
    target = resolve("x86")
    (task,) = extract_tasks(lowered_module(model, target, {}), target)
    entry = {"key": task.key, "seconds": default_s, "schedule": DEFAULT_SCHEDULE_VERSION}
    (path / store.DEFAULT_TIMES_FILE).write_text(json.dumps(entry) + "\n")
    assert records.export(path, tmp_path / "out", 1, improved_only=True) == exported
    assert records.export(path, tmp_path / "all", 1) == 1


def test_export_improved_only_leaves_out_the_default_schedule_itself(tmp_path):
    # Measured twice (noise), a kernel's default record can beat its latest default time;
    # it compiles the same without a record, so it is not shipped.
    s = SoftmaxStore(tmp_path)
    s.measure_defaults()
    times = s.path / store.DEFAULT_TIMES_FILE
    (line,) = times.read_text().splitlines()
    slower = {**json.loads(line), "seconds": json.loads(line)["seconds"] * 10}
    times.write_text(json.dumps(slower) + "\n")
    assert records.export(s.path, tmp_path / "out", 1, improved_only=True) == 0
    assert records.export(s.path, tmp_path / "all", 1) == 1

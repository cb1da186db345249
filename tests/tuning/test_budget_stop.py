"""A tune whose time budget runs out while MetaSchedule picks its next task stops cleanly.

After its first round, MetaSchedule's gradient scheduler picks a live task, then waits for
that task's running batch, whose measure callback is where the budget stop terminates every
task; it then hands out the task it picked, now terminated, and fails its own check. The
search must still end as "time budget spent", with the records kept.
"""

from __future__ import annotations

import time

import onnx
import pytest
from onnx import TensorProto, helper

from ember.compiler.target import resolve
from ember.compiler.tuning import database, store, tuner
from ember.compiler.tuning.monitor import TuneMonitor
from ember.compiler.tuning.tasks import extract_tasks, lowered_module
from ember.compiler.tuning.tuner import TuneConfig, _prior_progress, _search

pytestmark = [pytest.mark.tuning]


def two_kernel_model(folder):
    graph = helper.make_graph(
        [
            helper.make_node("Softmax", ["x"], ["s"], axis=-1),
            helper.make_node("ReduceSum", ["x"], ["r"], keepdims=0),
        ],
        "two",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [16, 64])],
        [
            helper.make_tensor_value_info("s", TensorProto.FLOAT, [16, 64]),
            helper.make_tensor_value_info("r", TensorProto.FLOAT, []),
        ],
    )
    path = folder / "two.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_deadline_met_after_the_first_round_ends_as_budget_spent(tmp_path, monkeypatch):
    model, path = two_kernel_model(tmp_path), tmp_path / "store"
    target = resolve("x86")
    tasks = extract_tasks(lowered_module(model, target, {}), target)
    assert len(tasks) >= 2

    class DeadlineAfterFirstRound(TuneMonitor):
        """The deadline passes at the first batch measured after every task had one."""

        batches = 0

        def on_batch(self, scheduler, task_id, runner_results):
            DeadlineAfterFirstRound.batches += 1
            if DeadlineAfterFirstRound.batches > len(tasks):
                self.deadline = time.monotonic() - 1
            super().on_batch(scheduler, task_id, runner_results)

    monkeypatch.setattr(tuner, "TuneMonitor", DeadlineAfterFirstRound)
    db, _ = database.open_for_tuning(path, target)
    config = TuneConfig(
        model=str(model), target="x86", trials=16, trials_per_batch=2, population=16
    )
    progress = _prior_progress(path, target, tasks)
    events: list[dict] = []
    far = time.monotonic() + 3600
    reason = _search(config, target, path, db, tasks, progress, 16, far, events.append)
    assert reason == "time budget spent"
    assert DeadlineAfterFirstRound.batches > len(tasks)
    lines = store.read_store(path, store.target_identity(target.tvm))
    assert 1 <= len(lines.records) < 16  # what was measured before the stop, kept

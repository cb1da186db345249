"""Pieces of the tuner that need no TVM: durations, warm-up sizing, the budget stop."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from ember.compiler.options import parse_duration
from ember.compiler.tuning.monitor import TaskProgress, TuneMonitor, estimate_ms
from ember.compiler.tuning.tuner import TuneConfig, warmup_samples
from ember.errors import OptionError


@pytest.mark.parametrize(
    ("spec", "seconds"), [("90", 90), ("90s", 90), ("30m", 1800), ("2h", 7200), ("1h30m", 5400)]
)
def test_parse_duration(spec, seconds):
    assert parse_duration(spec) == seconds


@pytest.mark.parametrize("spec", ["", "abc", "0", "5x", "m"])
def test_parse_duration_rejects(spec):
    with pytest.raises(OptionError, match="invalid duration"):
        parse_duration(spec)


@pytest.mark.parametrize(("trials", "warmup"), [(8, 2), (64, 16), (1000, 32), (2, 1)])
def test_warmup_is_sized_to_the_budget(trials, warmup):
    assert warmup_samples(TuneConfig(model="m.onnx", target="x86", trials=trials)) == warmup


class _Scheduler:
    def __init__(self, count):
        self.tasks_ = [SimpleNamespace(is_terminated=False) for _ in range(count)]

    def terminate_task(self, index):
        self.tasks_[index].is_terminated = True


def _result(seconds):
    return SimpleNamespace(run_secs=[seconds], error_msg=None)


def test_monitor_tracks_best_latency_and_stops_at_the_deadline():
    tasks = [TaskProgress("a", "ka", 2.0, 1e6), TaskProgress("b", "kb", 1.0, 1e6)]
    events = []
    monitor = TuneMonitor(tasks, events.append, deadline=time.monotonic() + 3600)
    scheduler = _Scheduler(2)
    failed = SimpleNamespace(run_secs=[1e10], error_msg=None)
    monitor.on_batch(scheduler, 0, [_result(2e-3), _result(1e-3), failed])
    assert tasks[0].best_s == 1e-3 and tasks[0].trials == 3
    assert events[-1]["estimate_ms"] == pytest.approx(2.0)  # 1 ms x 2 calls; b unknown
    assert not any(t.is_terminated for t in scheduler.tasks_)
    monitor.deadline = time.monotonic() - 1
    monitor.on_batch(scheduler, 1, [_result(5e-4)])
    assert monitor.out_of_time and all(t.is_terminated for t in scheduler.tasks_)
    assert estimate_ms(tasks) == pytest.approx(2.5)

"""Follow a MetaSchedule tune from the inside: a measure callback that reports every batch.

MetaSchedule calls measure callbacks after each batch of candidates is measured, after its own
callbacks have appended the records to the database and updated the cost model. This one
keeps the best latency per task, reports the batch as an event (a plain dict, so the events
cross a process boundary as JSON lines), saves the cost model for the next tune, and ends
the tune when the time budget is spent (it terminates the remaining tasks).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Event = dict[str, Any]


@dataclass
class TaskProgress:
    """What is known about one task: trials measured (stored before and now), best latency."""

    name: str
    key: str
    weight: float
    flop: float
    trials: int = 0
    best_s: float | None = None
    done: bool = False
    #: The library's time on this kernel when the task stands in for a library call.
    library_s: float | None = None

    def effective_s(self) -> float | None:
        """What the kernel will cost in a compile: the faster of the record and the library."""
        known = [s for s in (self.best_s, self.library_s) if s is not None]
        return min(known) if known else None

    def event(self) -> Event:
        """The task as an event entry."""
        return {
            "name": self.name,
            "key": self.key,
            "weight": self.weight,
            "flop": self.flop,
            "trials": self.trials,
            "best_ms": None if self.best_s is None else self.best_s * 1e3,
            "done": self.done,
            "library_ms": None if self.library_s is None else self.library_s * 1e3,
        }


def estimate_ms(tasks: list[TaskProgress]) -> float | None:
    """Estimated end-to-end kernel time: each task's best (or library) latency times its calls."""
    known = [s * t.weight for t in tasks if (s := t.effective_s()) is not None]
    return sum(known) * 1e3 if known else None


class TuneMonitor:
    """State of a running tune, updated by `callback()` and reported through `emit`."""

    def __init__(
        self,
        tasks: list[TaskProgress],
        emit: Callable[[Event], None],
        deadline: float | None,
        after_batch: Callable[[], None] | None = None,
    ) -> None:
        self.tasks = tasks
        self.emit = emit
        self.deadline = deadline
        self.after_batch = after_batch
        self.measured = 0
        self.out_of_time = False

    def on_batch(self, scheduler: Any, task_id: int, runner_results: list[Any]) -> None:
        """Account one measured batch of task `task_id`; stop every task past the deadline."""
        task = self.tasks[task_id]
        task.trials += len(runner_results)
        self.measured += len(runner_results)
        for result in runner_results:
            seconds = _mean_seconds(result)
            if seconds is not None and (task.best_s is None or seconds < task.best_s):
                task.best_s = seconds
        for index, record in enumerate(scheduler.tasks_):
            self.tasks[index].done = bool(record.is_terminated)
        if self.after_batch is not None:
            self.after_batch()
        if self.deadline is not None and time.monotonic() >= self.deadline:
            self.out_of_time = True
            for index, record in enumerate(scheduler.tasks_):
                if not record.is_terminated:
                    scheduler.terminate_task(index)
        self.emit(self.snapshot("batch", task=task_id))

    def snapshot(self, kind: str, **extra: Any) -> Event:
        """An event carrying the whole state."""
        return {
            "event": kind,
            "measured": self.measured,
            "tasks": [t.event() for t in self.tasks],
            "estimate_ms": estimate_ms(self.tasks),
            **extra,
        }

    def callback(self) -> Any:
        """The MetaSchedule measure callback that feeds this monitor."""
        from tvm.ir.utils import derived_object
        from tvm.s_tir import meta_schedule as ms

        monitor = self

        @derived_object
        class EmberMeasureCallback(ms.measure_callback.PyMeasureCallback):
            def apply(
                self,
                task_scheduler: Any,
                task_id: int,
                measure_candidates: list[Any],
                builder_results: list[Any],
                runner_results: list[Any],
            ) -> None:
                monitor.on_batch(task_scheduler, int(task_id), list(runner_results))

        return EmberMeasureCallback()


def _mean_seconds(result: Any) -> float | None:
    secs = result.run_secs
    if result.error_msg is not None or not secs:
        return None
    values = [float(s) for s in secs]
    mean = sum(values) / len(values)
    return mean if mean < 1e9 else None

"""What `ember tune` shows: a live status line and task table, then a final table.

On a terminal the status (trials / budget, elapsed, ETA, tasks finished, estimated kernel
time) and the per-task table refresh in place; elsewhere (logs, CI) one line per batch.
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Group
from rich.live import Live
from rich.table import Table

from .console import err, out


def _fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def _fmt_ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f} ms"


def task_table(tasks: list[dict[str, Any]], title: str | None = None) -> Table:
    """One row per task: calls, trials, best latency, weighted latency, GFLOPS, done."""
    table = Table(title=title, title_justify="left", show_edge=False)
    for column in ("task", "calls", "trials", "best", "library", "weighted", "GFLOPS", "done"):
        table.add_column(column, justify="left" if column == "task" else "right")
    for task in tasks:
        best, library = task.get("best_ms"), task.get("library_ms")
        faster = min(v for v in (best, library, float("inf")) if v is not None)
        weighted = None if faster == float("inf") else faster * task["weight"]
        gflops = "-" if not best or not task["flop"] else f"{task['flop'] / best / 1e6:.2f}"
        done = "yes" if task.get("done") else ""
        table.add_row(
            task["name"],
            f"{task['weight']:g}",
            str(task["trials"]),
            _fmt_ms(best),
            _fmt_ms(library),
            _fmt_ms(weighted),
            gflops,
            done,
        )
    return table


class TuneView:
    """Renders tune events; `live` refreshes in place on a terminal."""

    def __init__(self, budget_s: float | None) -> None:
        self.budget_s = budget_s
        self.start = time.monotonic()
        self.trials = 0
        self.before = 0
        self.event: dict[str, Any] = {}
        self.live: Live | None = None

    def __enter__(self) -> TuneView:
        if err.is_terminal:
            self.live = Live(self._render(), console=err, refresh_per_second=2, transient=True)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.__exit__(None, None, None)

    def __call__(self, event: dict[str, Any]) -> None:
        """Take one event from the tuner."""
        kind = event.get("event")
        if kind == "problem":
            err.print(f"[yellow]warning:[/] {event['message']}", markup=True, highlight=False)
        elif kind == "defaults":
            err.print(f"measuring the default schedule of {event['kernels']} kernels first")
        elif kind == "library":
            err.print(f"timing the library on {event['kernels']} kernels it races")
        elif kind == "warm_start":
            err.print(f"cost model warm-started from {event['samples']} earlier measurements")
        elif kind == "start":
            self.trials, self.before = event["trials"], event["trials_before"]
            self.event = event
            err.print(self._start_line(event), highlight=False)
        elif kind == "batch":
            self.event = event
            if self.live is None:
                err.print(self.status(), highlight=False)
        if self.live is not None:
            self.live.update(self._render())

    def _start_line(self, event: dict[str, Any]) -> str:
        tasks = len(event["tasks"])
        resumed = f", {self.before} already in the store" if self.before else ""
        return f"tuning {tasks} tasks into {event['store']}: {self.trials} trials{resumed}"

    def status(self) -> str:
        """Trials / budget, elapsed, ETA, tasks finished, estimated kernel time."""
        measured = int(self.event.get("measured", 0))
        done = self.before + measured
        elapsed = time.monotonic() - self.start
        left = max(0, self.trials - done)
        eta = elapsed / measured * left if measured else None
        if self.budget_s is not None:
            eta = min(eta if eta is not None else self.budget_s, max(0, self.budget_s - elapsed))
        tasks = self.event.get("tasks", [])
        finished = sum(1 for t in tasks if t.get("done"))
        estimate = self.event.get("estimate_ms")
        budget = f" / {_fmt_time(self.budget_s)}" if self.budget_s else ""
        return (
            f"trials {done}/{self.trials}  elapsed {_fmt_time(elapsed)}{budget}  "
            f"ETA {_fmt_time(eta)}  tasks done {finished}/{len(tasks)}  "
            f"est. kernel time {_fmt_ms(estimate)}"
        )

    def _render(self) -> Group:
        return Group(self.status(), task_table(self.event.get("tasks", [])))

    def final(self, tasks: list[dict[str, Any]], estimate_ms: float | None) -> None:
        """The final table on stdout."""
        out.print(task_table(tasks, title="tuning results"))
        out.print(f"estimated kernel time (sum of best x calls): {_fmt_ms(estimate_ms)}")

"""`tune()`: run the tuning worker, relay its events, stop it cleanly on Ctrl-C or budget.

The worker runs in its own session (process group), so the terminal's Ctrl-C reaches only
this process, which then ends the whole group (the worker and MetaSchedule's build and
measurement processes) and returns what was measured. A crash of the worker or of one of
its processes never damages the store: records are appended one line at a time, and a
half-written last line is skipped (and set aside) by the next reader.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ember import errors

from ..target import resolve
from . import store
from .monitor import Event
from .tuner import TuneConfig

#: Past the time budget, the worker gets this long to finish its batch before it is killed.
BUDGET_GRACE_S = 120.0
#: After SIGTERM, the worker's group gets this long before SIGKILL.
STOP_GRACE_S = 3.0
LOG_FILE = "tune.log"


@dataclass
class TuneResult:
    """How a tune ended and what it measured."""

    store: Path
    log: Path
    events: list[Event] = field(default_factory=list)
    interrupted: bool = False
    reason: str = ""
    elapsed_s: float = 0.0
    #: Each task as in the store at the end (trials, best latency), as event entries.
    tasks: list[dict[str, Any]] = field(default_factory=list)
    estimate_ms: float | None = None

    def last(self, kind: str) -> Event | None:
        """The last event of a kind."""
        return next((e for e in reversed(self.events) if e.get("event") == kind), None)


def tune(config: TuneConfig, on_event: Callable[[Event], None] | None = None) -> TuneResult:
    """Tune in a worker process; Ctrl-C (KeyboardInterrupt) stops it and returns normally."""
    target = resolve(config.target)  # unknown target: one line, before anything starts
    path = store.ensure_writable(config.store_path(target))
    if not Path(config.model).is_file():
        raise errors.ModelError(f"model '{config.model}' does not exist")
    result = TuneResult(store=path, log=path / LOG_FILE)
    start = time.monotonic()
    with result.log.open("w", encoding="utf-8") as log, _stop_signals():
        proc, events = _spawn(config, log)
        try:
            _relay(proc, events, result, on_event or (lambda _e: None), _deadline(config))
        except KeyboardInterrupt:
            result.interrupted, result.reason = True, "interrupted"
        finally:
            _stop(proc)
            events.close()
    result.elapsed_s = time.monotonic() - start
    _raise_worker_error(result, proc.returncode)
    _recount(result, store.target_identity(target.tvm))
    return result


@contextlib.contextmanager
def _stop_signals() -> Iterator[None]:
    """Ctrl-C and SIGTERM stop the tune, even where the shell started us ignoring SIGINT."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, signal.default_int_handler)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _spawn(config: TuneConfig, log: Any) -> tuple[subprocess.Popen[bytes], Any]:
    read_fd, write_fd = os.pipe()
    cmd = [sys.executable, "-m", "ember.compiler.tuning.worker"]
    proc = subprocess.Popen(
        [*cmd, json.dumps(config.to_json()), str(write_fd)],
        pass_fds=(write_fd,),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # Ctrl-C reaches us only; we end the group
    )
    os.close(write_fd)
    return proc, os.fdopen(read_fd, "r", encoding="utf-8")


def _deadline(config: TuneConfig) -> float | None:
    if not config.budget_s:
        return None
    return time.monotonic() + config.budget_s + BUDGET_GRACE_S


def _relay(
    proc: subprocess.Popen[bytes],
    events: Any,
    result: TuneResult,
    on_event: Callable[[Event], None],
    deadline: float | None,
) -> None:
    """Pass each event on until the worker closes the pipe or the hard deadline passes."""
    selector = selectors.DefaultSelector()
    selector.register(events, selectors.EVENT_READ)
    while True:
        if deadline is not None and time.monotonic() > deadline:
            result.reason = "time budget spent (worker stopped)"
            return
        if not selector.select(timeout=1.0):
            continue
        line = events.readline()
        if not line:
            return
        with contextlib.suppress(ValueError):
            event = json.loads(line)
            result.events.append(event)
            if event.get("event") == "end":
                result.reason = str(event.get("reason", ""))
            on_event(event)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """End the worker's process group: politely, then for good."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=STOP_GRACE_S)
    # MetaSchedule's build and measurement workers share the group and may outlive it.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _recount(result: TuneResult, identity: tuple[str, ...]) -> None:
    """Tasks as the store has them now: the worker may have been stopped mid-report."""
    last = result.last("final") or result.last("batch") or result.last("start") or {}
    lines = store.read_store(result.store, identity)
    counts, best = lines.records_per_workload(), lines.best_per_workload()
    result.tasks = [dict(t) for t in last.get("tasks", [])]
    for task in result.tasks:
        task["trials"] = counts.get(task["key"], task["trials"])
        if task["key"] in best:
            task["best_ms"] = best[task["key"]] * 1e3
    known = [t["best_ms"] * t["weight"] for t in result.tasks if t["best_ms"] is not None]
    result.estimate_ms = sum(known) if known else None


def _raise_worker_error(result: TuneResult, returncode: int | None) -> None:
    error = result.last("error")
    if error is not None:
        cls = getattr(errors, str(error.get("kind")), errors.InternalError)
        if not (isinstance(cls, type) and issubclass(cls, errors.EmberError)):
            cls = errors.InternalError
        raise cls(f"{error.get('message')} (log: {result.log})")
    if not result.interrupted and returncode not in (0, None) and not result.reason:
        raise errors.InternalError(f"the tuning worker died (exit {returncode}); log: {result.log}")

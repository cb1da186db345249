"""Runs fuzz cases in a worker subprocess: a crash or a hang fails that case, not pytest.

The worker (`fuzz_worker.py`) imports TVM once and then takes cases one at a time, so a case
costs what its compile costs. When a case kills the worker (a signal) or outlives its timeout,
the case is recorded as a crash or a hang, the worker is replaced, and the run goes on.
"""

from __future__ import annotations

import collections
import json
import os
import select
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]

#: One case may take this long (a tiny model compiles in well under a second; the machine
#: may be shared, hence the margin).
CASE_TIMEOUT_S = 60.0

#: The worker runs one thread per pool, so two pytest workers keep to two cores.
WORKER_ENV = {"TVM_NUM_THREADS": "1", "EMBER_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}


@dataclass
class Tally:
    """Outcomes of a fuzz run: counts per category, and every failure in full."""

    counts: collections.Counter[str] = field(default_factory=collections.Counter)
    failures: list[str] = field(default_factory=list)
    crashes: int = 0
    hangs: int = 0

    def add(self, label: str, result: dict[str, str]) -> None:
        self.counts[result["category"]] += 1
        if result["status"] != "pass":
            self.failures.append(f"{label}: {result['category']}: {result['detail']}")

    def summary(self) -> str:
        parts = ", ".join(f"{n} {c}" for c, n in self.counts.most_common())
        total = sum(self.counts.values())
        return f"{total} cases ({parts}); {self.crashes} crashes, {self.hangs} hangs"


class Worker:
    """One `fuzz_worker` subprocess, restarted after a crash or a hang."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.proc: subprocess.Popen[str] | None = None

    def _start(self) -> subprocess.Popen[str]:
        with self.log.open("a") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "tests.reliability.fuzz_worker"],
                cwd=REPO,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                env={**os.environ, **WORKER_ENV},
                start_new_session=True,
            )

    def run(self, case: dict[str, Any], timeout: float = CASE_TIMEOUT_S) -> dict[str, str]:
        """Run one case; its answer, or a `crash` / `hang` failure."""
        if self.proc is None or self.proc.poll() is not None:
            self.proc = self._start()
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(case) + "\n")
        self.proc.stdin.flush()
        # The first case also pays for importing TVM in the new worker.
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout + 30)
        if not ready:
            self.close()
            return {"status": "fail", "category": "hang", "detail": f"no answer in {timeout} s"}
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait()
            self.proc = None
            return {"status": "fail", "category": "crash", "detail": f"exit {code}{self._tail()}"}
        return dict(json.loads(line))

    def _tail(self) -> str:
        lines = self.log.read_text(errors="replace").splitlines()[-5:]
        return " | log: " + " / ".join(lines)

    def close(self) -> None:
        """Stop the worker (and anything it started)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, 9)
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()
        self.proc = None


def run_cases(cases: list[tuple[str, dict[str, Any]]], log: Path) -> Tally:
    """Run `(label, case)` pairs in one worker; every outcome lands in the tally."""
    tally = Tally()
    worker = Worker(log)
    try:
        for index, (label, case) in enumerate(cases):
            result = worker.run({"id": index, **case})
            tally.crashes += result["category"] == "crash"
            tally.hangs += result["category"] == "hang"
            tally.add(label, result)
    finally:
        worker.close()
    return tally

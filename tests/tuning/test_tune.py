"""`ember tune` for real, kept tiny (one softmax task, batches of 4, a small search population).

One flow proves the store's promises end to end: records are appended while the tune runs,
Ctrl-C stops it within seconds keeping them, the same command resumes and the budget counts
what is stored, the store still loads, and `ember compile` applies the tuned record.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
import tvm

from ember.compiler.target import resolve
from ember.compiler.tuning import apply, database
from ember.compiler.tuning.tasks import lowered_module
from ember.runtime import read_manifest

from .helpers import record_lines, softmax_model
from .test_records_apply import EMBER, ember

pytestmark = [pytest.mark.tuning, pytest.mark.slow]

SMALL = ["--per-batch", "4", "--population", "64"]


def _wait_for_records(store, proc, count, timeout=480.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(record_lines(store)) >= count:
            return
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        time.sleep(1.0)
    pytest.fail(f"no {count} records after {timeout} s")


def _interrupt(proc):
    start = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    return time.monotonic() - start, stderr


def test_interrupt_resume_then_compile_uses_the_record(tmp_path):
    model, store = softmax_model(tmp_path), tmp_path / "store"
    env = {**os.environ, "EMBER_CACHE_DIR": str(tmp_path / "cache"), "COLUMNS": "200"}
    cmd = [EMBER, "tune", str(model), "--records", str(store), *SMALL]
    proc = subprocess.Popen([*cmd, "--trials", "40"], env=env, stderr=subprocess.PIPE, text=True)
    _wait_for_records(store, proc, 1)  # appended while the tune still runs
    seconds, stderr = _interrupt(proc)
    assert proc.returncode == 130, stderr
    assert seconds < 15, f"took {seconds:.1f} s to stop"
    assert "run the same command again to continue" in stderr
    with pytest.raises(ProcessLookupError):  # no build or measurement process left behind
        os.killpg(proc.pid, 0)
    before = len(record_lines(store))
    resumed = subprocess.run(
        [*cmd, "--trials", str(before + 4)], env=env, capture_output=True, text=True, timeout=600
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"{before} already in the store" in resumed.stderr
    assert len(record_lines(store)) > before
    loaded = database.load_stores([store], resolve("x86"))
    assert loaded.problems == [] and loaded.records == len(record_lines(store))
    _assert_compile_applies(model, store, tmp_path)


def _assert_compile_applies(model, store, tmp_path):
    proc = ember("compile", str(model), "-o", str(tmp_path / "m.so"), "--records", str(store))
    assert proc.returncode == 0, proc.stderr
    assert "tuned 1 of 1 tasks" in proc.stderr
    tuning = read_manifest(tmp_path / "m.so")["tuning"]
    # The record applied is the best measured: a search candidate or the default schedule.
    assert tuning["records_used"] == 1 and tuning["tasks_total"] == 1
    target = resolve("x86")
    (tuning_pass,) = apply.tuning_passes(apply.open_records([store], target))
    with target.tvm_target():
        mod = tuning_pass(lowered_module(model, target, {}))
    # The model's one kernel (a softmax; its name depends on the pipeline's rewrites).
    (kernel,) = [f for f in mod.functions.values() if isinstance(f, tvm.tirx.PrimFunc)]
    assert kernel.attrs["tirx.is_scheduled"] and kernel.attrs[apply.TUNED_ATTR]

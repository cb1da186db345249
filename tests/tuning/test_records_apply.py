"""Applying records in a compile, and every kind of bad record input: one line each, the rest
of the store still used. Records are fabricated (empty traces), so nothing is tuned here."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from ember.compiler.api import compile_model
from ember.compiler.options import CompileOptions
from ember.compiler.progress import SilentProgress
from ember.compiler.target import resolve
from ember.compiler.tuning import apply, database, store
from ember.compiler.tuning.tasks import lowered_module
from ember.runtime import read_manifest

from .helpers import fake_store, record_lines, softmax_model

EMBER = shutil.which("ember") or "ember"


@pytest.fixture()
def model(tmp_path):
    return softmax_model(tmp_path)


def _compile(model, tmp_path, **options):
    progress = SilentProgress()
    out = compile_model(model, "x86", tmp_path / "m.so", CompileOptions(**options), progress)
    return read_manifest(out)["tuning"], progress


def test_compile_applies_a_matching_record(model, tmp_path):
    records = tmp_path / "store"
    assert fake_store(records, model) == 1
    tuning, progress = _compile(model, tmp_path, records=records)
    assert tuning == {"records_used": 1, "defaults_kept": 0, "tasks_total": 1}
    assert progress.warnings == []


def test_no_tuning_logs_uses_none(model, tmp_path):
    records = tmp_path / "store"
    fake_store(records, model)
    tuning, _ = _compile(model, tmp_path, records=records, tuning_logs=False)
    assert tuning == {"records_used": 0, "defaults_kept": 0, "tasks_total": 1}


def test_applied_kernel_is_scheduled_from_the_database(model, tmp_path):
    import tvm

    records = tmp_path / "store"
    fake_store(records, model)
    target = resolve("x86")
    (tuning_pass,) = apply.tuning_passes(apply.open_records([records], target))
    mod = lowered_module(model, target, {})
    with target.tvm_target():
        mod = tuning_pass(mod)
    kernels = [f for f in mod.functions.values() if isinstance(f, tvm.tirx.PrimFunc)]
    assert len(kernels) == 1
    assert kernels[0].attrs["tirx.is_scheduled"] and kernels[0].attrs[apply.TUNED_ATTR]
    assert apply.count_tuned(mod) == 1


def test_corrupt_line_is_one_warning_and_the_rest_is_used(model, tmp_path):
    records = tmp_path / "store"
    fake_store(records, model)
    with (records / store.RECORD_FILE).open("a") as f:
        f.write('[0, [["truncated\n')
        f.write("not json at all\n")
    tuning, progress = _compile(model, tmp_path, records=records)
    assert tuning["records_used"] == 1
    assert len(progress.warnings) == 1
    assert "2 corrupt line(s) skipped" in progress.warnings[0]


def test_records_of_another_target_are_skipped(model, tmp_path):
    records = tmp_path / "store"
    fake_store(records, model, mcpu="cortex-a72")
    tuning, progress = _compile(model, tmp_path, records=records)
    assert tuning["records_used"] == 0
    assert progress.warnings == [f"records '{records}': 1 record(s) for another target skipped"]


def test_another_tvm_version_is_skipped_and_other_stores_still_used(model, tmp_path):
    old, good = tmp_path / "old", tmp_path / "good"
    fake_store(old, model, tvm_version="0.19.0")
    fake_store(good, model)
    loaded = database.load_stores([old, good], resolve("x86"))
    assert loaded.records == 1
    assert len(loaded.problems) == 1 and "tuned with TVM 0.19.0" in loaded.problems[0]


def test_user_records_come_before_shipped_ones(model, tmp_path):
    user, shipped = tmp_path / "user", tmp_path / "shipped"
    fake_store(user, model, seconds=5e-3)
    fake_store(shipped, model, seconds=1e-6)  # faster, but the user's record wins
    target = resolve("x86")
    loaded = database.load_stores([user, shipped], target)
    task_mod = _task_module(model, target)
    record = loaded.database.query_tuning_record(task_mod, target.tvm_target(), "main")
    assert [float(s) for s in record.run_secs] == [5e-3]


def _task_module(model, target):
    from ember.compiler.tuning.tasks import extract_tasks

    return extract_tasks(lowered_module(model, target, {}), target)[0].mod


def ember(*args, env=None):
    return subprocess.run(
        [EMBER, *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )


def _one_line_error(proc, needle):
    assert proc.returncode != 0
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert lines[-1].startswith("error: ") and needle in lines[-1], proc.stderr
    assert "Traceback" not in proc.stderr


def test_tune_unknown_target_is_one_line(model):
    _one_line_error(ember("tune", str(model), "--target", "nope"), "unknown target 'nope'")


def test_tune_unwritable_records_folder_is_one_line(model, tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("running as a user who can write anywhere")
        _one_line_error(ember("tune", str(model), "--records", str(folder)), "not writable")
    finally:
        folder.chmod(0o700)


def test_tune_records_folder_that_cannot_be_created_is_one_line(model, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = ember("tune", str(model), "--records", str(blocker / "store"))
    _one_line_error(proc, "cannot be created")


def test_compile_cli_prints_coverage_and_warnings(model, tmp_path):
    records = tmp_path / "store"
    fake_store(records, model)
    with (records / store.RECORD_FILE).open("a") as f:
        f.write("garbage\n")
    proc = ember("compile", str(model), "-o", str(tmp_path / "m.so"), "--records", str(records))
    assert proc.returncode == 0, proc.stderr
    assert "tuned 1 of 1 tasks" in proc.stderr
    warnings = [ln for ln in proc.stderr.splitlines() if ln.startswith("warning:")]
    assert len(warnings) == 1 and "1 corrupt line(s)" in warnings[0]
    assert len(record_lines(records)) == 2  # a compile never rewrites the store


def test_records_stats_merge_prune_export(model, tmp_path):
    a, b, merged = tmp_path / "a", tmp_path / "b", tmp_path / "merged"
    fake_store(a, model, seconds=2e-5)
    fake_store(b, model, seconds=1e-5)
    proc = ember("records", "merge", str(a), str(b), "--into", str(merged))
    assert proc.returncode == 0 and "merged 2 new record(s)" in proc.stdout, proc.stderr
    proc = ember("records", "merge", str(a), "--into", str(merged))
    assert "merged 0 new record(s)" in proc.stdout  # duplicates are dropped
    stats = json.loads(ember("records", "stats", "--records", str(merged), "--json").stdout)
    assert (stats["workloads"], stats["records"], stats["failed"]) == (1, 2, 0)
    assert stats["stamp"]["target"] == "x86"
    exported = tmp_path / "exported"
    proc = ember("records", "export", str(exported), "--records", str(merged))
    assert proc.returncode == 0 and "exported 1 record(s)" in proc.stdout, proc.stderr
    body = json.loads(record_lines(exported)[0])[1]
    assert body[1] == [1e-5]  # the fastest one
    proc = ember("records", "prune", "--records", str(merged), "--keep", "1")
    assert "kept 1 record(s), dropped 1" in proc.stdout, proc.stderr
    assert database.load_stores([merged], resolve("x86")).records == 1


def test_tuning_into_a_store_with_a_torn_line_sets_it_aside(model, tmp_path):
    records = tmp_path / "store"
    fake_store(records, model)
    with (records / store.RECORD_FILE).open("a") as f:
        f.write('[0, [[["GetSBlock", [], ["T_softmax')  # a write cut off by a crash
    db, problems = database.open_for_tuning(records, resolve("x86"))
    assert problems == [f"records '{records}': 1 corrupt line(s) moved to rejected.jsonl"]
    assert len(db) == 1 and len(record_lines(records)) == 1
    assert (records / "rejected.jsonl").read_text().startswith('[0, [[["GetSBlock"')


def test_tune_refuses_a_store_of_another_tvm_version(model, tmp_path):
    old = tmp_path / "old"
    fake_store(old, model, tvm_version="0.19.0")
    proc = ember("tune", str(model), "--records", str(old), "--trials", "1")
    _one_line_error(proc, "tuned with TVM 0.19.0")
    assert len(record_lines(old)) == 1


def test_merge_skips_a_store_of_another_tvm_version(model, tmp_path):
    old, dest = tmp_path / "old", tmp_path / "dest"
    fake_store(old, model, tvm_version="0.19.0")
    proc = ember("records", "merge", str(old), "--into", str(dest))
    assert proc.returncode == 0 and "merged 0 new record(s)" in proc.stdout, proc.stderr
    assert "tuned with TVM 0.19.0" in proc.stderr


def test_the_default_target_gets_the_shipped_records_its_cpu_can_run(tmp_path):
    from ember.compiler.tuning.apply import open_records, record_stores, shipped_presets

    host = resolve("x86")
    avx2 = resolve("x86-avx2")
    if not set(avx2.cpu_features) <= set(host.cpu_features):
        pytest.skip("this CPU cannot run x86-avx2 code")
    assert "x86-avx2" in [p.name for p in shipped_presets(host)]
    records = open_records(record_stores(host, tmp_path / "user", shipped=True), host)
    shipped = open_records(record_stores(avx2, tmp_path / "user", shipped=True), avx2)
    # Every record shipped for x86-avx2 applies to a compile for this CPU.
    assert records.records == shipped.records > 0

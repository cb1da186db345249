"""A store lists each workload once, so TVM's JSONDatabase numbers what it appends rightly.

The same kernel can reach a store twice (merged from two tunes, its parameters named
differently); JSONDatabase keeps only the first of two lines with one structural hash and
then numbers each workload it appends by the count it kept, so every record appended after
would point at the wrong workload. Merging keys workloads by hash, and a store holding a
repeat is rewritten before the tuner opens it.
"""

from __future__ import annotations

from ember.compiler.target import resolve
from ember.compiler.tuning import database, records, store

from .helpers import fake_store, softmax_model


def _repeat_first_workload(path):
    file = path / store.WORKLOAD_FILE
    first = file.read_text().splitlines()[0]
    file.write_text(file.read_text() + first + "\n")


def test_tuning_into_a_store_with_a_repeated_workload_keeps_records_on_their_kernels(tmp_path):
    target = resolve("x86")
    (tmp_path / "w").mkdir()
    softmax, wide = softmax_model(tmp_path), softmax_model(tmp_path / "w", rows=8, cols=128)
    path = tmp_path / "store"
    fake_store(path, softmax)
    _repeat_first_workload(path)
    assert store.read_store(path).duplicate_workloads == 1

    database.open_for_tuning(path, target)  # as `ember tune` opens it: repaired first
    assert store.read_store(path).duplicate_workloads == 0
    fake_store(path, wide)  # appends a new workload and its record through JSONDatabase

    loaded = database.load_stores([path], target)
    assert loaded.problems == [] and loaded.records == 2


def test_merge_keys_workloads_by_structural_hash(tmp_path):
    softmax = softmax_model(tmp_path)
    a, b = tmp_path / "a", tmp_path / "b"
    fake_store(a, softmax, seconds=1e-5)
    fake_store(b, softmax, seconds=2e-5)
    _repeat_first_workload(b)
    records.merge([a, b], tmp_path / "merged", store.read_stamp(a)["tvm_version"])
    merged = store.read_store(tmp_path / "merged")
    assert len(merged.workloads) == 1 and merged.duplicate_workloads == 0
    assert len(merged.records) == 2


def test_merge_skips_records_of_a_kernel_already_there_under_other_names(tmp_path):
    import onnx

    softmax = softmax_model(tmp_path)
    renamed_model = onnx.load(softmax)
    renamed_model.graph.input[0].name = "data"
    renamed_model.graph.node[0].input[0] = "data"
    renamed = tmp_path / "renamed.onnx"
    onnx.save(renamed_model, renamed)
    a, b = tmp_path / "a", tmp_path / "b"
    fake_store(a, softmax)
    fake_store(b, renamed)
    assert store.read_store(a).workloads[0][0] == store.read_store(b).workloads[0][0]
    assert store.read_store(a).workloads[0][1] != store.read_store(b).workloads[0][1]
    _, problems = records.merge([a, b], tmp_path / "m", store.read_stamp(a)["tvm_version"])
    assert problems == ["1 record(s) of kernels already merged under other names skipped"]
    merged = store.read_store(tmp_path / "m")
    assert len(merged.workloads) == 1 and len(merged.records) == 1

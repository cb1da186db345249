"""The tuner races the OpenBLAS plugin per kernel, and a compile keeps the faster of the two.

A tune turns each library matmul/conv2d into a task of its own and times the library on the
same shapes (`library_times.json`); a compile runs the generated kernel only where its record
beats that time. The tune here is tiny; the race's outcome is then forced both ways by
rewriting the library time, so the test checks the decision, not the machine's speed.
"""

from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import ember
from ember.compiler.api import compile_model
from ember.compiler.libraries import onednn
from ember.compiler.options import CompileOptions
from ember.compiler.target import resolve
from ember.compiler.tuning.library_race import LIBRARY_TIMES_FILE, GenerateAll
from ember.compiler.tuning.tasks import extract_tasks, lowered_module
from ember.runtime import read_manifest
from tests.conftest import assert_close_to_ort

from .test_records_apply import EMBER

pytestmark = [pytest.mark.tuning]


def dense_relu_model(folder):
    """y = relu(x @ W + b): one library matmul and one epilogue kernel."""
    rng = np.random.default_rng(7)
    weight = numpy_helper.from_array(rng.standard_normal((32, 16)).astype(np.float32), "w")
    bias = numpy_helper.from_array(rng.standard_normal(16).astype(np.float32), "b")
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "w"], ["xw"], name="dense"),
            helper.make_node("Add", ["xw", "b"], ["z"], name="bias"),
            helper.make_node("Relu", ["z"], ["y"], name="act"),
        ],
        "dense",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [8, 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [8, 16])],
        [weight, bias],
    )
    path = folder / "dense.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_library_calls_become_tasks_whose_keys_match_the_sites(tmp_path):
    target = resolve("x86")
    choice = GenerateAll()
    tasks = extract_tasks(
        lowered_module(dense_relu_model(tmp_path), target, {}, choice=choice), target
    )
    (site,) = choice.sites.values()
    assert site.op == "matmul" and site.shapes == ((8, 32), (32, 16), (8, 16))
    assert site.key in {t.key for t in tasks}  # the compile computes the tuner's key
    assert len(tasks) == 2  # the generated matmul and the bias + relu epilogue


def _set_library_time(store, seconds):
    file = store / LIBRARY_TIMES_FILE
    entries = [json.loads(line) for line in file.read_text().splitlines()]
    file.write_text("".join(json.dumps({**e, "seconds": seconds}) + "\n" for e in entries))


def _compile_and_check(model, store, out):
    options = CompileOptions(records=store)
    manifest = read_manifest(compile_model(model, "x86", out, options))
    feed = {"x": np.random.default_rng(1).standard_normal((8, 32)).astype(np.float32)}
    assert_close_to_ort(model, feed, ember.load(out).run(feed))
    return manifest


@pytest.mark.slow
def test_tune_times_the_library_and_compile_keeps_the_faster(tmp_path):
    model, store = dense_relu_model(tmp_path), tmp_path / "store"
    env = {**os.environ, "EMBER_CACHE_DIR": str(tmp_path / "cache"), "COLUMNS": "200"}
    cmd = [EMBER, "tune", str(model), "--records", str(store), "--trials", "8"]
    done = subprocess.run(
        [*cmd, "--per-batch", "4", "--population", "64"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "timing the library on 1 kernels it races" in done.stderr
    (entry,) = [json.loads(line) for line in (store / LIBRARY_TIMES_FILE).read_text().splitlines()]
    assert entry["op"] == "matmul" and 0 < entry["seconds"] < 0.01

    _set_library_time(store, 1.0)  # the library "loses": the tuned kernel runs
    manifest = _compile_and_check(model, store, tmp_path / "generated.so")
    assert manifest["tuning"]["library_race"] == {"generated": 1, "library": 0}
    assert manifest["plugins"] == []

    _set_library_time(store, 1e-12)  # the library "wins": oneDNN runs
    manifest = _compile_and_check(model, store, tmp_path / "library.so")
    assert manifest["tuning"]["library_race"] == {"generated": 0, "library": 1}
    assert manifest["plugins"] == [onednn.PLUGIN]


def test_compile_without_library_times_dispatches_as_before(tmp_path):
    model = dense_relu_model(tmp_path)
    manifest = _compile_and_check(model, tmp_path / "empty-store", tmp_path / "m.so")
    assert "library_race" not in manifest["tuning"]
    assert manifest["plugins"] == [onednn.PLUGIN]


def test_export_keeps_the_library_times_of_the_exported_kernels(tmp_path):
    from ember.compiler.tuning import records, store

    from .helpers import fake_store, softmax_model

    source, dest = tmp_path / "source", tmp_path / "shipped"
    fake_store(source, softmax_model(tmp_path))
    (key,) = store.read_store(source).best_per_workload()
    lines = [{"key": key, "op": "matmul", "seconds": 2e-5}, {"key": "123", "seconds": 1.0}]
    (source / LIBRARY_TIMES_FILE).write_text(
        "".join(json.dumps(line) + "\n" for line in lines) + '{"torn'
    )
    records.export(source, dest, keep=1)
    shipped = [json.loads(line) for line in (dest / LIBRARY_TIMES_FILE).read_text().splitlines()]
    assert shipped == [lines[0]]

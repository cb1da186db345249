"""The Python facade: load, inputs/outputs, run forms, DLPack, InferenceSession, threads."""

from __future__ import annotations

import threading

import numpy as np
import onnx
import pytest

import ember
from ember.compiler.examples.reference import ort_outputs
from tests.conftest import random_feed


@pytest.fixture(scope="module")
def cnn(compile_example):
    source, artifact = compile_example("cnn")
    return source, ember.load(artifact)


def test_inputs_and_outputs_describe_the_model(cnn):
    _, model = cnn
    assert [(i.name, i.shape, i.dtype) for i in model.inputs] == [
        ("input", (1, 3, 32, 32), "float32")
    ]
    assert [(o.name, o.shape, o.dtype) for o in model.outputs] == [("logits", (1, 10), "float32")]
    assert model.manifest["target"]["device"] == "cpu"
    assert model.manifest["inputs"][0]["name"] == "input"


def test_run_forms_agree(cnn):
    source, model = cnn
    x = random_feed(onnx.load(source))["input"]
    by_name = model.run({"input": x})[0]
    np.testing.assert_array_equal(model.run([x])[0], by_name)
    np.testing.assert_array_equal(model.run(x)[0], by_name)
    np.testing.assert_array_equal(model(x)[0], by_name)
    np.testing.assert_array_equal(model(input=x)[0], by_name)


def test_dlpack_and_non_contiguous_inputs(cnn):
    source, model = cnn
    x = random_feed(onnx.load(source))["input"]
    expected = model.run(x)[0]

    class Producer:  # any object with __dlpack__ is accepted
        def __init__(self, array):
            self.array = array

        def __dlpack__(self, **kwargs):
            return self.array.__dlpack__(**kwargs)

        def __dlpack_device__(self):
            return self.array.__dlpack_device__()

    np.testing.assert_array_equal(model.run(Producer(x))[0], expected)
    transposed = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    np.testing.assert_array_equal(model.run(transposed)[0], expected)
    readonly = x.copy()
    readonly.flags.writeable = False
    np.testing.assert_array_equal(model.run(readonly)[0], expected)


def test_misaligned_input_is_handled(cnn):
    source, model = cnn
    x = random_feed(onnx.load(source))["input"]
    raw = np.zeros(x.nbytes + 4, dtype=np.uint8)
    shifted = raw[4:].view(np.float32).reshape(x.shape)  # 4-byte, not 64-byte, aligned
    shifted[...] = x
    np.testing.assert_array_equal(model.run(shifted)[0], model.run(x)[0])


def test_inference_session_has_onnxruntime_semantics(cnn):
    source, model = cnn
    session = ember.InferenceSession(model.path)
    assert [(i.name, i.shape, i.type) for i in session.get_inputs()] == [
        ("input", [1, 3, 32, 32], "tensor(float)")
    ]
    feed = random_feed(onnx.load(source), seed=5)
    (logits,) = session.run(["logits"], feed)
    np.testing.assert_allclose(logits, ort_outputs(str(source), feed)[0], rtol=1e-4, atol=1e-4)
    assert len(session.run(None, feed)) == 1
    with pytest.raises(ember.errors.InputError, match="unknown output 'nope'"):
        session.run(["nope"], feed)


def test_concurrent_runs_match_sequential_runs(cnn):
    source, model = cnn
    feeds = [random_feed(onnx.load(source), seed=s) for s in range(8)]
    expected = [model.run(f)[0] for f in feeds]
    mismatches: list[int] = []

    def worker(index: int) -> None:
        for _ in range(25):
            got = model.run(feeds[index])[0]
            if not np.array_equal(got, expected[index]):
                mismatches.append(index)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert mismatches == []


def test_outputs_outlive_the_model(compile_example):
    source, artifact = compile_example("mlp")
    model = ember.load(artifact)
    feed = random_feed(onnx.load(source))
    outputs = model.run(feed)
    del model
    np.testing.assert_allclose(outputs[0], ort_outputs(str(source), feed)[0], rtol=1e-4, atol=1e-5)


def test_relative_artifact_path_loads(compile_example, monkeypatch):
    source, artifact = compile_example("mlp")
    monkeypatch.chdir(artifact.parent)
    model = ember.load(artifact.name)  # no slash: must not go through the library search path
    feed = random_feed(onnx.load(source))
    np.testing.assert_allclose(
        model.run(feed)[0], ort_outputs(str(source), feed)[0], rtol=1e-4, atol=1e-5
    )

"""Compiled models match ONNX Runtime within 1e-4 relative."""

from __future__ import annotations

import onnx
import pytest

import ember
from ember.compiler.examples import models
from tests.conftest import assert_close_to_ort, random_feed


@pytest.mark.parametrize("name", ["cnn", "transformer", "mlp"])
def test_example_models_match_onnxruntime(compile_example, name):
    source, artifact = compile_example(name)
    proto = onnx.load(source)
    feed = random_feed(proto, seed=1)
    outputs = ember.load(artifact).run(feed)
    assert_close_to_ort(source, feed, outputs)


@pytest.mark.parametrize("threads", [1, 2])
def test_thread_count_does_not_change_results(compile_example, threads):
    source, artifact = compile_example("cnn")
    feed = random_feed(onnx.load(source), seed=2)
    model = ember.load(artifact, threads=threads)
    assert model.threads == threads
    assert_close_to_ort(source, feed, model.run(feed))


def test_symbolic_batch_accepts_any_value(compile_example):
    source, artifact = compile_example("cnn_dyn", models.small_cnn(batch="batch"))
    model = ember.load(artifact)
    assert model.inputs[0].shape == ("batch", 3, 32, 32)
    for batch in (1, 3):
        feed = random_feed(onnx.load(source), seed=batch, batch=batch)
        outputs = model.run(feed)
        assert outputs[0].shape == (batch, 10)
        assert_close_to_ort(source, feed, outputs)


def test_input_shape_pins_a_symbolic_dimension(compile_example):
    source, artifact = compile_example(
        "transformer_dyn", models.transformer_block(batch="batch"), hidden=(2, 32, 64)
    )
    model = ember.load(artifact)
    assert model.inputs[0].shape == (2, 32, 64)
    feed = random_feed(onnx.load(source), batch=2)
    assert_close_to_ort(source, feed, model.run(feed))

"""Dropout whose ratio and training_mode are graph inputs: identity unless asked to be random."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import ember
from ember.errors import InputError
from tests.conftest import assert_close_to_ort

SHAPE = (3, 4)


def dropout(with_training: bool) -> onnx.ModelProto:
    names = ["x", "ratio", "training"] if with_training else ["x", "ratio"]
    node = helper.make_node("Dropout", names, ["y", "mask"])
    inputs = [
        helper.make_tensor_value_info("x", TensorProto.FLOAT, list(SHAPE)),
        helper.make_tensor_value_info("ratio", TensorProto.FLOAT, []),
    ]
    if with_training:
        inputs.append(helper.make_tensor_value_info("training", TensorProto.BOOL, []))
    graph = helper.make_graph(
        [node],
        "run_time_dropout",
        inputs,
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, list(SHAPE)),
            helper.make_tensor_value_info("mask", TensorProto.BOOL, list(SHAPE)),
        ],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


X = np.random.default_rng(0).uniform(-1, 1, SHAPE).astype(np.float32)


def test_inference_ignores_the_run_time_ratio(compile_example):
    source, artifact = compile_example("dropout_ratio", dropout(with_training=False))
    model = ember.load(artifact)
    assert [i.name for i in model.inputs] == ["x", "ratio"]
    for ratio in [0.0, 0.5, 0.9]:
        feed = {"x": X, "ratio": np.array(ratio, np.float32)}
        got = model.run(feed)
        np.testing.assert_array_equal(got[0], X)
        assert got[1].dtype == np.bool_ and got[1].all()
        assert_close_to_ort(source, feed, got)


@pytest.mark.parametrize(("ratio", "training"), [(0.5, False), (0.0, False), (0.0, True)])
def test_identity_whenever_not_random(compile_example, ratio, training):
    source, artifact = compile_example("dropout_training", dropout(with_training=True))
    model = ember.load(artifact)
    feed = {"x": X, "ratio": np.array(ratio, np.float32), "training": np.array(training)}
    got = model.run(feed)
    np.testing.assert_array_equal(got[0], X)
    assert got[1].all()
    assert_close_to_ort(source, feed, got)


def test_training_with_a_nonzero_ratio_is_a_run_time_error(compile_example):
    _, artifact = compile_example("dropout_training", dropout(with_training=True))
    model = ember.load(artifact)
    feed = {"x": X, "ratio": np.array(0.25, np.float32), "training": np.array(True)}
    with pytest.raises(InputError, match="Dropout in training mode with a nonzero ratio"):
        model.run(feed)

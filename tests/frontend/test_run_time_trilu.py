"""Trilu whose diagonal offset k is a graph input: one artifact serves every k."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import ember
from tests.conftest import assert_close_to_ort

SHAPE = (2, 3, 5)


def trilu(upper: int) -> onnx.ModelProto:
    node = helper.make_node("Trilu", ["x", "k"], ["y"], upper=upper)
    graph = helper.make_graph(
        [node],
        "run_time_trilu",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, list(SHAPE)),
            helper.make_tensor_value_info("k", TensorProto.INT64, []),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(SHAPE))],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])


@pytest.mark.parametrize("upper", [1, 0])
def test_every_k_matches_numpy_and_onnxruntime(compile_example, upper):
    source, artifact = compile_example(f"trilu_{upper}", trilu(upper))
    model = ember.load(artifact)
    assert [i.name for i in model.inputs] == ["x", "k"]
    x = np.random.default_rng(0).uniform(-1, 1, SHAPE).astype(np.float32)
    for k in [0, 1, -1, 4, -3, 7, -9]:
        feed = {"x": x, "k": np.array(k, np.int64)}
        (got,) = model.run(feed)
        want = np.triu(x, k) if upper else np.tril(x, k)
        np.testing.assert_array_equal(got, want)
        assert_close_to_ort(source, feed, [got])

"""Hann, Hamming and Blackman windows whose size is a graph input: one artifact, any size."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import ember
from tests.conftest import assert_close_to_ort


def window(op_type: str, periodic: int, output_datatype: int) -> onnx.ModelProto:
    node = helper.make_node(
        op_type, ["size"], ["w"], periodic=periodic, output_datatype=output_datatype
    )
    graph = helper.make_graph(
        [node],
        "run_time_window",
        [helper.make_tensor_value_info("size", TensorProto.INT32, [])],
        # The window's length is the size input's value.
        [helper.make_tensor_value_info("w", output_datatype, [None])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("op_type", ["HannWindow", "HammingWindow", "BlackmanWindow"])
@pytest.mark.parametrize("periodic", [1, 0])
def test_every_size_matches_onnxruntime(compile_example, op_type, periodic):
    name = f"{op_type}_{periodic}"
    source, artifact = compile_example(name, window(op_type, periodic, TensorProto.FLOAT))
    model = ember.load(artifact)
    assert [i.name for i in model.inputs] == ["size"]
    # Not sizes 1 and 2: a symmetric window of size 1 divides by 0 (ONNX Runtime answers NaN,
    # Ember as for a constant size the value at phase 0), and Blackman's values there are
    # rounding noise around 0 that a relative comparison cannot judge.
    for size in [3, 7, 10]:
        feed = {"size": np.array(size, np.int32)}
        (got,) = model.run(feed)
        assert got.shape == (size,) and got.dtype == np.float32
        assert_close_to_ort(source, feed, [got])


def test_double_output(compile_example):
    source, artifact = compile_example("hann_double", window("HannWindow", 1, TensorProto.DOUBLE))
    model = ember.load(artifact)
    for size in [3, 16]:
        feed = {"size": np.array(size, np.int32)}
        (got,) = model.run(feed)
        want = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(size) / size)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
        assert_close_to_ort(source, feed, [got])

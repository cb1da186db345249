"""Unsqueeze and Squeeze become reshapes: views of their input instead of copies of it."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from tvm.relax.frontend.onnx import from_onnx

import ember
from ember.compiler.passes.shape_ops_as_views import shape_ops_as_views
from tests.conftest import assert_close_to_ort

HEADS, DIM = 2, 8


def stacked_cache() -> onnx.ModelProto:
    """A decoder's cache output: each layer's grown cache unsqueezed, then the layers stacked.

    The cache length is symbolic, as in a decode step; a Squeeze reads one layer back.
    """
    past = helper.make_tensor_value_info("past", TensorProto.FLOAT, [1, HEADS, "past", DIM])
    new = helper.make_tensor_value_info("new", TensorProto.FLOAT, [1, HEADS, 1, DIM])
    nodes = [
        helper.make_node("Concat", ["past", "new"], ["grown"], axis=2),
        helper.make_node("Neg", ["grown"], ["other"]),
        helper.make_node("Unsqueeze", ["grown", "axis0"], ["g0"]),
        helper.make_node("Unsqueeze", ["other", "axis0"], ["g1"]),
        helper.make_node("Concat", ["g0", "g1"], ["cache"], axis=0),
        helper.make_node("Squeeze", ["g1", "axis0"], ["back"]),
        helper.make_node("Mul", ["back", "grown"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "stacked_cache",
        [past, new],
        [
            helper.make_tensor_value_info("cache", TensorProto.FLOAT, [2, 1, HEADS, None, DIM]),
            helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, HEADS, None, DIM]),
        ],
        [numpy_helper.from_array(np.array([0], np.int64), "axis0")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_no_unsqueeze_or_squeeze_is_left_to_copy():
    before = from_onnx(stacked_cache(), keep_params_in_input=False).script()
    assert "R.expand_dims" in before and "R.squeeze" in before
    text = shape_ops_as_views(from_onnx(stacked_cache(), keep_params_in_input=False)).script()
    assert "R.expand_dims" not in text and "R.squeeze" not in text


@pytest.mark.parametrize("past", [0, 5])
def test_numbers_match_onnxruntime(compile_example, past):
    source, artifact = compile_example("stacked_cache", stacked_cache())
    rng = np.random.default_rng(past)
    feed = {
        "past": rng.standard_normal((1, HEADS, past, DIM), dtype=np.float32),
        "new": rng.standard_normal((1, HEADS, 1, DIM), dtype=np.float32),
    }
    assert_close_to_ort(source, feed, ember.load(artifact).run(feed))

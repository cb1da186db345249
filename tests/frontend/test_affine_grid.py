"""AffineGrid whose size is a graph input: one artifact serves every grid size."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

import ember
from tests.conftest import assert_close_to_ort


@pytest.mark.parametrize("align_corners", [0, 1])
@pytest.mark.parametrize("rank", [2, 3])
def test_size_given_at_run_time_matches_onnxruntime(compile_example, align_corners, rank):
    node = helper.make_node("AffineGrid", ["theta", "size"], ["grid"], align_corners=align_corners)
    graph = helper.make_graph(
        [node],
        "affine_grid",
        [
            helper.make_tensor_value_info("theta", TensorProto.FLOAT, [2, rank, rank + 1]),
            helper.make_tensor_value_info("size", TensorProto.INT64, [rank + 2]),
        ],
        [helper.make_tensor_value_info("grid", TensorProto.FLOAT, [2, *[None] * rank, rank])],
    )
    model_proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    source, artifact = compile_example(f"affine_grid_{rank}d_{align_corners}", model_proto)
    model = ember.load(artifact)
    theta = np.random.default_rng(0).standard_normal((2, rank, rank + 1)).astype(np.float32)
    for spatial in [[3, 5, 4][:rank], [2, 6, 2][:rank], [4, 3, 7][-rank:]]:
        feed = {"theta": theta, "size": np.array([2, 3, *spatial], np.int64)}
        (got,) = model.run(feed)
        assert got.shape == (2, *spatial, rank)
        assert_close_to_ort(source, feed, [got])

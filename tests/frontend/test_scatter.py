"""Col2Im, TensorScatter and ScatterElements against ONNX Runtime."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

import ember
from tests.conftest import assert_close_to_ort
from tests.frontend.single_node import assert_matches_ort, one_node_model


@pytest.mark.parametrize(
    ("image", "block", "attrs"),
    [
        ([5, 5], [2, 2], {}),
        ([6, 5], [3, 2], {"strides": [2, 1], "pads": [1, 0, 1, 1], "dilations": [1, 2]}),
        ([3, 4, 3], [2, 2, 2], {}),
    ],
)
def test_col2im_sums_overlapping_blocks(tmp_path, image, block, attrs):
    rank = len(image)
    pads = attrs.get("pads", [0] * 2 * rank)
    strides = attrs.get("strides", [1] * rank)
    dilations = attrs.get("dilations", [1] * rank)
    blocks = 1
    for d in range(rank):
        span = dilations[d] * (block[d] - 1) + 1
        blocks *= (image[d] + pads[d] + pads[d + rank] - span) // strides[d] + 1
    x = np.random.default_rng(0).standard_normal([2, 3 * int(np.prod(block)), blocks])
    x = x.astype(np.float32)
    consts = {"image": np.array(image, np.int64), "block": np.array(block, np.int64)}
    model = one_node_model("Col2Im", {"x": x}, ["y"], 18, consts, **attrs)
    assert_matches_ort(tmp_path, model, {"x": x})


def test_col2im_shapes_given_at_run_time(compile_example):
    """One artifact takes each run's image and block shapes: 12 columns of 12 positions."""
    node = helper.make_node(
        "Col2Im", ["x", "image", "block"], ["y"], strides=[1, 2], pads=[1, 0, 0, 1]
    )
    graph = helper.make_graph(
        [node],
        "col2im_run_time",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 12, 12]),
            helper.make_tensor_value_info("image", TensorProto.INT64, [2]),
            helper.make_tensor_value_info("block", TensorProto.INT64, [2]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, None, None, None])],
    )
    source, artifact = compile_example(
        "col2im_run_time", helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    )
    model = ember.load(artifact)
    x = np.random.default_rng(0).standard_normal((2, 12, 12)).astype(np.float32)
    # (image, block): padded image minus the block, over the strides, leaves 12 positions.
    for image, block in [([4, 6], [2, 2]), ([2, 7], [1, 2]), ([4, 7], [3, 1]), ([3, 7], [1, 3])]:
        feed = {"x": x, "image": np.array(image, np.int64), "block": np.array(block, np.int64)}
        (got,) = model.run(feed)
        assert got.shape == (2, 12 // int(np.prod(block)), *image)
        assert_close_to_ort(source, feed, [got])


@pytest.mark.parametrize(("mode", "axis"), [("linear", -2), ("circular", -2), ("linear", 1)])
def test_tensor_scatter_writes_each_batch_from_its_index(tmp_path, mode, axis):
    rng = np.random.default_rng(1)
    cache = rng.standard_normal([2, 3, 6, 4]).astype(np.float32)
    shape = [2, 3, 6, 4]
    shape[axis] = 2 if axis == 1 else 3
    update = rng.standard_normal(shape).astype(np.float32)
    write = np.array([1, 4] if mode == "circular" else [0, 1 if axis == 1 else 3], np.int64)
    feed = {"cache": cache, "update": update, "write": write}
    model = one_node_model("TensorScatter", feed, ["y"], 24, mode=mode, axis=axis)
    assert_matches_ort(tmp_path, model, feed)


def test_scatter_elements_with_add(tmp_path):
    rng = np.random.default_rng(2)
    data = rng.standard_normal([3, 5]).astype(np.float32)
    index = np.array([[0, 4, 4], [1, 1, 2], [3, 0, 3]], np.int64)  # repeats accumulate
    feed = {"data": data, "index": index, "update": rng.standard_normal([3, 3]).astype("f")}
    model = one_node_model("ScatterElements", feed, ["y"], 18, axis=1, reduction="add")
    assert_matches_ort(tmp_path, model, feed)

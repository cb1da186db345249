"""NonMaxSuppression: ONNX's strict IoU test at the threshold; limits given at run time."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import ember
from ember.compiler.api import compile_model
from ember.compiler.examples.reference import ort_outputs

F = TensorProto.FLOAT


def nms_model(iou_as_input: bool, max_out_as_input: bool = False) -> onnx.ModelProto:
    inits = []
    inputs = [
        helper.make_tensor_value_info("boxes", F, [1, 3, 4]),
        helper.make_tensor_value_info("scores", F, [1, 1, 3]),
    ]
    if max_out_as_input:
        inputs.append(helper.make_tensor_value_info("max_out", TensorProto.INT64, [1]))
    else:
        inits.append(numpy_helper.from_array(np.array([3], np.int64), "max_out"))
    if iou_as_input:
        inputs.append(helper.make_tensor_value_info("iou", F, [1]))
    else:
        inits.append(numpy_helper.from_array(np.array([0.5], np.float32), "iou"))
    node = helper.make_node("NonMaxSuppression", ["boxes", "scores", "max_out", "iou"], ["sel"])
    graph = helper.make_graph(
        [node], "nms", inputs, [helper.make_tensor_value_info("sel", TensorProto.INT64, [None, 3])]
    )
    graph.initializer.extend(inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_a_box_at_exactly_the_iou_threshold_is_kept(tmp_path):
    # Box 1 overlaps box 0 with IoU exactly 0.5 (intersection 0.5, union 1): ONNX keeps it.
    boxes = np.array([[[0, 0, 1, 1], [0, 0, 1, 0.5], [5, 5, 6, 6]]], np.float32)
    feed = {"boxes": boxes, "scores": np.array([[[0.9, 0.8, 0.7]]], np.float32)}
    source = tmp_path / "nms.onnx"
    onnx.save(nms_model(iou_as_input=False), source)
    got = ember.load(compile_model(source, "x86", tmp_path / "nms.so")).run(feed)
    (want,) = ort_outputs(str(source), feed)
    assert want.shape == (3, 3)
    np.testing.assert_array_equal(got[0], want)


def test_an_iou_threshold_given_at_run_time_matches_onnxruntime(tmp_path):
    """The IoU threshold is a graph input: one artifact, any value (at the threshold itself,
    ONNX keeps the box)."""
    source = tmp_path / "nms.onnx"
    onnx.save(nms_model(iou_as_input=True), source)
    model = ember.load(compile_model(source, "x86", tmp_path / "nms.so"))
    boxes = np.array([[[0, 0, 1, 1], [0, 0, 1, 0.5], [5, 5, 6, 6]]], np.float32)
    scores = np.array([[[0.9, 0.8, 0.7]]], np.float32)
    for iou in (0.5, 0.3, 0.6, 0.0):
        feed = {"boxes": boxes, "scores": scores, "iou": np.array([iou], np.float32)}
        (want,) = ort_outputs(str(source), feed)
        np.testing.assert_array_equal(model.run(feed)[0], want)


def limits_model(center_point_box: int) -> onnx.ModelProto:
    """Two batches of five boxes, two classes; the box limit and both thresholds are inputs."""
    names = ["boxes", "scores", "max_out", "iou", "score"]
    node = helper.make_node("NonMaxSuppression", names, ["sel"], center_point_box=center_point_box)
    inputs = [
        helper.make_tensor_value_info("boxes", F, [2, 5, 4]),
        helper.make_tensor_value_info("scores", F, [2, 2, 5]),
        helper.make_tensor_value_info("max_out", TensorProto.INT64, [1]),
        helper.make_tensor_value_info("iou", F, [1]),
        helper.make_tensor_value_info("score", F, [1]),
    ]
    out = helper.make_tensor_value_info("sel", TensorProto.INT64, [None, 3])
    graph = helper.make_graph([node], "nms_limits", inputs, [out])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("center_point_box", [0, 1])
def test_a_run_time_box_limit_matches_onnxruntime(tmp_path, center_point_box):
    """One artifact, any box limit (0 selects nothing; above the box count, no cut)."""
    source = tmp_path / "nms_limits.onnx"
    onnx.save(limits_model(center_point_box), source)
    model = ember.load(compile_model(source, "x86", tmp_path / "nms_limits.so"))
    rng = np.random.default_rng(0)
    corners = rng.uniform(0, 4, (2, 5, 2)).astype(np.float32)
    boxes = np.concatenate([corners, corners + rng.uniform(1, 3, (2, 5, 2))], axis=2)
    scores = rng.uniform(0, 1, (2, 2, 5)).astype(np.float32)
    for limit, iou, score in [
        (0, 0.5, 0.0),
        (1, 0.5, 0.0),
        (2, 0.3, 0.2),
        (3, 0.9, 0.5),
        (9, 1.0, 0.0),
    ]:
        feed = {
            "boxes": boxes.astype(np.float32),
            "scores": scores,
            "max_out": np.array([limit], np.int64),
            "iou": np.array([iou], np.float32),
            "score": np.array([score], np.float32),
        }
        (want,) = ort_outputs(str(source), feed)
        (got,) = model.run(feed)
        assert got.shape == want.shape, (limit, iou, score)
        np.testing.assert_array_equal(got, want)

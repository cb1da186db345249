"""Pad whose pads are a graph input: one artifact, any pads (the output extent follows)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import ember
from ember.compiler.api import compile_model
from ember.compiler.examples.reference import ort_outputs


def run_time_pads_model(mode: str, axes: bool = False) -> onnx.ModelProto:
    inputs = [
        helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 4]),
        helper.make_tensor_value_info("pads", TensorProto.INT64, [2 if axes else 4]),
    ]
    names = ["x", "pads"]
    if mode == "constant" or axes:
        inputs.append(helper.make_tensor_value_info("value", TensorProto.FLOAT, []))
        names.append("value")
    if axes:
        inputs.append(helper.make_tensor_value_info("axes", TensorProto.INT64, [1]))
        names.append("axes")
    node = helper.make_node("Pad", names, ["y"], name="pad", mode=mode)
    out = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, None])]
    graph = helper.make_graph([node], "pad", inputs, out)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "wrap"])
def test_run_time_pads_match_onnxruntime(tmp_path, mode):
    source = tmp_path / f"pad_{mode}.onnx"
    onnx.save(run_time_pads_model(mode), source)
    model = ember.load(compile_model(source, "x86", tmp_path / f"pad_{mode}.so"))
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    # Growing, one-sided, cropping (negative) and no padding, through one artifact.
    for pads in ([0, 1, 2, 0], [1, 0, 0, 2], [0, -1, 1, 0], [0, 0, 0, 0]):
        feed = {"x": x, "pads": np.array(pads, np.int64)}
        if mode == "constant":
            feed["value"] = np.array(7.5, np.float32)
        (want,) = ort_outputs(str(source), feed)
        (got,) = model.run(feed)
        assert got.shape == want.shape, pads
        np.testing.assert_array_equal(got, want)


def test_run_time_axes_pad_only_the_dimension_they_name(tmp_path):
    source = tmp_path / "pad_axes.onnx"
    onnx.save(run_time_pads_model("constant", axes=True), source)
    model = ember.load(compile_model(source, "x86", tmp_path / "pad_axes.so"))
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    for axis, pads in [(0, [1, 2]), (1, [2, 0]), (-1, [0, 3]), (-2, [-1, 1])]:
        feed = {
            "x": x,
            "pads": np.array(pads, np.int64),
            "value": np.array(-1.0, np.float32),
            "axes": np.array([axis], np.int64),
        }
        (want,) = ort_outputs(str(source), feed)
        (got,) = model.run(feed)
        assert got.shape == want.shape, (axis, pads)
        np.testing.assert_array_equal(got, want)

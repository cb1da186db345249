"""Slice whose starts, ends, axes and steps are graph inputs: one artifact serves them all."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper

import ember
from tests.conftest import ort_outputs

SHAPE = (4, 5, 6)
OPERANDS = ["starts", "ends", "axes", "steps"]


def sliced(count: int) -> onnx.ModelProto:
    node = helper.make_node("Slice", ["x", *OPERANDS], ["y"])
    graph = helper.make_graph(
        [node],
        "run_time_slice",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(SHAPE))]
        + [helper.make_tensor_value_info(n, TensorProto.INT64, [count]) for n in OPERANDS],
        # Every extent depends on the operands' values.
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, None, None])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def test_every_choice_of_operands_matches_onnxruntime(compile_example):
    source, artifact = compile_example("slice_operands", sliced(2))
    model = ember.load(artifact)
    assert [i.name for i in model.inputs] == ["x", *OPERANDS]
    x = np.arange(np.prod(SHAPE), dtype=np.float32).reshape(SHAPE)
    choices = [
        ([0, 1], [3, -1], [0, 2], [1, 2]),  # negative end
        ([-1, 5], [-100, -7], [1, 2], [-1, -2]),  # negative steps, out-of-bounds ends
        ([-10, 2], [100, 2], [-3, -1], [3, 1]),  # negative axes, empty result
        ([3, 0], [0, 9], [2, 0], [-2, 1]),  # out-of-bounds end, reversed axis order
    ][:4]
    for starts, ends, axes, steps in choices:
        values = (starts, ends, axes, steps)
        feed = {"x": x, **{n: np.array(v, np.int64) for n, v in zip(OPERANDS, values, strict=True)}}
        (got,) = model.run(feed)
        (want,) = ort_outputs(str(source), feed)
        assert got.shape == want.shape
        np.testing.assert_array_equal(got, want)

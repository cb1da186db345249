"""Split whose sizes are a graph input: one artifact serves every choice of sizes."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import ember
from ember.errors import ExecutionError
from tests.conftest import ort_outputs

SHAPE = (3, 6)


def split(pieces: int, axis: int, opset: int) -> onnx.ModelProto:
    outputs = [f"y{i}" for i in range(pieces)]
    node = helper.make_node("Split", ["x", "split"], outputs, axis=axis)
    graph = helper.make_graph(
        [node],
        "run_time_split",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, list(SHAPE)),
            helper.make_tensor_value_info("split", TensorProto.INT64, [pieces]),
        ],
        # Each piece's extent along the axis depends on the sizes' values.
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, [None, None]) for name in outputs],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def assert_equal_to_ort(source, feed, got) -> None:
    """A split copies, so it is exact (and assert_close_to_ort cannot scale by an empty piece)."""
    want = ort_outputs(str(source), feed)
    assert len(got) == len(want)
    for piece, expected in zip(got, want, strict=True):
        np.testing.assert_array_equal(piece, expected)


@pytest.mark.parametrize("opset", [13, 18])
def test_every_choice_of_sizes_matches_onnxruntime(compile_example, opset):
    source, artifact = compile_example(f"split_sizes_{opset}", split(3, 1, opset))
    model = ember.load(artifact)
    assert [i.name for i in model.inputs] == ["x", "split"]
    x = np.arange(18, dtype=np.float32).reshape(SHAPE)
    # Uneven, empty first, empty middle, all in the last piece.
    for sizes in [[1, 2, 3], [0, 4, 2], [3, 0, 3], [0, 0, 6]]:
        feed = {"x": x, "split": np.array(sizes, np.int64)}
        got = model.run(feed)
        assert [piece.shape[1] for piece in got] == sizes
        assert_equal_to_ort(source, feed, got)


def test_sizes_along_the_first_axis(compile_example):
    source, artifact = compile_example("split_sizes_axis0", split(2, 0, 13))
    model = ember.load(artifact)
    x = np.arange(18, dtype=np.float32).reshape(SHAPE)
    for sizes in [[1, 2], [3, 0]]:
        feed = {"x": x, "split": np.array(sizes, np.int64)}
        assert_equal_to_ort(source, feed, model.run(feed))


def test_sizes_that_do_not_add_up_to_the_axis_fail_at_run_time(compile_example):
    """ONNX requires the sizes to cover the axis; reading past it must not happen silently."""
    _, artifact = compile_example("split_sizes_12", split(3, 1, 13))
    model = ember.load(artifact)
    x = np.zeros(SHAPE, np.float32)
    with pytest.raises(ExecutionError, match="mismatch"):
        model.run({"x": x, "split": np.array([2, 2, 4], np.int64)})

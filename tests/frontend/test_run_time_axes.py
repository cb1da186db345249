"""Reductions whose axes are a graph input: one artifact serves every choice of axes."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import ember
from tests.conftest import assert_close_to_ort, save_model
from tests.integration.test_cli import assert_one_line_error
from tests.integration.test_cli import ember as ember_cli

SHAPE = (2, 3, 4)
KINDS = ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceL2", "ReduceLogSumExp", "ReduceProd"]


def reduction(kind: str, keepdims: int, count: int | str) -> onnx.ModelProto:
    node = helper.make_node(kind, ["x", "axes"], ["y"], keepdims=keepdims)
    rank = len(SHAPE) if keepdims else len(SHAPE) - (count if isinstance(count, int) else 1)
    graph = helper.make_graph(
        [node],
        "run_time_axes",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, list(SHAPE)),
            helper.make_tensor_value_info("axes", TensorProto.INT64, [count]),
        ],
        # The output's extents depend on the axes' values: only its rank is declared.
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None] * rank)],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("keepdims", [1, 0])
def test_every_choice_of_axes_matches_onnxruntime(compile_example, kind, keepdims):
    source, artifact = compile_example(f"{kind}_{keepdims}", reduction(kind, keepdims, 1))
    model = ember.load(artifact)
    assert [i.name for i in model.inputs] == ["x", "axes"]
    x = np.random.default_rng(0).uniform(0.5, 1.5, SHAPE).astype(np.float32)
    for axis in [0, 1, 2, -1]:
        feed = {"x": x, "axes": np.array([axis], np.int64)}
        assert_close_to_ort(source, feed, model.run(feed))


def test_two_axes_without_keepdims_give_the_kept_extent(compile_example):
    source, artifact = compile_example("sum_two_axes", reduction("ReduceSum", 0, 2))
    model = ember.load(artifact)
    x = np.arange(24, dtype=np.float32).reshape(SHAPE)
    for axes in [[0, 2], [2, 1], [-3, 1]]:
        feed = {"x": x, "axes": np.array(axes, np.int64)}
        (got,) = model.run(feed)
        np.testing.assert_array_equal(got, x.sum(axis=tuple(axes)))
        assert_close_to_ort(source, feed, [got])


def test_axes_of_unknown_length_without_keepdims_are_one_error_line(tmp_path):
    """The result's rank would depend on a run-time length: the user is told to bind it."""
    path = save_model(reduction("ReduceSum", 0, "k"), tmp_path, "unknown_count")
    proc = ember_cli("compile", str(path), "-o", str(tmp_path / "unknown_count.so"))
    assert_one_line_error(proc, "ReduceSum without keepdims needs axes of a static length")
    assert not (tmp_path / "unknown_count.so").exists()

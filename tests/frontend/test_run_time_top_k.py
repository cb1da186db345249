"""TopK whose k is a graph input: one artifact serves every k."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import ember
from tests.conftest import ort_outputs

SHAPE = (3, 5)


def top_k(axis: int, largest: int, dtype: int = TensorProto.FLOAT) -> onnx.ModelProto:
    node = helper.make_node("TopK", ["x", "k"], ["values", "indices"], axis=axis, largest=largest)
    graph = helper.make_graph(
        [node],
        "run_time_top_k",
        [
            helper.make_tensor_value_info("x", dtype, list(SHAPE)),
            helper.make_tensor_value_info("k", TensorProto.INT64, [1]),
        ],
        # The extent along the axis is k's value.
        [
            helper.make_tensor_value_info("values", dtype, [None, None]),
            helper.make_tensor_value_info("indices", TensorProto.INT64, [None, None]),
        ],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def assert_equal_to_ort(source, feed, got) -> None:
    """Selection is exact (and assert_close_to_ort cannot scale by an empty result)."""
    want = ort_outputs(str(source), feed)
    for result, expected in zip(got, want, strict=True):
        assert result.dtype == expected.dtype
        np.testing.assert_array_equal(result, expected)


@pytest.mark.parametrize("axis", [1, 0, -2])
@pytest.mark.parametrize("largest", [1, 0])
def test_every_k_matches_onnxruntime_with_ties_by_lower_index(compile_example, axis, largest):
    source, artifact = compile_example(f"top_k_{axis}_{largest}", top_k(axis, largest))
    model = ember.load(artifact)
    assert [i.name for i in model.inputs] == ["x", "k"]
    # Few distinct values: many ties, which ONNX breaks by the lower index.
    x = np.random.default_rng(0).integers(0, 3, SHAPE).astype(np.float32)
    for k in range(SHAPE[axis] + 1):
        feed = {"x": x, "k": np.array([k], np.int64)}
        got = model.run(feed)
        assert got[0].shape[axis % 2] == k
        assert_equal_to_ort(source, feed, got)


def test_unsigned_values_sort_by_their_unsigned_order(compile_example):
    """TVM's sort has no uint64: an order-preserving int64 key stands in (ORT has no kernel)."""
    _, artifact = compile_example("top_k_uint64", top_k(1, 1, TensorProto.UINT64))
    model = ember.load(artifact)
    x = np.array([[0, 2**64 - 1, 5, 2**63, 2**63 - 1]] * 3, np.uint64)
    values, indices = model.run({"x": x, "k": np.array([3], np.int64)})
    np.testing.assert_array_equal(indices, [[1, 3, 4]] * 3)
    np.testing.assert_array_equal(values, [[2**64 - 1, 2**63, 2**63 - 1]] * 3)

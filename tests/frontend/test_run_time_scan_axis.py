"""CumSum and CumProd whose axis is a graph input: one artifact serves every axis."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import ember
from tests.conftest import assert_close_to_ort

SHAPE = (2, 3, 4)


def scan(kind: str, exclusive: int, reverse: int, dtype: int) -> onnx.ModelProto:
    node = helper.make_node(kind, ["x", "axis"], ["y"], exclusive=exclusive, reverse=reverse)
    graph = helper.make_graph(
        [node],
        "run_time_scan_axis",
        [
            helper.make_tensor_value_info("x", dtype, list(SHAPE)),
            helper.make_tensor_value_info("axis", TensorProto.INT64, []),
        ],
        [helper.make_tensor_value_info("y", dtype, list(SHAPE))],
    )
    opset = 26 if kind == "CumProd" else 14
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def numpy_scan(kind: str, x: np.ndarray, axis: int, exclusive: int, reverse: int) -> np.ndarray:
    """ONNX's definition, written out: flip, scan, shift by one if exclusive, flip back."""
    data = np.flip(x, axis) if reverse else x
    combine, identity = (np.cumprod, 1) if kind == "CumProd" else (np.cumsum, 0)
    out = combine(data, axis=axis)
    if exclusive:
        out = np.moveaxis(out, axis, 0)
        out = np.concatenate([np.full_like(out[:1], identity), out[:-1]])
        out = np.moveaxis(out, 0, axis)
    return np.flip(out, axis) if reverse else out


@pytest.mark.parametrize("kind", ["CumSum", "CumProd"])
@pytest.mark.parametrize(("exclusive", "reverse"), [(0, 0), (1, 0), (0, 1), (1, 1)])
def test_every_axis_matches_numpy_and_onnxruntime(compile_example, kind, exclusive, reverse):
    model_proto = scan(kind, exclusive, reverse, TensorProto.FLOAT)
    source, artifact = compile_example(f"{kind}_{exclusive}{reverse}", model_proto)
    model = ember.load(artifact)
    assert [i.name for i in model.inputs] == ["x", "axis"]
    x = np.random.default_rng(0).uniform(0.5, 1.5, SHAPE).astype(np.float32)
    for axis in [0, 1, 2, -1, -3]:
        feed = {"x": x, "axis": np.array(axis, np.int64)}
        (got,) = model.run(feed)
        want = numpy_scan(kind, x, axis, exclusive, reverse)
        np.testing.assert_allclose(got, want, rtol=1e-6)
        assert_close_to_ort(source, feed, [got])


def test_integer_scan_is_exact(compile_example):
    _, artifact = compile_example("cumsum_int32", scan("CumSum", 1, 0, TensorProto.INT32))
    model = ember.load(artifact)
    x = np.arange(24, dtype=np.int32).reshape(SHAPE)
    for axis in [0, 2]:
        (got,) = model.run({"x": x, "axis": np.array(axis, np.int64)})
        np.testing.assert_array_equal(got, numpy_scan("CumSum", x, axis, 1, 0))

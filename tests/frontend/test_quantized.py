"""QLinearMatMul, QLinearConv and ConvInteger against ONNX Runtime, bit for bit."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import ember
from ember.compiler.api import compile_model
from ember.compiler.examples.reference import ort_outputs


def run_both(tmp_path, model: onnx.ModelProto, feed: dict[str, np.ndarray]) -> None:
    source = tmp_path / "q.onnx"
    onnx.save(model, source)
    got = ember.load(compile_model(source, "x86", tmp_path / "q.so")).run(feed)
    want = ort_outputs(str(source), feed)
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype
        np.testing.assert_array_equal(g, w)


def make(node: onnx.NodeProto, inputs, inits, out_type: int, opset: int = 21) -> onnx.ModelProto:
    rank = len(inputs[0][2])
    graph = helper.make_graph(
        [node],
        "q",
        [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
        [helper.make_tensor_value_info(node.output[0], out_type, [None] * rank)],
        [numpy_helper.from_array(v, k) for k, v in inits.items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
def test_qlinear_matmul_per_column(tmp_path, dtype):
    rng = np.random.default_rng(0)
    info = np.iinfo(dtype)
    t = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    inits = {
        "a_scale": np.float32(0.05),
        "a_zero": dtype(3),
        "b": rng.integers(info.min, info.max, (16, 5)).astype(dtype),
        "b_scale": rng.uniform(0.01, 0.1, 5).astype(np.float32),
        "b_zero": rng.integers(-2, 3, 5).astype(dtype) if info.min < 0 else np.full(5, 7, dtype),
        "y_scale": np.float32(0.7),
        "y_zero": dtype(-4 if info.min < 0 else 120),
    }
    names = ["a", "a_scale", "a_zero", "b", "b_scale", "b_zero", "y_scale", "y_zero"]
    node = helper.make_node("QLinearMatMul", names, ["y"])
    model = make(node, [("a", t, [2, 3, 16])], inits, t)
    run_both(tmp_path, model, {"a": rng.integers(info.min, info.max, (2, 3, 16)).astype(dtype)})


def test_qlinear_conv_per_channel_bias_padding_groups(tmp_path):
    rng = np.random.default_rng(1)
    u8 = TensorProto.UINT8
    inits = {
        "x_scale": np.float32(0.02),
        "x_zero": np.uint8(128),
        "w": rng.integers(0, 255, (4, 2, 3, 3)).astype(np.uint8),
        "w_scale": rng.uniform(0.005, 0.02, 4).astype(np.float32),
        "w_zero": np.full(4, 128, np.uint8),
        "y_scale": np.float32(0.05),
        "y_zero": np.uint8(100),
        "bias": rng.integers(-500, 500, 4).astype(np.int32),
    }
    names = ["x", "x_scale", "x_zero", "w", "w_scale", "w_zero", "y_scale", "y_zero", "bias"]
    node = helper.make_node("QLinearConv", names, ["y"], pads=[1, 1, 1, 1], strides=[2, 1], group=2)
    model = make(node, [("x", u8, [1, 4, 7, 6])], inits, u8)
    run_both(tmp_path, model, {"x": rng.integers(0, 255, (1, 4, 7, 6)).astype(np.uint8)})


def test_conv_integer_with_zero_points(tmp_path):
    rng = np.random.default_rng(2)
    inits = {
        "w": rng.integers(0, 255, (3, 2, 2, 2)).astype(np.uint8),
        "x_zero": np.uint8(12),
        "w_zero": np.uint8(130),
    }
    node = helper.make_node("ConvInteger", ["x", "w", "x_zero", "w_zero"], ["y"], pads=[0, 1, 0, 1])
    model = make(node, [("x", TensorProto.UINT8, [1, 2, 5, 5])], inits, TensorProto.INT32)
    run_both(tmp_path, model, {"x": rng.integers(0, 255, (1, 2, 5, 5)).astype(np.uint8)})

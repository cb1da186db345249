"""LayerNormalization, RMSNormalization and BatchNormalization against references."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import ember
from ember.compiler.api import compile_model
from ember.compiler.examples.reference import ort_outputs

from .single_node import one_node_model


def norm_model(op_type: str, shape: list[int], axis: int, outputs: int, dtype: int, opset: int):
    """One normalization node; scale (and bias) are constants of shape `shape[axis:]`."""
    rng = np.random.default_rng(0)
    np_dtype = helper.tensor_dtype_to_np_dtype(dtype)
    inner = shape[axis:]
    inits = [numpy_helper.from_array(rng.standard_normal(inner).astype(np_dtype), "scale")]
    inputs = ["x", "scale"]
    if op_type == "LayerNormalization":
        inits.append(numpy_helper.from_array(rng.standard_normal(inner).astype(np_dtype), "bias"))
        inputs.append("bias")
    names = ["y", "mean", "inv_std"][:outputs]
    node = helper.make_node(op_type, inputs, names, axis=axis, epsilon=1e-3)
    stat_shape = [*shape[: axis % len(shape)], *[1] * len(inner)]
    out_types = [dtype, TensorProto.FLOAT, TensorProto.FLOAT]
    out_shapes = [shape, stat_shape, stat_shape]
    graph = helper.make_graph(
        [node],
        "norm",
        [helper.make_tensor_value_info("x", dtype, shape)],
        [
            helper.make_tensor_value_info(n, t, s)
            for n, t, s in zip(names, out_types, out_shapes, strict=False)
        ],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def run_both(tmp_path, model: onnx.ModelProto, x: np.ndarray, rtol: float) -> None:
    source = tmp_path / "norm.onnx"
    onnx.save(model, source)
    got = ember.load(compile_model(source, "x86", tmp_path / "norm.so")).run({"x": x})
    want = ort_outputs(str(source), {"x": x})
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_allclose(g.astype(np.float32), w.astype(np.float32), rtol=rtol, atol=rtol)


@pytest.mark.parametrize(("shape", "axis"), [([3, 4], 0), ([2, 3, 5], 1), ([2, 3, 4, 5], -1)])
def test_layer_norm_mean_and_inv_std_dev(tmp_path, shape, axis):
    model = norm_model("LayerNormalization", shape, axis, 3, TensorProto.FLOAT, 17)
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    run_both(tmp_path, model, x, rtol=1e-5)


def test_layer_norm_float16_statistics_in_float32(tmp_path):
    model = norm_model("LayerNormalization", [2, 8, 6], 1, 3, TensorProto.FLOAT16, 17)
    x = np.random.default_rng(2).standard_normal([2, 8, 6]).astype(np.float16)
    run_both(tmp_path, model, x, rtol=2e-3)


@pytest.mark.parametrize(("shape", "axis"), [([3, 4], 0), ([2, 3, 5], -3), ([2, 3, 5], 1)])
def test_rms_norm_every_axis(tmp_path, shape, axis):
    model = norm_model("RMSNormalization", shape, axis, 1, TensorProto.FLOAT, 23)
    x = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
    run_both(tmp_path, model, x, rtol=1e-5)


@pytest.mark.parametrize("shape", [[2, 3, 4, 5], [4, 3]])
def test_batch_norm_training_mode_uses_batch_statistics(tmp_path, shape):
    # ONNX's definition (the onnx reference implementation's): statistics over every axis but 1.
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape).astype(np.float32) * 3 + 1
    channels = shape[1]
    params = {
        n: rng.random(channels).astype(np.float32) + 0.5 for n in ("scale", "b", "mean", "var")
    }
    model = one_node_model(
        "BatchNormalization",
        {"x": x},
        ["y", "running_mean", "running_var"],
        15,
        constants=params,
        training_mode=1,
        epsilon=1e-2,
        momentum=0.8,
    )
    source = tmp_path / "bn.onnx"
    onnx.save(model, source)
    y, running_mean, running_var = ember.load(compile_model(source, "x86", tmp_path / "bn.so")).run(
        {"x": x}
    )
    axes = tuple(a for a in range(len(shape)) if a != 1)
    bshape = [1, channels] + [1] * (len(shape) - 2)
    batch_mean, batch_var = x.mean(axis=axes), x.var(axis=axes)
    want = (x - batch_mean.reshape(bshape)) / np.sqrt(batch_var.reshape(bshape) + 1e-2)
    want = want * params["scale"].reshape(bshape) + params["b"].reshape(bshape)
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(running_mean, params["mean"] * 0.8 + batch_mean * 0.2, rtol=1e-5)
    np.testing.assert_allclose(running_var, params["var"] * 0.8 + batch_var * 0.2, rtol=1e-5)

"""QuantizeLinear -> DequantizeLinear pairs: the same values as ONNX Runtime, and no transposes
or integer tensors left between NHWC convolutions (the pair becomes float32 rounding)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import ember
from ember.compiler.api import compile_model
from ember.compiler.examples.reference import ort_outputs
from ember.compiler.options import CompileOptions
from tests.conftest import save_model

SCALE = 0.05


def _qdq(name: str, dtype: int, zero: int) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """Quantize then dequantize `name` into `name_dq`, per tensor."""
    np_type = {TensorProto.UINT8: np.uint8, TensorProto.INT8: np.int8}[dtype]
    inits = [
        numpy_helper.from_array(np.array(SCALE, np.float32), f"{name}_s"),
        numpy_helper.from_array(np.array(zero, np_type), f"{name}_z"),
    ]
    nodes = [
        helper.make_node("QuantizeLinear", [name, f"{name}_s", f"{name}_z"], [f"{name}_q"]),
        helper.make_node(
            "DequantizeLinear", [f"{name}_q", f"{name}_s", f"{name}_z"], [f"{name}_dq"]
        ),
    ]
    return nodes, inits


def pair_model(dtype: int, zero: int) -> onnx.ModelProto:
    nodes, inits = _qdq("x", dtype, zero)
    graph = helper.make_graph(
        nodes,
        "qdq_pair",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 64])],
        [helper.make_tensor_value_info("x_dq", TensorProto.FLOAT, [4, 64])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize(("dtype", "zero"), [(TensorProto.UINT8, 128), (TensorProto.INT8, -3)])
def test_pairs_round_exactly_as_onnxruntime(dtype, zero, tmp_path):
    """Ties round half to even, values beyond the integer range saturate, bit for bit."""
    proto = pair_model(dtype, zero)
    source = save_model(proto, tmp_path, "pair")
    artifact = compile_model(source, "x86", tmp_path / "pair.so")
    steps = np.arange(-128, 128, dtype=np.float32)
    x = np.concatenate([steps * SCALE, (steps + 0.5) * SCALE, steps * SCALE * 1.7, steps * 0.3])
    x = x.reshape(4, 256)[:, :64].copy()
    x[0, :4] = [-1e9, 1e9, 7.0, -7.0]
    ours = ember.load(artifact).run({"x": x})[0]
    np.testing.assert_array_equal(ours, ort_outputs(str(source), {"x": x})[0])


def conv_chain_model() -> onnx.ModelProto:
    """Q/DQ -> Conv -> Relu -> Q/DQ -> Conv: the shape of every QDQ convolutional net."""
    rng = np.random.default_rng(0)
    first, first_inits = _qdq("x", TensorProto.UINT8, 128)
    second, second_inits = _qdq("r", TensorProto.UINT8, 0)
    w1 = numpy_helper.from_array(rng.standard_normal((16, 8, 3, 3)).astype(np.float32) * 0.2, "w1")
    w2 = numpy_helper.from_array(rng.standard_normal((8, 16, 1, 1)).astype(np.float32) * 0.2, "w2")
    nodes = [
        *first,
        helper.make_node("Conv", ["x_dq", "w1"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        *second,
        helper.make_node("Conv", ["r_dq", "w2"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "qdq_convs",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 12, 12])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 12, 12])],
        [*first_inits, *second_inits, w1, w2],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _unfused_reference(source, x: np.ndarray) -> np.ndarray:
    """ONNX Runtime running each node as written (its default fuses Q/DQ/Conv into an
    integer QLinearConv, which rounds the accumulator once more)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


def test_nhwc_convolutions_keep_the_pairs_in_their_layout(tmp_path):
    source = save_model(conv_chain_model(), tmp_path, "qdq_convs")
    dump = tmp_path / "ir"
    options = CompileOptions(layout="nhwc", dump_ir=dump)
    artifact = compile_model(source, "x86", tmp_path / "qdq_convs.so", options)
    simplified = (dump / "02_simplify.py").read_text()
    assert "R.quantize" not in simplified and "R.dequantize" not in simplified
    # Transposes only at the model's edges: its NCHW input and output.
    assert simplified.count("R.permute_dims") == 2, simplified
    x = np.random.default_rng(1).standard_normal((1, 8, 12, 12)).astype(np.float32)
    ours = ember.load(artifact).run({"x": x})[0]
    reference = _unfused_reference(source, x)
    # The second Conv sums 16 grid values: a value on a rounding boundary may land one step
    # away in either implementation, which moves the output by about one step times a weight.
    np.testing.assert_allclose(ours, reference, atol=SCALE, rtol=0)
    assert np.mean(np.abs(ours - reference) > 1e-5) < 0.01

"""Float32 matmul and conv2d go to the CPU kernel plugins; the numbers stay those of ONNX.

NCHW convolutions run in OpenBLAS (`cpu_blas`), matmuls in oneDNN (`cpu_dnnl`) where it
loads; `test_onednn_dispatch.py` covers oneDNN's NHWC and 1-D convolutions.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import tvm
from onnx import TensorProto, helper, numpy_helper
from tvm.relax.frontend.onnx import from_onnx

import ember
from ember.compiler.libraries import onednn
from ember.compiler.passes.dispatch_cpu_kernels import dispatch_cpu_kernels
from tests.conftest import assert_close_to_ort, random_feed


def model(nodes, inputs, output_shape, inits):
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, output_shape)
    graph = helper.make_graph(nodes, "g", inputs, [out], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def tensor(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def const(name, shape, seed=0):
    data = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    return numpy_helper.from_array(data, name)


def conv_model(cin, cout, size, kernel, stride=1, pad=0, dilation=1, groups=1, batch=1):
    out = (size + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1
    node = helper.make_node(
        "Conv",
        ["x", "w", "b"],
        ["y"],
        strides=[stride, stride],
        pads=[pad] * 4,
        dilations=[dilation, dilation],
        group=groups,
    )
    inits = [const("w", (cout, cin // groups, kernel, kernel)), const("b", (cout,), 1)]
    return model([node], [tensor("x", [batch, cin, size, size])], [batch, cout, out, out], inits)


def matmul_model(a_shape, b_shape, out_shape, b_const):
    node = helper.make_node("MatMul", ["a", "b"], ["y"])
    inputs = [tensor("a", a_shape)] + ([] if b_const else [tensor("b", b_shape)])
    return model([node], inputs, out_shape, [const("b", b_shape)] if b_const else [])


def test_matmul_and_conv_are_rewritten_and_the_module_names_the_plugin():
    mod = from_onnx(conv_model(8, 16, 12, 3, pad=1), keep_params_in_input=False)
    out = dispatch_cpu_kernels(mod)
    text = out.script()
    assert 'R.call_dps_packed("ember.cpu.conv2d"' in text and "R.nn.conv2d" not in text
    assert list(out.attrs["ember_plugins"]) == ["cpu_blas"]


def test_broadcast_batch_matmul_is_left_to_tvm():
    proto = matmul_model([2, 3, 4, 5], [3, 5, 6], [2, 3, 4, 6], b_const=False)
    out = dispatch_cpu_kernels(from_onnx(proto, keep_params_in_input=False))
    assert "call_dps_packed" not in out.script() and "R.matmul" in out.script()
    assert out.attrs is None or "ember_plugins" not in out.attrs


def test_depthwise_conv_is_left_to_tvm():
    # One output channel per group would make thousands of tiny GEMMs; TVM's loop nest wins.
    mod = from_onnx(conv_model(16, 16, 10, 3, pad=1, groups=16), keep_params_in_input=False)
    assert "ember.cpu" not in dispatch_cpu_kernels(mod).script()


def test_integer_matmul_is_left_to_tvm():
    node = helper.make_node("MatMul", ["a", "b"], ["y"])
    graph = helper.make_graph(
        [node],
        "g",
        [
            helper.make_tensor_value_info("a", TensorProto.INT32, [4, 5]),
            helper.make_tensor_value_info("b", TensorProto.INT32, [5, 6]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.INT32, [4, 6])],
    )
    mod = from_onnx(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]),
        keep_params_in_input=False,
    )
    assert "call_dps_packed" not in dispatch_cpu_kernels(mod).script()


CONVS = {
    "3x3 pad": dict(cin=8, cout=16, size=14, kernel=3, pad=1),
    "stride 2": dict(cin=8, cout=16, size=15, kernel=3, stride=2, pad=1),
    "7x7 stem": dict(cin=3, cout=8, size=32, kernel=7, stride=2, pad=3),
    "1x1": dict(cin=16, cout=32, size=9, kernel=1),
    "1x1 stride 2": dict(cin=16, cout=8, size=9, kernel=1, stride=2),
    "dilated": dict(cin=4, cout=8, size=17, kernel=3, pad=2, dilation=2),
    "grouped": dict(cin=8, cout=16, size=10, kernel=3, pad=1, groups=4),
    "batch 3": dict(cin=4, cout=4, size=15, kernel=3, pad=1, batch=3),
    "many pixels": dict(cin=3, cout=4, size=40, kernel=3, pad=1),
    # Few pixels, many channels: shared columns, GEMM split over output channels.
    "deep 3x3": dict(cin=64, cout=96, size=7, kernel=3, pad=1),
    "deep strided": dict(cin=32, cout=64, size=14, kernel=3, stride=2, pad=1, batch=2),
}
MATMULS = {
    "weights 2d": ([64, 96], [96, 80], [64, 80], True),
    "3d x 2d": ([2, 5, 96], [96, 40], [2, 5, 40], True),
    "batched": ([2, 3, 7, 16], [2, 3, 16, 9], [2, 3, 7, 9], False),
    "tall": ([300, 8], [8, 5], [300, 5], True),
    "row vector": ([1, 256], [256, 300], [1, 300], True),
}


@pytest.mark.parametrize("case", list(CONVS) + list(MATMULS))
def test_plugin_kernels_match_onnxruntime(case, compile_example):
    proto = conv_model(**CONVS[case]) if case in CONVS else matmul_model(*MATMULS[case])
    source, artifact = compile_example(f"dispatch_{case.replace(' ', '_')}", proto)
    model = ember.load(artifact)
    matmul_plugin = "cpu_blas" if onednn.unavailable_reason() else onednn.PLUGIN
    assert model.manifest["plugins"] == ["cpu_blas" if case in CONVS else matmul_plugin]
    feed = random_feed(onnx.load(source), seed=3)
    assert_close_to_ort(source, feed, model.run(feed))


def test_plugin_is_not_loaded_for_artifacts_without_it(compile_example):
    proto = model([helper.make_node("Relu", ["x"], ["y"])], [tensor("x", [4])], [4], [])
    _, artifact = compile_example("no_plugin", proto)
    assert ember.read_manifest(artifact)["plugins"] == []


def test_module_is_untouched_without_matches():
    proto = model([helper.make_node("Relu", ["x"], ["y"])], [tensor("x", [4])], [4], [])
    mod = from_onnx(proto, keep_params_in_input=False)
    tvm.ir.assert_structural_equal(dispatch_cpu_kernels(mod), mod)

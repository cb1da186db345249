"""GELU written out in elementary operators (as BERT and GPT-2 export it) becomes one Gelu,
which the matmul before it applies in its epilogue; the numbers stay those of ONNX Runtime.
Near misses (another constant, an intermediate the model also outputs) are left as they are.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import ember
from ember.compiler.api import compile_model
from ember.compiler.frontend.gelu_patterns import fuse_decomposed_gelu
from ember.compiler.libraries import onednn
from tests.conftest import assert_close_to_ort, random_feed

ROWS, K, N = 24, 32, 48


def _scalar(name: str, value: float) -> onnx.TensorProto:
    return numpy_helper.from_array(np.array(value, np.float32), name)


def gelu_nodes(form: str, x: str, out: str, cube: float = 0.044715) -> tuple[list, list]:
    """The formula as exporters write it: nodes and their scalar constants."""
    if form == "erf":  # BERT: (x * (1 + erf(x / sqrt 2))) * 0.5
        consts = [_scalar("sqrt2", math.sqrt(2)), _scalar("one", 1.0), _scalar("half", 0.5)]
        nodes = [
            helper.make_node("Div", [x, "sqrt2"], ["scaled"]),
            helper.make_node("Erf", ["scaled"], ["erf"]),
            helper.make_node("Add", ["erf", "one"], ["plus"]),
            helper.make_node("Mul", [x, "plus"], ["prod"]),
            helper.make_node("Mul", ["prod", "half"], [out]),
        ]
    elif form == "erf half first":  # (0.5 * x) * (1 + erf(x * (1 / sqrt 2)))
        consts = [_scalar("rsqrt2", 1 / math.sqrt(2)), _scalar("one", 1.0), _scalar("half", 0.5)]
        nodes = [
            helper.make_node("Mul", ["rsqrt2", x], ["scaled"]),
            helper.make_node("Erf", ["scaled"], ["erf"]),
            helper.make_node("Add", ["one", "erf"], ["plus"]),
            helper.make_node("Mul", ["half", x], ["halved"]),
            helper.make_node("Mul", ["halved", "plus"], [out]),
        ]
    else:  # GPT-2: (x * 0.5) * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x**3)))
        consts = [
            _scalar("three", 3.0),
            _scalar("cube_c", cube),
            _scalar("tanh_c", math.sqrt(2 / math.pi)),
            _scalar("one", 1.0),
            _scalar("half", 0.5),
        ]
        nodes = [
            helper.make_node("Mul", [x, "half"], ["halved"]),
            helper.make_node("Pow", [x, "three"], ["cubed"]),
            helper.make_node("Mul", ["cubed", "cube_c"], ["cubic"]),
            helper.make_node("Add", [x, "cubic"], ["inner"]),
            helper.make_node("Mul", ["inner", "tanh_c"], ["scaled"]),
            helper.make_node("Tanh", ["scaled"], ["tanh"]),
            helper.make_node("Add", ["tanh", "one"], ["plus"]),
            helper.make_node("Mul", ["halved", "plus"], [out]),
        ]
    return nodes, consts


def matmul_gelu_model(form: str, reshape: bool = False, **kwargs) -> onnx.ModelProto:
    """MatMul + bias + GELU; with `reshape`, a Reshape to 3-D between them (GPT-2's Gemm)."""
    rng = np.random.default_rng(5)
    w = numpy_helper.from_array(rng.standard_normal((K, N)).astype(np.float32), "w")
    b = numpy_helper.from_array(rng.standard_normal(N).astype(np.float32), "b")
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["mm"]),
        helper.make_node("Add", ["mm", "b"], ["pre"]),
    ]
    inits = [w, b]
    gelu_in, out_shape = "pre", [ROWS, N]
    if reshape:
        inits.append(numpy_helper.from_array(np.array([2, ROWS // 2, N], np.int64), "shape3"))
        nodes.append(helper.make_node("Reshape", ["pre", "shape3"], ["pre3"]))
        gelu_in, out_shape = "pre3", [2, ROWS // 2, N]
    formula, consts = gelu_nodes(form, gelu_in, "y", **kwargs)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [ROWS, K])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)
    graph = helper.make_graph(nodes + formula, "gelu", [x], [y], inits + consts)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _compile(proto: onnx.ModelProto, folder: Path, name: str) -> tuple[Path, Any]:
    source = folder / f"{name}.onnx"
    onnx.save(proto, source)
    compile_model(source, "x86", folder / f"{name}.so")
    return source, ember.load(folder / f"{name}.so")


@pytest.mark.parametrize(
    "form, reshape", [("erf", False), ("erf half first", False), ("tanh", False), ("tanh", True)]
)
def test_written_out_gelu_is_one_node(form, reshape):
    model = matmul_gelu_model(form, reshape)
    assert fuse_decomposed_gelu(model) == 1
    gelu = [n for n in model.graph.node if n.op_type == "Gelu"]
    assert len(gelu) == 1
    assert helper.get_attribute_value(gelu[0].attribute[0]).decode() == (
        "tanh" if form == "tanh" else "none"
    )
    assert gelu[0].input[0] == "pre"  # read through the Reshape, which now follows it
    # Still a graph in order: every value is made before it is read.
    known = {"x"} | {i.name for i in model.graph.initializer}
    for node in model.graph.node:
        assert all(name in known for name in node.input if name), node
        known.update(node.output)
    assert "y" in known


@pytest.mark.skipif(onednn.unavailable_reason() is not None, reason="oneDNN is unavailable")
@pytest.mark.parametrize("form, reshape", [("erf", False), ("tanh", True)])
def test_gelu_runs_in_the_matmul_epilogue_and_matches(form, reshape, tmp_path):
    source, model = _compile(matmul_gelu_model(form, reshape), tmp_path, form.replace(" ", "_"))
    calls = model.manifest["kernel_sources"]
    library = [c for c in calls if c["kernel"].startswith("ember.dnnl.")]
    assert [c["kernel"] for c in library] == [onednn.MATMUL_EPILOGUE], calls
    assert not any(c["kernel"].startswith("fused_") for c in calls), calls
    feed = random_feed(onnx.load(source), seed=2)
    assert_close_to_ort(source, feed, model.run(feed))


def test_other_constants_are_not_gelu(tmp_path):
    model = matmul_gelu_model("tanh", cube=0.04)
    assert fuse_decomposed_gelu(copy.deepcopy(model)) == 0
    source, compiled = _compile(model, tmp_path, "near")
    feed = random_feed(onnx.load(source), seed=2)
    assert_close_to_ort(source, feed, compiled.run(feed))


def test_an_intermediate_the_model_outputs_is_kept():
    model = matmul_gelu_model("erf")
    model.graph.output.append(helper.make_tensor_value_info("erf", TensorProto.FLOAT, [ROWS, N]))
    assert fuse_decomposed_gelu(model) == 0
    assert any(n.output[0] == "erf" for n in model.graph.node)

"""`--bind NAME=VALUES`: graph inputs compiled as constants, checked against their declarations."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import ember
from ember.compiler.api import compile_model
from ember.compiler.examples.reference import ort_outputs
from ember.compiler.frontend.bind import bind_inputs, parse_bind, parse_binds
from ember.compiler.options import CompileOptions
from ember.errors import OptionError
from tests.integration.test_cli import assert_one_line_error
from tests.integration.test_cli import ember as ember_cli

F, I64 = TensorProto.FLOAT, TensorProto.INT64


def reduce_reshape_model() -> onnx.ModelProto:
    """y = Tile(ReduceSum(x, axes), Concat(shape_a, shape_b)) + s; axes/repeats are inputs."""
    nodes = [
        helper.make_node("ReduceSum", ["x", "axes"], ["r"], keepdims=0),
        helper.make_node("Concat", ["shape_a", "shape_b"], ["shape"], axis=0),
        helper.make_node("Tile", ["r", "shape"], ["t"]),
        helper.make_node("Add", ["t", "s"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "bind",
        [
            helper.make_tensor_value_info("x", F, [2, 3, 4]),
            helper.make_tensor_value_info("axes", I64, [1]),
            helper.make_tensor_value_info("shape_a", I64, [1]),
            helper.make_tensor_value_info("shape_b", I64, [1]),
            helper.make_tensor_value_info("s", F, []),
        ],
        [helper.make_tensor_value_info("y", F, [None, None])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def test_parse_bind():
    name, value = parse_bind("axes=0,2")
    assert name == "axes" and value.tolist() == [0, 2] and value.dtype == np.int64
    assert parse_bind("k=3")[1].shape == ()
    assert parse_bind("scales=1, 0.5")[1].tolist() == [1.0, 0.5]
    for bad in ["axes", "=1", "axes=a,b"]:
        with pytest.raises(OptionError, match="--bind"):
            parse_bind(bad)
    with pytest.raises(OptionError, match="twice"):
        parse_binds(["k=1", "k=2"])


def test_bind_checks_name_dtype_and_shape():
    with pytest.raises(OptionError, match="unknown input 'nope'"):
        bind_inputs(reduce_reshape_model(), {"nope": np.array(1)})
    with pytest.raises(OptionError, match="not all int64"):
        bind_inputs(reduce_reshape_model(), {"axes": np.array([0.5])})
    with pytest.raises(OptionError, match="do not fit"):
        bind_inputs(reduce_reshape_model(), {"axes": np.array([0, 1])})
    model = reduce_reshape_model()
    bind_inputs(model, {"axes": np.array(1)})  # one value fits the declared shape [1]
    assert [v.name for v in model.graph.input] == ["x", "shape_a", "shape_b", "s"]
    assert onnx.numpy_helper.to_array(model.graph.initializer[0]).tolist() == [1]


def test_bound_inputs_compile_as_constants_and_leave_the_signature(tmp_path):
    source = tmp_path / "bind.onnx"
    onnx.save(reduce_reshape_model(), source)
    bound = {"axes": np.array([1]), "shape_a": np.array([4]), "shape_b": np.array([2])}
    options = CompileOptions(bind_inputs=bound)
    model = ember.load(compile_model(source, "x86", tmp_path / "bind.so", options))
    assert [i.name for i in model.inputs] == ["x", "s"]
    assert model.manifest["options"]["bind_inputs"] == {"axes": [1], "shape_a": [4], "shape_b": [2]}
    x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    s = np.float32(0.5)  # a 0-d input stays 0-d on its way to the runtime
    (got,) = model.run({"x": x, "s": s})
    (want,) = ort_outputs(str(source), {"x": x, "s": np.array(s), **bound})
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_cli_bind(tmp_path):
    source = tmp_path / "bind.onnx"
    onnx.save(reduce_reshape_model(), source)
    assert "--bind" in ember_cli("compile", "--help").stdout
    proc = ember_cli(
        "compile", str(source), "--bind", "axes=1", "--bind", "shape_a=4", "--bind", "shape_b=2"
    )
    assert proc.returncode == 0, proc.stderr
    assert_one_line_error(ember_cli("compile", str(source), "--bind", "axis=1"), "axis")

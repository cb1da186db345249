"""Shape arithmetic: folded where shapes are fixed, int64 tensors where they are symbolic."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import ember
from ember.compiler.api import compile_model
from ember.compiler.examples.reference import ort_outputs
from ember.compiler.frontend.fold_constants import fold_constants


def _model(nodes, x_shape, outputs, inits=(), opset=17) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
        outputs,
        list(inits),
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _const(name: str, value) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(value), name)


def _check(tmp_path, model: onnx.ModelProto, feeds: list[dict[str, np.ndarray]]) -> None:
    source = tmp_path / "m.onnx"
    onnx.save(model, source)
    loaded = ember.load(compile_model(source, "x86", tmp_path / "m.so"))
    for feed in feeds:
        for got, want in zip(loaded.run(feed), ort_outputs(str(source), feed), strict=True):
            assert got.dtype == want.dtype
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def flatten_by_inner_shape() -> onnx.ModelProto:
    """y = Reshape(x, [-1, prod(Shape(Transpose(x))[1:])]) / prod(that shape), as expansions do."""
    nodes = [
        helper.make_node("Transpose", ["x"], ["t"], perm=[0, 2, 1]),
        helper.make_node("Shape", ["t"], ["tail"], start=1),
        helper.make_node("ReduceProd", ["tail"], ["width"], keepdims=1),
        helper.make_node("Concat", ["minus_one", "width"], ["target"], axis=0),
        helper.make_node("Reshape", ["t", "target"], ["flat"]),
        helper.make_node("Cast", ["width"], ["scale"], to=TensorProto.FLOAT),
        helper.make_node("Div", ["flat", "scale"], ["y"]),
    ]
    out = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 12])]
    return _model(nodes, [2, 3, 4], out, [_const("minus_one", np.array([-1], np.int64))])


def test_shape_of_an_intermediate_value_is_folded():
    model = flatten_by_inner_shape()
    fold_constants(model, {"x": (2, 3, 4)})
    assert [n.op_type for n in model.graph.node] == ["Transpose", "Reshape", "Div"]


def test_shape_of_an_intermediate_value_matches_onnxruntime(tmp_path):
    x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    _check(tmp_path, flatten_by_inner_shape(), [{"x": x}])


def test_symbolic_shape_feeds_arithmetic_and_outputs(tmp_path):
    """Shape(x) * 2 and Shape(x) as outputs, and x / prod(Shape(x)), with a symbolic batch."""
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Mul", ["shape", "two"], ["doubled"]),
        helper.make_node("Cast", ["shape"], ["shape_f"], to=TensorProto.FLOAT),
        helper.make_node("ReduceProd", ["shape_f"], ["count"], keepdims=0),
        helper.make_node("Div", ["x", "count"], ["y"]),
    ]
    outputs = [
        helper.make_tensor_value_info("doubled", TensorProto.INT64, [2]),
        helper.make_tensor_value_info("shape", TensorProto.INT64, [2]),
        helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4]),
    ]
    model = _model(nodes, ["batch", 4], outputs, [_const("two", np.array(2, np.int64))])
    rng = np.random.default_rng(1)
    feeds = [{"x": rng.standard_normal((b, 4)).astype(np.float32)} for b in (1, 3)]
    _check(tmp_path, model, feeds)


def test_symbolic_shape_read_only_by_arithmetic_arrives_as_a_tensor(tmp_path):
    """x * sum(Shape(x) - 1): TVM's importer refuses a shape expression as Sub's input."""
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Sub", ["shape", "one"], ["less"]),
        helper.make_node("Cast", ["less"], ["less_f"], to=TensorProto.FLOAT),
        helper.make_node("ReduceSum", ["less_f"], ["total"], keepdims=0),
        helper.make_node("Mul", ["x", "total"], ["y"]),
    ]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])]
    model = _model(nodes, ["batch", 4], outputs, [_const("one", np.array(1, np.int64))])
    rng = np.random.default_rng(2)
    feeds = [{"x": rng.standard_normal((b, 4)).astype(np.float32)} for b in (1, 5)]
    _check(tmp_path, model, feeds)


def test_if_on_a_constant_condition_is_replaced_by_its_branch(tmp_path):
    """The taken branch reads an outer value; the other branch would fail to import."""
    then_graph = helper.make_graph(
        [helper.make_node("Mul", ["x", "x"], ["then_out"])],
        "then",
        [],
        [helper.make_tensor_value_info("then_out", TensorProto.FLOAT, [2, 3])],
    )
    else_graph = helper.make_graph(
        [helper.make_node("Neg", ["x"], ["else_out"])],
        "else",
        [],
        [helper.make_tensor_value_info("else_out", TensorProto.FLOAT, [2, 3])],
    )
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Size", ["shape"], ["rank"]),
        helper.make_node("Equal", ["rank", "two"], ["is_2d"]),
        helper.make_node("If", ["is_2d"], ["y"], then_branch=then_graph, else_branch=else_graph),
    ]
    out = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])]
    model = _model(nodes, [2, 3], out, [_const("two", np.array(2, np.int64))])
    folded = onnx.ModelProto()
    folded.CopyFrom(model)
    fold_constants(folded, {"x": (2, 3)})
    assert [n.op_type for n in folded.graph.node] == ["Mul", "Identity"]
    x = np.random.default_rng(2).standard_normal((2, 3)).astype(np.float32)
    _check(tmp_path, model, [{"x": x}])

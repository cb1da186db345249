"""Constant subgraphs (shape arithmetic, masks) are evaluated before import."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import ember
from ember.compiler.frontend.fold_constants import fold_constants
from tests.conftest import assert_close_to_ort, random_feed


def expand_by_shape_model() -> onnx.ModelProto:
    """y = x + Expand(bias, Shape(x)), the pattern exporters emit for broadcast masks."""
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Expand", ["bias", "shape"], ["wide"]),
        helper.make_node("Add", ["x", "wide"], ["y"]),
    ]
    bias = numpy_helper.from_array(np.arange(4, dtype=np.float32), "bias")
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 4])],
        [bias],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_shape_of_a_fixed_input_and_what_follows_are_folded():
    model = expand_by_shape_model()
    assert fold_constants(model, {"x": (3, 4)}) == 2
    assert [n.op_type for n in model.graph.node] == ["Add"]
    wide = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}["wide"]
    np.testing.assert_array_equal(wide, np.tile(np.arange(4, dtype=np.float32), (3, 1)))
    onnx.checker.check_model(model)


def test_symbolic_input_shapes_stay_computed():
    model = expand_by_shape_model()
    assert fold_constants(model, {}) == 0
    assert [n.op_type for n in model.graph.node] == ["Shape", "Expand", "Add"]


def test_random_operators_are_never_folded():
    node = helper.make_node("RandomNormal", [], ["r"], shape=[2])
    add = helper.make_node("Add", ["x", "r"], ["y"])
    graph = helper.make_graph(
        [node, add],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    assert fold_constants(model, {"x": (2,)}) == 0


def test_folded_model_compiles_and_matches_onnxruntime(compile_example):
    source, artifact = compile_example("fold_expand", expand_by_shape_model())
    feed = random_feed(onnx.load(source))
    assert_close_to_ort(source, feed, ember.load(artifact).run(feed))


ONE = numpy_helper.from_array(np.ones(1, np.float32), "one")


def pad_by_own_shape_model() -> onnx.ModelProto:
    """y = Pad(x, Shape(x) / 2 each side) + ConstantOfShape(Shape(padded)).

    The pads fold first; only then is the padded value's shape static, so its `Shape` (an
    intermediate value, not a graph input) folds on the next pass.
    """
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Div", ["shape", "two"], ["half"]),
        helper.make_node("Concat", ["half", "half"], ["pads"], axis=0),
        helper.make_node("Pad", ["x", "pads"], ["padded"]),
        helper.make_node("Shape", ["padded"], ["padded_shape"], start=-2),
        helper.make_node("ConstantOfShape", ["padded_shape"], ["ones"], value=ONE),
        helper.make_node("Add", ["padded", "ones"], ["y"]),
    ]
    two = numpy_helper.from_array(np.array([2, 2], np.int64), "two")
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 8])],
        [two],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_shape_of_a_value_fixed_by_folding_is_folded_too():
    model = pad_by_own_shape_model()
    assert fold_constants(model, {"x": (2, 4)}) == 5
    assert [n.op_type for n in model.graph.node] == ["Pad", "Add"]
    ones = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}["ones"]
    np.testing.assert_array_equal(ones, np.ones((4, 8), np.float32))


def test_shapes_of_values_derived_from_symbolic_inputs_stay_computed():
    model = pad_by_own_shape_model()
    assert fold_constants(model, {}) == 0


def test_model_folded_in_passes_matches_onnxruntime(compile_example):
    source, artifact = compile_example("fold_pad", pad_by_own_shape_model())
    feed = random_feed(onnx.load(source))
    assert_close_to_ort(source, feed, ember.load(artifact).run(feed))


def test_shape_slices_fold_and_values_read_by_a_body_are_kept():
    # Shape(start=1) of a fixed input folds; the folded `offset` is read only inside the
    # Scan body, so it must stay in the graph as an initializer.
    body = helper.make_graph(
        [
            helper.make_node("Add", ["s_in", "x_t"], ["sum"]),
            helper.make_node("Add", ["sum", "offset"], ["s_out"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("s_in", TensorProto.FLOAT, [4]),
            helper.make_tensor_value_info("x_t", TensorProto.FLOAT, [4]),
        ],
        [helper.make_tensor_value_info("s_out", TensorProto.FLOAT, [4])],
    )
    nodes = [
        helper.make_node("Shape", ["x"], ["dims"], start=1),
        helper.make_node("Cast", ["dims"], ["dims_f"], to=TensorProto.FLOAT),
        helper.make_node("Squeeze", ["dims_f"], ["offset"]),
        helper.make_node("Scan", ["s0", "x"], ["s"], body=body, num_scan_inputs=1),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [
            helper.make_tensor_value_info("s0", TensorProto.FLOAT, [4]),
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 4]),
        ],
        [helper.make_tensor_value_info("s", TensorProto.FLOAT, [4])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    assert fold_constants(model, {"s0": (4,), "x": (3, 4)}) == 3
    assert [n.op_type for n in model.graph.node] == ["Scan"]
    offset = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}["offset"]
    assert offset == np.float32(4.0)
    onnx.checker.check_model(model)

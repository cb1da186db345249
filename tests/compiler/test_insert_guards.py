"""`insert_guards` checks what it cannot prove, once, and nothing it can prove."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper

from ember.compiler.frontend import importer, signature
from ember.compiler.passes.insert_guards import insert_guards

F = TensorProto.FLOAT


def imported(nodes, inputs, outputs, inits=()):
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return importer.import_model(proto, signature.graph_inputs(proto))


def guarded(mod) -> str:
    return insert_guards(mod).script()


def matmul(a_shape, b_shape, out_shape, extra=()):
    nodes = [helper.make_node("MatMul", ["a", "b"], ["y"]), *extra]
    inputs = [helper.make_tensor_value_info("a", F, a_shape)]
    inputs.append(helper.make_tensor_value_info("b", F, b_shape))
    return imported(nodes, inputs, [helper.make_tensor_value_info("y", F, out_shape)])


def test_unprovable_inner_dimension_is_checked_before_the_first_kernel():
    text = guarded(matmul(["n", "k"], ["m", "p"], ["n", "p"]))
    assert text.count('"ember.guard.shape"') == 1
    # The check is a prologue binding, ahead of the dataflow block.
    assert text.index('"ember.guard.shape"') < text.index("R.dataflow()")
    assert "'k' is dimension 1 of input 'a'" in text and "'m' is dimension 0 of input 'b'" in text


def test_provable_shapes_get_no_check():
    assert "ember.guard" not in guarded(matmul(["n", 4], [4, "p"], ["n", "p"]))


def test_a_condition_is_checked_once():
    # y = a @ b, then z = a @ b again: the same requirement, one check.
    second = helper.make_node("MatMul", ["a", "b"], ["z"])
    mod = matmul(["n", "k"], ["m", "p"], ["n", "p"], extra=[second])
    assert guarded(mod).count('"ember.guard.shape"') == 1


def test_gather_with_run_time_indices_is_guarded_before_the_take():
    table = onnx.numpy_helper.from_array(np.zeros((10, 3), np.float32), "table")
    mod = imported(
        [helper.make_node("Gather", ["table", "ids"], ["y"])],
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["s"])],
        [helper.make_tensor_value_info("y", F, ["s", 3])],
        [table],
    )
    text = guarded(mod)
    assert text.count('"ember.guard.indices"') == 1
    assert text.index('"ember.guard.indices"') < text.index('mode="fast"')
    assert "Gather (indices from input 'ids')" in text


def test_constant_indices_in_range_need_no_guard():
    ids = onnx.numpy_helper.from_array(np.array([0, 9, -10], np.int64), "ids")
    mod = imported(
        [helper.make_node("Gather", ["x", "ids"], ["y"])],
        [helper.make_tensor_value_info("x", F, [10, 3])],
        [helper.make_tensor_value_info("y", F, [3, 3])],
        [ids],
    )
    assert "ember.guard" not in guarded(mod)

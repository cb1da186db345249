"""Inputs an operator cannot take fail with one `InputError` line; inputs it can take still
match ONNX Runtime. Before the guards, each bad feed below ran and read outside a buffer."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import ember
from ember.errors import InputError
from tests.conftest import assert_close_to_ort

F, I64 = TensorProto.FLOAT, TensorProto.INT64
f32 = np.float32


def _model(node: onnx.NodeProto, inputs, output, inits=()) -> onnx.ModelProto:
    vis = [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs]
    out = helper.make_tensor_value_info("y", F, output)
    graph = helper.make_graph([node], "g", vis, [out], list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _ones(*shape: int) -> np.ndarray:
    return np.random.default_rng(0).standard_normal(shape).astype(f32)


CASES = {
    "gemm": (
        _model(
            helper.make_node("Gemm", ["a", "b"], ["y"]),
            [("a", F, ["n", "k"]), ("b", F, ["m", "p"])],
            ["n", "p"],
        ),
        {"a": _ones(2, 3), "b": _ones(3, 5)},
        {"a": _ones(2, 3), "b": _ones(4, 5)},
        "MatMul: the inner dimensions must agree, got 'k' = 3 and 'm' = 4",
    ),
    "reshape": (
        _model(
            helper.make_node("Reshape", ["a", "s"], ["y"]),
            [("a", F, ["n", 4])],
            [2, 6],
            [numpy_helper.from_array(np.array([2, 6], np.int64), "s")],
        ),
        {"a": _ones(3, 4)},
        {"a": _ones(2, 4)},
        "Reshape: the element counts must agree, got 'n * 4' = 8 and 12",
    ),
    "conv": (
        _model(
            helper.make_node("Conv", ["x", "w"], ["y"]),
            [("x", F, [1, "c", 5, 5])],
            [1, 2, 3, 3],
            [numpy_helper.from_array(_ones(2, 3, 3, 3), "w")],
        ),
        {"x": _ones(1, 3, 5, 5)},
        {"x": _ones(1, 2, 5, 5)},
        "Conv: the input channels must agree, got 'c' = 2 and 3",
    ),
    "gather": (
        _model(
            helper.make_node("Gather", ["table", "ids"], ["y"]),
            [("ids", I64, ["s"])],
            ["s", 3],
            [numpy_helper.from_array(_ones(5, 3), "table")],
        ),
        {"ids": np.array([0, 4, -5, -1])},
        {"ids": np.array([0, 5])},
        "Gather (indices from input 'ids'): index 5 is out of range for axis 0 of extent 5",
    ),
    "gather_negative": (
        _model(
            helper.make_node("Gather", ["table", "ids"], ["y"]),
            [("ids", I64, ["s"])],
            ["s", 3],
            [numpy_helper.from_array(_ones(5, 3), "table")],
        ),
        {"ids": np.array([-5])},
        {"ids": np.array([1, -6])},
        "index -6 is out of range for axis 0 of extent 5 (valid: -5 to 4)",
    ),
    "gather_elements": (
        _model(
            helper.make_node("GatherElements", ["a", "i"], ["y"], axis=1),
            [("a", F, [3, 4]), ("i", I64, [3, 2])],
            [3, 2],
        ),
        {"a": _ones(3, 4), "i": np.array([[0, 3], [-4, 1], [2, 2]])},
        {"a": _ones(3, 4), "i": np.array([[0, 4], [0, 0], [0, 0]])},
        "GatherElements (indices from input 'i'): index 4 is out of range for axis 1",
    ),
    "scatter_nd": (
        _model(
            helper.make_node("ScatterND", ["a", "i", "u"], ["y"]),
            [("a", F, [5, 3]), ("i", I64, [2, 1]), ("u", F, [2, 3])],
            [5, 3],
        ),
        {"a": _ones(5, 3), "i": np.array([[0], [-1]]), "u": _ones(2, 3)},
        {"a": _ones(5, 3), "i": np.array([[0], [7]]), "u": _ones(2, 3)},
        "ScatterND (indices from input 'i'): index 7 is out of range for axis 0 of extent 5",
    ),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request, compile_example):
    proto, good, bad, message = CASES[request.param]
    source, artifact = compile_example(f"guard_{request.param}", proto)
    return source, ember.load(artifact), good, bad, message


def test_a_feed_the_operator_cannot_take_fails_with_one_line(case):
    _, model, _, bad, message = case
    with pytest.raises(InputError) as err:
        model.run(bad)
    text = str(err.value)
    assert "\n" not in text and message in text, text


def test_a_feed_it_can_take_still_matches_onnxruntime(case):
    source, model, good, _, _ = case
    assert_close_to_ort(source, good, model.run(good))


def test_the_model_keeps_working_after_a_refused_run(case):
    source, model, good, bad, _ = case
    with pytest.raises(InputError):
        model.run(bad)
    assert_close_to_ort(source, good, model.run(good))

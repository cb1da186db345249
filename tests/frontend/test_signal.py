"""Hann, Hamming and Blackman windows and MelWeightMatrix against ONNX Runtime."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests.frontend.single_node import assert_matches_ort


def generator_model(op_type: str, constants: dict[str, np.ndarray], **attrs) -> onnx.ModelProto:
    """A model whose one node reads only constants, plus a data input it adds to the result
    (a graph with no input at all is not something a user compiles)."""
    node = helper.make_node(op_type, list(constants), ["w"], **attrs)
    add = helper.make_node("Add", ["w", "x"], ["y"])
    dtype = attrs.get("output_datatype", TensorProto.FLOAT)
    graph = helper.make_graph(
        [node, add],
        "gen",
        [helper.make_tensor_value_info("x", dtype, [1])],
        [helper.make_tensor_value_info("y", dtype, None)],
        [numpy_helper.from_array(v, n) for n, v in constants.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return onnx.shape_inference.infer_shapes(model)


@pytest.mark.parametrize("op_type", ["HannWindow", "HammingWindow", "BlackmanWindow"])
@pytest.mark.parametrize("periodic", [0, 1])
def test_window(tmp_path, op_type, periodic):
    model = generator_model(op_type, {"size": np.array(10, np.int64)}, periodic=periodic)
    assert_matches_ort(tmp_path, model, {"x": np.zeros(1, np.float32)})


def test_window_in_double(tmp_path):
    consts = {"size": np.array(7, np.int32)}
    model = generator_model("HannWindow", consts, output_datatype=TensorProto.DOUBLE)
    assert_matches_ort(tmp_path, model, {"x": np.zeros(1, np.float64)})


def test_mel_weight_matrix(tmp_path):
    consts = {
        "bins": np.array(8, np.int64),
        "dft": np.array(64, np.int64),
        "rate": np.array(16000, np.int64),
        "low": np.array(100.0, np.float32),
        "high": np.array(7000.0, np.float32),
    }
    model = generator_model("MelWeightMatrix", consts)
    assert_matches_ort(tmp_path, model, {"x": np.zeros(1, np.float32)})

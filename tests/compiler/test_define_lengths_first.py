"""A length computed at run time in float arithmetic (a window of run-time size) compiles."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import ember
from ember.compiler.api import compile_model
from ember.compiler.examples.reference import ort_outputs


def cosine_window() -> onnx.ModelProto:
    """cos(arange(size) * tau / size), as ONNX's window functions expand: the scalar
    arithmetic comes before the Range whose length is read from the same size."""
    constants = {"zero": 0.0, "one": 1.0, "tau": 2 * np.pi}
    nodes = [
        helper.make_node("Cast", ["size"], ["size_f"], to=TensorProto.FLOAT),
        helper.make_node("Div", ["tau", "size_f"], ["step"]),
        helper.make_node("Range", ["zero", "size_f", "one"], ["positions"]),
        helper.make_node("Mul", ["positions", "step"], ["angles"]),
        helper.make_node("Cos", ["angles"], ["window"]),
    ]
    graph = helper.make_graph(
        nodes,
        "cosine_window",
        [helper.make_tensor_value_info("size", TensorProto.INT64, [])],
        [helper.make_tensor_value_info("window", TensorProto.FLOAT, [None])],
        [numpy_helper.from_array(np.array(v, np.float32), k) for k, v in constants.items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_window_of_run_time_size_matches_onnxruntime(tmp_path):
    source = tmp_path / "window.onnx"
    onnx.save(cosine_window(), source)
    model = ember.load(compile_model(source, "x86", tmp_path / "window.so"))
    for size in (1, 7, 10):
        feed = {"size": np.array(size, np.int64)}
        (got,) = model.run(feed)
        (want,) = ort_outputs(str(source), feed)
        assert got.shape == (size,)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)

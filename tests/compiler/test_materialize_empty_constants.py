"""Models holding or computing empty tensors compile, load and run."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import ember
from ember.compiler.api import compile_model


def _compile(tmp_path, nodes, output_shape, inits) -> ember.Model:
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, output_shape)],
        inits,
    )
    source = tmp_path / "empty.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), source)
    return ember.load(compile_model(source, "x86", tmp_path / "empty.so"))


def test_empty_initializer_is_allocated_at_run_time(tmp_path):
    empty = numpy_helper.from_array(np.zeros((2, 0), np.float32), "e")
    model = _compile(
        tmp_path, [helper.make_node("Concat", ["x", "e"], ["y"], axis=1)], [2, 3], [empty]
    )
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(model.run({"x": x})[0], x)


def test_empty_result_of_a_computation(tmp_path):
    """A slice past the end is empty: its kernel has zero-extent loops."""
    inits = [numpy_helper.from_array(np.array(v, np.int64), n) for n, v in [("s", [5]), ("e", [9])]]
    node = helper.make_node("Slice", ["x", "s", "e"], ["t"])
    relu = helper.make_node("Relu", ["t"], ["y"])
    model = _compile(tmp_path, [node, relu], [0, 3], inits)
    out = model.run({"x": np.ones((2, 3), np.float32)})[0]
    assert out.shape == (0, 3)

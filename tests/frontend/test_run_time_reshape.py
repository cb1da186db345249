"""Reshape whose target shape is a graph input: one artifact serves every target."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper

import ember
from tests.conftest import assert_close_to_ort, ort_outputs, save_model
from tests.integration.test_cli import assert_one_line_error
from tests.integration.test_cli import ember as ember_cli


def reshape(data: list[int | str], length: int | str, allowzero: int = 0) -> onnx.ModelProto:
    node = helper.make_node("Reshape", ["x", "shape"], ["y"], allowzero=allowzero)
    rank = length if isinstance(length, int) else 1
    graph = helper.make_graph(
        [node],
        "run_time_reshape",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, data),
            helper.make_tensor_value_info("shape", TensorProto.INT64, [length]),
        ],
        # The output's extents are the shape input's values: only its rank is declared.
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None] * rank)],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])


def run_all(compile_example, name: str, proto: onnx.ModelProto, x: np.ndarray, targets) -> None:
    source, artifact = compile_example(name, proto)
    model = ember.load(artifact)
    assert [i.name for i in model.inputs] == ["x", "shape"]
    for target in targets:
        feed = {"x": x, "shape": np.array(target, np.int64)}
        (got,) = model.run(feed)
        assert_close_to_ort(source, feed, [got])


def test_zero_copies_and_minus_one_infers(compile_example):
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    targets = [[4, 3, 2], [0, -1, 2], [-1, 0, 4], [0, 0, -1], [1, -1, 1], [24, 1, 1]]
    run_all(compile_example, "reshape_3", reshape([2, 3, 4], 3), x, targets)


def test_other_ranks_from_one_artifact_each(compile_example):
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    run_all(compile_example, "reshape_2", reshape([2, 3, 4], 2), x, [[6, 4], [0, -1], [-1, 2]])
    run_all(compile_example, "reshape_5", reshape([2, 3, 4], 5), x, [[1, 0, 1, -1, 2]])


def test_symbolic_input_dimensions(compile_example):
    model = reshape(["n", 6], 3)
    source, artifact = compile_example("reshape_symbolic", model)
    compiled = ember.load(artifact)
    for n in [1, 3]:
        x = np.arange(n * 6, dtype=np.float32).reshape(n, 6)
        for target in [[0, -1, 3], [-1, 2, 3], [n, 3, 2]]:
            feed = {"x": x, "shape": np.array(target, np.int64)}
            (got,) = compiled.run(feed)
            np.testing.assert_array_equal(got, x.reshape([n if t == 0 else t for t in target]))
            assert_close_to_ort(source, feed, [got])


def test_allowzero_keeps_zero(compile_example):
    """An empty input: a 0 in the target is a real zero extent, not a copy."""
    x = np.zeros((0, 3, 4), np.float32)
    source, artifact = compile_example("reshape_allowzero", reshape([0, 3, 4], 3, allowzero=1))
    model = ember.load(artifact)
    for target in [[3, 4, 0], [0, 12, 1]]:
        feed = {"x": x, "shape": np.array(target, np.int64)}
        (got,) = model.run(feed)
        (want,) = ort_outputs(str(source), feed)
        assert got.shape == want.shape == tuple(target)


def test_shape_of_unknown_length_is_one_error_line(tmp_path):
    """The result's rank would depend on a run-time length: the user is told to bind it."""
    path = save_model(reshape([2, 3, 4], "k"), tmp_path, "unknown_length")
    proc = ember_cli("compile", str(path), "-o", str(tmp_path / "unknown_length.so"))
    assert_one_line_error(proc, "Reshape with a run-time shape needs", "--bind")
    assert not (tmp_path / "unknown_length.so").exists()

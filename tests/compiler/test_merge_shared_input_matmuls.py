"""Attention's query, key and value projections of one activation run as one library matmul.

Each case compiles a small ONNX graph, checks how many matmul calls the artifact makes (its
manifest lists every kernel) and compares the outputs with ONNX Runtime.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import ember
from ember.compiler.api import compile_model
from ember.compiler.libraries import onednn
from ember.compiler.options import CompileOptions
from tests.conftest import assert_close_to_ort, random_feed

pytestmark = pytest.mark.skipif(
    onednn.unavailable_reason() is not None,
    reason=f"oneDNN is unavailable: {onednn.unavailable_reason()}",
)

HIDDEN, HEADS, ROWS = 32, 4, 10


def _projections(
    biases: list[bool], reader: str = "heads", rows: int | str = ROWS
) -> onnx.ModelProto:
    """x [2, rows, HIDDEN] projected once per entry of `biases`, each read by `reader`:
    "heads" (reshape and transpose into heads, as attention does) or "sigmoid"."""
    rng = np.random.default_rng(7)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, rows, HIDDEN])
    nodes, inits, outputs = [], [], []
    shape = numpy_helper.from_array(np.array([2, -1, HEADS, HIDDEN // HEADS], np.int64), "shape")
    inits.append(shape)
    for i, bias in enumerate(biases):
        w = rng.standard_normal((HIDDEN, HIDDEN)).astype(np.float32)
        inits.append(numpy_helper.from_array(w, f"w{i}"))
        nodes.append(helper.make_node("MatMul", ["x", f"w{i}"], [f"m{i}"]))
        last = f"m{i}"
        if bias:
            b = rng.standard_normal(HIDDEN).astype(np.float32)
            inits.append(numpy_helper.from_array(b, f"b{i}"))
            nodes.append(helper.make_node("Add", [last, f"b{i}"], [f"a{i}"]))
            last = f"a{i}"
        if reader == "heads":
            nodes.append(helper.make_node("Reshape", [last, "shape"], [f"r{i}"]))
            nodes.append(helper.make_node("Transpose", [f"r{i}"], [f"y{i}"], perm=[0, 2, 1, 3]))
            out_shape = [2, HEADS, rows, HIDDEN // HEADS]
        else:
            nodes.append(helper.make_node("Sigmoid", [last], [f"y{i}"]))
            out_shape = [2, rows, HIDDEN]
        outputs.append(helper.make_tensor_value_info(f"y{i}", TensorProto.FLOAT, out_shape))
    graph = helper.make_graph(nodes, "projections", [x], outputs, inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _compile_and_check(proto: onnx.ModelProto, folder: Path) -> list[str]:
    """The artifact's library matmul calls, after checking its outputs against ONNX Runtime."""
    source, out = folder / "m.onnx", folder / "m.so"
    onnx.save(proto, source)
    compile_model(source, "x86", out, CompileOptions())
    model = ember.load(out)
    feed = random_feed(onnx.load(source), seed=3, seq=ROWS)
    assert_close_to_ort(source, feed, model.run(feed))
    calls = model.manifest["kernel_sources"]
    return [c["kernel"] for c in calls if c["kernel"].startswith("ember.dnnl.matmul")]


def test_query_key_and_value_with_biases_are_one_call_with_the_biases_inside(tmp_path):
    assert _compile_and_check(_projections([True, True, True]), tmp_path) == [
        onednn.MATMUL_EPILOGUE
    ]


def test_projections_of_a_symbolic_sequence_merge_too(tmp_path):
    proto = _projections([False, False, False], rows="seq")
    assert _compile_and_check(proto, tmp_path) == [onednn.MATMUL]


def test_a_projection_without_a_bias_joins_the_others_with_zeros(tmp_path):
    # Whisper's key projection has no bias, its query and value projections have one.
    calls = _compile_and_check(_projections([True, False, True]), tmp_path)
    assert calls == [onednn.MATMUL_EPILOGUE]


def test_a_projection_read_by_an_activation_keeps_its_own_call(tmp_path):
    # Sigmoid belongs in each call's epilogue; merged, it would be a pass of its own.
    calls = _compile_and_check(_projections([True, True], reader="sigmoid"), tmp_path)
    assert calls == [onednn.MATMUL_EPILOGUE, onednn.MATMUL_EPILOGUE]

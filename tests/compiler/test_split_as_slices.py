"""A Split's parts read as slices, so each fuses into its reader (GPT-2's merged projection).

Each case compiles a small ONNX graph and compares with ONNX Runtime; the fused IR shows
whether a split kernel is left.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import ember
from ember.compiler.api import compile_model
from ember.compiler.options import CompileOptions
from tests.conftest import assert_close_to_ort, random_feed

HIDDEN, HEADS = 32, 4


def _attention_split(rows: int | str, sizes: list[int], outputs: str = "heads") -> onnx.ModelProto:
    """x [1, rows, HIDDEN] @ w [HIDDEN, sum(sizes)], split by `sizes` on the last axis.

    Split with a sizes input, as GPT-2's export has it (the importer already slices a Split of
    `num_outputs`). `outputs` "heads" reshapes and transposes each part into heads, as
    attention does; "parts" returns the parts as they are.
    """
    rng = np.random.default_rng(5)
    weights = rng.standard_normal((HIDDEN, sum(sizes))).astype(np.float32)
    inits = [
        numpy_helper.from_array(weights, "w"),
        numpy_helper.from_array(np.array(sizes, np.int64), "sizes"),
    ]
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["qkv"]),
        helper.make_node("Split", ["qkv", "sizes"], ["p0", "p1", "p2"], axis=-1),
    ]
    results = []
    for i, width in enumerate(sizes):
        if outputs == "heads":
            shape = np.array([1, -1, HEADS, width // HEADS], np.int64)
            inits.append(numpy_helper.from_array(shape, f"shape{i}"))
            nodes.append(helper.make_node("Reshape", [f"p{i}", f"shape{i}"], [f"r{i}"]))
            nodes.append(helper.make_node("Transpose", [f"r{i}"], [f"y{i}"], perm=[0, 2, 1, 3]))
            dims = [1, HEADS, rows, width // HEADS]
        else:
            nodes.append(helper.make_node("Identity", [f"p{i}"], [f"y{i}"]))
            dims = [1, rows, width]
        results.append(helper.make_tensor_value_info(f"y{i}", TensorProto.FLOAT, dims))
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, rows, HIDDEN])
    graph = helper.make_graph(nodes, "split", [x], results, inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def _compile_and_check(proto: onnx.ModelProto, folder: Path) -> str:
    """The last fused IR, after checking the artifact's outputs against ONNX Runtime."""
    source, out, dump = folder / "m.onnx", folder / "m.so", folder / "ir"
    onnx.save(proto, source)
    compile_model(source, "x86", out, CompileOptions(dump_ir=dump))
    feed = random_feed(onnx.load(source), seed=3, seq=12)
    assert_close_to_ort(source, feed, ember.load(out).run(feed))
    return sorted(dump.glob("*_fuse.py"))[-1].read_text()


def test_equal_parts_read_into_heads_leave_no_split_kernel(tmp_path):
    fused = _compile_and_check(_attention_split(12, [HIDDEN] * 3), tmp_path)
    assert "split" not in fused
    assert fused.count("strided_slice") >= 3


def test_unequal_parts_of_a_symbolic_sequence_are_sliced_at_their_bounds(tmp_path):
    fused = _compile_and_check(_attention_split("seq", [32, 16, 48]), tmp_path)
    assert "split" not in fused


def test_parts_returned_as_they_are_are_the_models_outputs(tmp_path):
    fused = _compile_and_check(_attention_split(12, [40, 40, 16], outputs="parts"), tmp_path)
    assert "split" not in fused

"""A quantized embedding table stays 8-bit in the artifact: its rows are gathered, then
dequantized, with ONNX Runtime's numbers bit for bit."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import ember
from ember.compiler.api import compile_model
from ember.compiler.examples.reference import ort_outputs
from ember.compiler.frontend.quantized_gathers import gather_quantized_rows

ROWS, WIDTH = 4000, 64


def embedding_model(tied: bool = False, per_row_scale: bool = False) -> onnx.ModelProto:
    """ids [2, 7] -> Gather(DequantizeLinear(uint8 table)); `tied`: also x @ table^T."""
    rng = np.random.default_rng(0)
    table = rng.integers(0, 256, (ROWS, WIDTH), dtype=np.uint8)
    scale = (
        rng.uniform(0.01, 0.02, ROWS).astype(np.float32)
        if per_row_scale
        else np.array(0.0137, np.float32)
    )
    zero = np.full(scale.shape, 131, np.uint8)
    inits = [
        numpy_helper.from_array(table, "table_q"),
        numpy_helper.from_array(scale, "table_scale"),
        numpy_helper.from_array(zero, "table_zero"),
    ]
    nodes = [
        helper.make_node(
            "DequantizeLinear", ["table_q", "table_scale", "table_zero"], ["table"], axis=0
        ),
        helper.make_node("Gather", ["table", "ids"], ["rows"], name="embeddings"),
    ]
    outputs = [helper.make_tensor_value_info("rows", TensorProto.FLOAT, [2, 7, WIDTH])]
    if tied:
        nodes += [
            helper.make_node("Transpose", ["table"], ["table_t"], perm=[1, 0]),
            helper.make_node("MatMul", ["rows", "table_t"], ["logits"]),
        ]
        outputs.append(helper.make_tensor_value_info("logits", TensorProto.FLOAT, [2, 7, ROWS]))
    ids = helper.make_tensor_value_info("ids", TensorProto.INT64, [2, 7])
    graph = helper.make_graph(nodes, "embeddings", [ids], outputs, inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _ids() -> dict[str, np.ndarray]:
    return {"ids": np.random.default_rng(1).integers(0, ROWS, (2, 7), dtype=np.int64)}


@pytest.mark.parametrize("tied", [False, True], ids=["alone", "tied to a matmul"])
def test_gathered_rows_are_dequantized_with_onnxruntime_numbers(tied, tmp_path):
    source = tmp_path / "embeddings.onnx"
    onnx.save(embedding_model(tied), source)
    artifact = compile_model(source, "x86", tmp_path / "embeddings.so")
    got = ember.load(artifact).run(_ids())
    want = ort_outputs(str(source), _ids())
    np.testing.assert_array_equal(got[0], want[0])  # the rows: the same dequantizing
    if tied:
        np.testing.assert_allclose(got[1], want[1], rtol=1e-5, atol=1e-5)
    else:  # the table is stored as its integers: a quarter of its float32 bytes
        assert artifact.stat().st_size < ROWS * WIDTH * 4 * 0.5


def test_only_a_whole_table_scale_moves_the_gather():
    moved = embedding_model()
    assert gather_quantized_rows(moved) == 1
    ops = [node.op_type for node in moved.graph.node]
    assert ops == ["Gather", "DequantizeLinear"]  # the table's own dequantizing is gone
    assert moved.graph.node[1].name == "embeddings/dequantize"
    onnx.checker.check_model(moved, full_check=True)

    per_row = embedding_model(per_row_scale=True)  # a scale per gathered row: left as it is
    assert gather_quantized_rows(per_row) == 0
    assert [node.op_type for node in per_row.graph.node] == ["DequantizeLinear", "Gather"]

"""Grouped-query attention multiplies each key/value head once per group of query heads."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from tvm.relax.frontend.onnx import from_onnx

import ember
from ember.compiler.passes.grouped_query_attention import grouped_query_attention
from tests.conftest import assert_close_to_ort

KV, GROUPS, SEQ, TOTAL, DIM = 2, 4, 3, 7, 16


def attention(query_heads: int) -> onnx.ModelProto:
    """softmax(q @ repeat(k)^T) @ repeat(v), with repeat_kv as PyTorch exports it."""
    heads = KV * GROUPS
    wide = np.array([1, KV, GROUPS, TOTAL, DIM], np.int64)
    flat = np.array([1, heads, TOTAL, DIM], np.int64)
    nodes = []
    for name in ("k", "v"):
        nodes += [
            helper.make_node("Unsqueeze", [name, "axis"], [f"{name}1"]),
            helper.make_node("Expand", [f"{name}1", "wide"], [f"{name}w"]),
            helper.make_node("Reshape", [f"{name}w", "flat"], [f"{name}r"]),
        ]
    nodes += [
        helper.make_node("Transpose", ["kr"], ["kt"], perm=[0, 1, 3, 2]),
        helper.make_node("MatMul", ["q", "kt"], ["scores"]),
        helper.make_node("Softmax", ["scores"], ["probs"], axis=-1),
        helper.make_node("MatMul", ["probs", "vr"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "gqa",
        [
            helper.make_tensor_value_info("q", TensorProto.FLOAT, [1, query_heads, SEQ, DIM]),
            helper.make_tensor_value_info("k", TensorProto.FLOAT, [1, KV, TOTAL, DIM]),
            helper.make_tensor_value_info("v", TensorProto.FLOAT, [1, KV, TOTAL, DIM]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, heads, SEQ, DIM])],
        [
            numpy_helper.from_array(np.array([2], np.int64), "axis"),
            numpy_helper.from_array(wide, "wide"),
            numpy_helper.from_array(flat, "flat"),
        ],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def feeds(query_heads: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "q": rng.standard_normal((1, query_heads, SEQ, DIM), dtype=np.float32),
        "k": rng.standard_normal((1, KV, TOTAL, DIM), dtype=np.float32),
        "v": rng.standard_normal((1, KV, TOTAL, DIM), dtype=np.float32),
    }


def test_key_value_heads_are_not_copied_per_query_head():
    mod = grouped_query_attention(from_onnx(attention(KV * GROUPS), keep_params_in_input=False))
    text = mod.script()
    assert "R.broadcast_to" not in text
    # Both products run on the key/value heads: 2 heads of GROUPS * SEQ query rows each.
    products = [line for line in text.splitlines() if "R.matmul" in line]
    assert len(products) == 2
    assert all(f"R.Tensor((1, {KV}, {GROUPS * SEQ}, " in line for line in products)


def test_queries_broadcast_over_heads_are_left_alone():
    mod = grouped_query_attention(from_onnx(attention(1), keep_params_in_input=False))
    assert "R.broadcast_to" in mod.script()


@pytest.mark.parametrize("query_heads", [KV * GROUPS, 1])
def test_numbers_match_onnxruntime(compile_example, query_heads):
    source, artifact = compile_example(f"gqa_{query_heads}", attention(query_heads))
    feed = feeds(query_heads)
    assert_close_to_ort(source, feed, ember.load(artifact).run(feed))

"""LinearAttention, CausalConvWithState and RotaryEmbedding against ONNX Runtime."""

from __future__ import annotations

from functools import partial

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from .single_node import assert_matches_ort

F = TensorProto.FLOAT
LINEAR_ATTENTION_SLOTS = ["query", "key", "value", "past_state", "decay", "beta"]


def single_node_model(
    op_type: str,
    feed: dict[str, np.ndarray],
    outputs: dict[str, int],
    opset: int,
    slots: list[str] | None = None,
    **attrs: object,
) -> onnx.ModelProto:
    """One `op_type` node reading `slots` (default: `feed`'s names, "" for an omitted
    optional input); `outputs` maps each output to its rank."""
    elem = {np.dtype(np.float32): F, np.dtype(np.int64): TensorProto.INT64}
    node = helper.make_node(op_type, slots or list(feed), list(outputs), **attrs)
    graph = helper.make_graph(
        [node],
        op_type.lower(),
        [helper.make_tensor_value_info(n, elem[v.dtype], list(v.shape)) for n, v in feed.items()],
        [helper.make_tensor_value_info(o, F, [None] * rank) for o, rank in outputs.items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


#: Compile for x86 and compare every output with ONNX Runtime.
check = partial(assert_matches_ort, rtol=1e-4, atol=1e-5)


def randn(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("rule", ["linear", "gated", "delta", "gated_delta"])
def test_linear_attention_update_rules_with_gqa_and_past_state(tmp_path, rule):
    rng = np.random.default_rng(0)
    b, t, hq, hkv, dk, dv = 2, 3, 4, 2, 4, 5
    feed = {
        "query": randn(rng, b, t, hq * dk),
        "key": randn(rng, b, t, hkv * dk) * 0.5,
        "value": randn(rng, b, t, hkv * dv),
        "past_state": randn(rng, b, hkv, dk, dv),
    }
    if rule.startswith("gated"):
        feed["decay"] = -np.abs(randn(rng, b, t, hkv * dk))  # per key dimension
    if rule.endswith("delta"):
        feed["beta"] = 1 / (1 + np.exp(-randn(rng, b, t, hkv)))
    model = single_node_model(
        "LinearAttention",
        feed,
        {"output": 3, "present_state": 4},
        27,
        slots=[n if n in feed else "" for n in LINEAR_ATTENTION_SLOTS if n != "beta" or n in feed],
        q_num_heads=hq,
        kv_num_heads=hkv,
        update_rule=rule,
    )
    check(tmp_path, model, feed)


@pytest.mark.parametrize("activation", ["none", "silu"])
def test_causal_conv_with_bias_and_carried_state(tmp_path, activation):
    rng = np.random.default_rng(1)
    feed = {
        "input": randn(rng, 2, 3, 6),
        "weight": randn(rng, 3, 1, 4),
        "bias": randn(rng, 3),
        "past_state": randn(rng, 2, 3, 3),
    }
    model = single_node_model(
        "CausalConvWithState", feed, {"output": 3, "present_state": 3}, 27, activation=activation
    )
    check(tmp_path, model, feed)


@pytest.mark.parametrize("interleaved", [0, 1])
def test_rotary_embedding_partial_rotation_of_3d_input(tmp_path, interleaved):
    rng = np.random.default_rng(2)
    angles = rng.random((16, 3)).astype(np.float32) * 3
    feed = {
        "X": randn(rng, 2, 4, 2 * 8),  # (batch, seq, heads * head_size)
        "cos_cache": np.cos(angles),
        "sin_cache": np.sin(angles),
        "position_ids": rng.integers(0, 16, (2, 4)).astype(np.int64),
    }
    model = single_node_model(
        "RotaryEmbedding",
        feed,
        {"Y": 3},
        23,
        num_heads=2,
        rotary_embedding_dim=6,
        interleaved=interleaved,
    )
    check(tmp_path, model, feed)

"""ONNX Attention (opset 23/24) against ONNX Runtime: 3-D and 4-D, GQA, masks, caches."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

import ember
from ember.compiler.api import compile_model
from ember.compiler.examples.reference import ort_outputs

F, B = TensorProto.FLOAT, TensorProto.BOOL


def attention_model(
    inputs: dict[str, tuple[int, list[int]]], opset: int = 23, **attrs: object
) -> onnx.ModelProto:
    """One Attention node; `inputs` maps each slot name (or "") to (dtype, shape)."""
    slots = ["Q", "K", "V", "attn_mask", "past_key", "past_value", "nonpad_kv_seqlen"]
    names = [s if s in inputs else "" for s in slots]
    while names[-1] == "":
        names.pop()
    outs = ["Y", "present_key", "present_value", "qk"]
    ranks = [len(inputs["Q"][1]), 4, 4, 4]
    node = helper.make_node("Attention", names, outs, **attrs)
    graph = helper.make_graph(
        [node],
        "attention",
        [helper.make_tensor_value_info(n, *inputs[n]) for n in names if n],
        [
            helper.make_tensor_value_info(o, F, [None] * rank)
            for o, rank in zip(outs, ranks, strict=True)
        ],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def check(tmp_path, model: onnx.ModelProto, feed: dict[str, np.ndarray], ort: bool = True) -> None:
    source = tmp_path / "attention.onnx"
    onnx.save(model, source)
    got = ember.load(compile_model(source, "x86", tmp_path / "attention.so")).run(feed)
    want = ort_outputs(str(source), feed) if ort else ReferenceEvaluator(model).run(None, feed)
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)


def randn(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


def test_3d_grouped_query_causal_with_cache(tmp_path):
    rng = np.random.default_rng(0)
    feed = {
        "Q": randn(rng, 2, 3, 4 * 8),
        "K": randn(rng, 2, 3, 2 * 8),
        "V": randn(rng, 2, 3, 2 * 6),
        "past_key": randn(rng, 2, 2, 5, 8),
        "past_value": randn(rng, 2, 2, 5, 6),
    }
    inputs = {k: (F, list(v.shape)) for k, v in feed.items()}
    model = attention_model(inputs, q_num_heads=4, kv_num_heads=2, is_causal=1)
    check(tmp_path, model, feed)


# Mode 2 (scores with the mask) is left out: ONNX Runtime writes the lowest float where a
# boolean mask excludes a key, the reference (and Ember) -inf; conformance covers float masks.
@pytest.mark.parametrize("mode", [0, 1, 3])
def test_4d_bool_mask_softcap_scale_and_qk_output(tmp_path, mode):
    rng = np.random.default_rng(1)
    feed = {
        "Q": randn(rng, 2, 3, 4, 8),
        "K": randn(rng, 2, 3, 6, 8),
        "V": randn(rng, 2, 3, 6, 8),
        "attn_mask": rng.random((4, 6)) > 0.3,
    }
    feed["attn_mask"][1] = False  # a fully masked row gives zeros, not NaN
    inputs = {k: (B if k == "attn_mask" else F, list(v.shape)) for k, v in feed.items()}
    model = attention_model(inputs, softcap=2.0, scale=0.3, qk_matmul_output_mode=mode)
    check(tmp_path, model, feed)


def test_float_mask_shorter_than_keys_is_padded(tmp_path):
    # ONNX Runtime refuses a mask shorter than the keys; ONNX's reference pads it with -inf.
    rng = np.random.default_rng(2)
    feed = {
        "Q": randn(rng, 1, 2, 3, 4),
        "K": randn(rng, 1, 2, 5, 4),
        "V": randn(rng, 1, 2, 5, 4),
        "attn_mask": randn(rng, 1, 2, 3, 4),
    }
    model = attention_model({k: (F, list(v.shape)) for k, v in feed.items()})
    check(tmp_path, model, feed, ort=False)

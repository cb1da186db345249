"""A decode step reads each layer's past out of a stacked cache input as a view, not a copy."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from tvm import relax
from tvm.relax.frontend.onnx import from_onnx

import ember
from ember.compiler.libraries import onednn
from ember.compiler.passes.leading_takes_as_views import leading_takes_as_views
from tests.conftest import assert_close_to_ort

LAYERS, HEADS = 3, 2


def stacked_cache_step(dim: int) -> onnx.ModelProto:
    """Attention scores of one new token against each layer's grown key cache.

    `past_k` holds every layer's keys, [layers, 1, heads, past, dim] with a symbolic past;
    layer i takes its entry with a Gather of the constant i (the last one as -1, as
    exporters may write it), appends the token's keys, scores a query against the grown
    keys (MatMul with the keys transposed) and the layers' grown caches are stacked again.
    """
    past = helper.make_tensor_value_info(
        "past_k", TensorProto.FLOAT, [LAYERS, 1, HEADS, "past", dim]
    )
    new = helper.make_tensor_value_info("new_k", TensorProto.FLOAT, [LAYERS, 1, HEADS, 1, dim])
    query = helper.make_tensor_value_info("q", TensorProto.FLOAT, [1, HEADS, 1, dim])
    nodes, inits, scores, grown = [], [], [], []
    for i in range(LAYERS):
        index = i - LAYERS if i == LAYERS - 1 else i
        inits.append(numpy_helper.from_array(np.array(index, np.int64), f"i{i}"))
        nodes += [
            helper.make_node("Gather", ["past_k", f"i{i}"], [f"past{i}"], axis=0),
            helper.make_node("Gather", ["new_k", f"i{i}"], [f"new{i}"], axis=0),
            helper.make_node("Concat", [f"past{i}", f"new{i}"], [f"grown{i}"], axis=2),
            helper.make_node("Transpose", [f"grown{i}"], [f"keys{i}"], perm=[0, 1, 3, 2]),
            helper.make_node("MatMul", ["q", f"keys{i}"], [f"scores{i}"]),
            helper.make_node("Unsqueeze", [f"grown{i}", "axis0"], [f"stack{i}"]),
        ]
        scores.append(
            helper.make_tensor_value_info(f"scores{i}", TensorProto.FLOAT, [1, HEADS, 1, None])
        )
        grown.append(f"stack{i}")
    inits.append(numpy_helper.from_array(np.array([0], np.int64), "axis0"))
    nodes.append(helper.make_node("Concat", grown, ["cache"], axis=0))
    cache = helper.make_tensor_value_info("cache", TensorProto.FLOAT, [LAYERS, 1, HEADS, None, dim])
    graph = helper.make_graph(
        nodes, "stacked_cache_step", [past, new, query], [*scores, cache], inits
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _rewritten(dim: int) -> str:
    mod = from_onnx(stacked_cache_step(dim), keep_params_in_input=False)
    # As in the pipeline: constants folded first (the importer's `index < 0` test).
    return leading_takes_as_views(relax.transform.FoldConstant()(mod)).script()


def test_each_layer_views_the_stacked_input():
    text = _rewritten(dim=8)
    # Three views of past_k: its entries are 64-byte multiples for every past length.
    assert text.count("R.memory.view(past_k") == LAYERS
    assert "R.take(past_k" not in text


def test_an_entry_that_may_break_kernel_alignment_is_still_copied():
    # An entry of 2 x past x 3 floats is a multiple of 64 bytes only for some past lengths:
    # the first layer (offset 0) is a view, the others stay takes.
    text = _rewritten(dim=3)
    assert text.count("R.memory.view(past_k") == 1
    assert text.count("R.take(past_k") == LAYERS - 1


@pytest.mark.parametrize("dim", [8, 3])
@pytest.mark.parametrize("past", [0, 1, 7])
def test_decode_step_matches_onnxruntime(compile_example, dim, past):
    source, artifact = compile_example(f"stacked_cache_step_{dim}", stacked_cache_step(dim))
    model = ember.load(artifact, threads=2)
    calls = [k["kernel"] for k in model.manifest["kernel_sources"]]
    # The scores read the keys transposed in oneDNN, never after a transposing copy: the
    # past's and the new token's where they lie when the views are aligned (attention then
    # reads the cache in its parts), the grown keys otherwise.
    if onednn.unavailable_reason() is None:
        assert "transpose" not in calls, calls
        assert calls.count(onednn.MATMUL_BT) == (2 * LAYERS if dim == 8 else LAYERS), calls
    rng = np.random.default_rng(past)
    feed = {
        "past_k": rng.standard_normal((LAYERS, 1, HEADS, past, dim), dtype=np.float32),
        "new_k": rng.standard_normal((LAYERS, 1, HEADS, 1, dim), dtype=np.float32),
        "q": rng.standard_normal((1, HEADS, 1, dim), dtype=np.float32),
    }
    assert_close_to_ort(source, feed, model.run(feed))


def test_an_entry_returned_as_an_output_is_copied():
    # A view would hand the caller memory of its own input, changing when that input does.
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [LAYERS, "n", 16])
    graph = helper.make_graph(
        [
            helper.make_node("Gather", ["x", "one"], ["entry"], axis=0),
            helper.make_node("Gather", ["x", "two"], ["other"], axis=0),
            helper.make_node("Neg", ["other"], ["negated"]),
        ],
        "returned_entry",
        [x],
        [
            helper.make_tensor_value_info("entry", TensorProto.FLOAT, [None, 16]),
            helper.make_tensor_value_info("negated", TensorProto.FLOAT, [None, 16]),
        ],
        [
            numpy_helper.from_array(np.array(1, np.int64), "one"),
            numpy_helper.from_array(np.array(2, np.int64), "two"),
        ],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    mod = relax.transform.FoldConstant()(from_onnx(proto, keep_params_in_input=False))
    text = leading_takes_as_views(mod).script()
    assert text.count("R.take(x") == 1 and text.count("R.memory.view(x") == 1

"""Attention reads a decoder's past and new keys and values where they lie, copying each once.

Each layer of a decode step concatenates its past (a view of the stacked cache input) with the
step's new keys and values, attends over the result and stacks the grown caches as outputs.
After the rewrite no concatenation reads a layer's past: the scores and the weighted values are
computed from the two parts, and the outputs are the cache inputs concatenated with the
stacked new rows. The artifacts must match ONNX Runtime at every past length, 0 included.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from tvm import relax
from tvm.relax.frontend.onnx import from_onnx

import ember
from ember.compiler.ir.bindings import function_bindings
from ember.compiler.passes.attention_reads_cache_parts import attention_reads_cache_parts
from ember.compiler.passes.leading_takes_as_views import leading_takes_as_views
from tests.conftest import assert_close_to_ort

LAYERS, HEADS, DIM = 3, 2, 16


def attention_step(grown_as_outputs: bool = False) -> onnx.ModelProto:
    """One attention step per layer over a stacked key/value cache, `seq` new tokens.

    `past_k`/`past_v` [layers, 1, heads, past, dim] and `new_k`/`new_v` [layers, 1, heads,
    seq, dim] in; each layer's context and the stacked grown caches out. With
    `grown_as_outputs`, layer 0's grown keys are an output of their own as well.
    """
    inputs = [
        helper.make_tensor_value_info(name, TensorProto.FLOAT, [LAYERS, 1, HEADS, length, DIM])
        for name, length in (
            ("past_k", "past"),
            ("past_v", "past"),
            ("new_k", "seq"),
            ("new_v", "seq"),
        )
    ]
    inputs.append(helper.make_tensor_value_info("q", TensorProto.FLOAT, [1, HEADS, "seq", DIM]))
    nodes, outputs = [], []
    inits = [numpy_helper.from_array(np.array([0], np.int64), "axis0")]
    stacked: dict[str, list[str]] = {"k": [], "v": []}
    for i in range(LAYERS):
        inits.append(numpy_helper.from_array(np.array(i, np.int64), f"i{i}"))
        for kind in ("k", "v"):
            nodes += [
                helper.make_node("Gather", [f"past_{kind}", f"i{i}"], [f"p{kind}{i}"], axis=0),
                helper.make_node("Gather", [f"new_{kind}", f"i{i}"], [f"n{kind}{i}"], axis=0),
                helper.make_node("Concat", [f"p{kind}{i}", f"n{kind}{i}"], [f"{kind}{i}"], axis=2),
                helper.make_node("Unsqueeze", [f"{kind}{i}", "axis0"], [f"s{kind}{i}"]),
            ]
            stacked[kind].append(f"s{kind}{i}")
        nodes += [
            helper.make_node("Transpose", [f"k{i}"], [f"kt{i}"], perm=[0, 1, 3, 2]),
            helper.make_node("MatMul", ["q", f"kt{i}"], [f"scores{i}"]),
            helper.make_node("Softmax", [f"scores{i}"], [f"probs{i}"], axis=-1),
            helper.make_node("MatMul", [f"probs{i}", f"v{i}"], [f"ctx{i}"]),
        ]
        outputs.append(
            helper.make_tensor_value_info(f"ctx{i}", TensorProto.FLOAT, [1, HEADS, "seq", DIM])
        )
    for kind in ("k", "v"):
        nodes.append(helper.make_node("Concat", stacked[kind], [f"present_{kind}"], axis=0))
        outputs.append(
            helper.make_tensor_value_info(
                f"present_{kind}", TensorProto.FLOAT, [LAYERS, 1, HEADS, None, DIM]
            )
        )
    if grown_as_outputs:
        outputs.append(
            helper.make_tensor_value_info("k0", TensorProto.FLOAT, [1, HEADS, None, DIM])
        )
    graph = helper.make_graph(nodes, "attention_step", inputs, outputs, inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _concatenations(proto: onnx.ModelProto) -> list[relax.Call]:
    mod = from_onnx(proto, keep_params_in_input=False)
    mod = leading_takes_as_views(relax.transform.FoldConstant()(mod))
    mod = attention_reads_cache_parts(mod)
    bindings = function_bindings(mod["main"])
    values = {b.var: b.value for b in bindings}
    return [
        [values.get(f, f) for f in b.value.args[0].fields]
        for b in bindings
        if isinstance(b.value, relax.Call) and str(b.value.op.name) == "relax.concat"
    ]


def _is_view(expr: object) -> bool:
    return isinstance(expr, relax.Call) and str(expr.op.name) == "relax.memory.view"


def test_no_concatenation_reads_a_layers_past_and_the_outputs_extend_the_inputs():
    concatenations = _concatenations(attention_step())
    assert not any(_is_view(f) for fields in concatenations for f in fields)
    params = [fields[0] for fields in concatenations if isinstance(fields[0], relax.Var)]
    assert sorted(p.name for p in params if p.name.startswith("past")) == [
        "past_k",
        "past_v",
    ]


def test_keys_whose_stack_needs_one_grown_layer_stay_concatenated():
    # Layer 0's grown keys are an output, so they are made anyway, and the keys' stack must
    # then read every layer's grown keys: no key concatenation goes. The values still do.
    concatenations = _concatenations(attention_step(grown_as_outputs=True))
    layers_read = [
        fields[0].args[0].name
        for fields in concatenations
        if _is_view(fields[0]) and isinstance(fields[0].args[0], relax.Var)
    ]
    assert layers_read == ["past_k"] * LAYERS


@pytest.mark.parametrize("grown_as_outputs", [False, True])
@pytest.mark.parametrize(("past", "seq"), [(0, 3), (1, 1), (7, 1), (7, 2)])
def test_attention_over_the_parts_matches_onnxruntime(compile_example, grown_as_outputs, past, seq):
    name = f"attention_step_{grown_as_outputs}"
    source, artifact = compile_example(name, attention_step(grown_as_outputs))
    model = ember.load(artifact, threads=2)
    rng = np.random.default_rng(past * 10 + seq)

    def cache(length: int) -> np.ndarray:
        return rng.standard_normal((LAYERS, 1, HEADS, length, DIM), dtype=np.float32)

    feed = {
        "past_k": cache(past),
        "past_v": cache(past),
        "new_k": cache(seq),
        "new_v": cache(seq),
        "q": rng.standard_normal((1, HEADS, seq, DIM), dtype=np.float32),
    }
    assert_close_to_ort(source, feed, model.run(feed))

"""exp, tanh, erf and softmax use the fast approximations and stay within 1e-5 of ONNX Runtime."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from tvm.relax.frontend.onnx import from_onnx

import ember
from ember.compiler.passes.fast_math import fast_math, fast_softmax


def unary_model(op: str, **attrs: object) -> onnx.ModelProto:
    graph = helper.make_graph(
        [helper.make_node(op, ["x"], ["y"], **attrs)],
        op.lower(),
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [8, 256])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [8, 256])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


OPS = {"Exp": {}, "Tanh": {}, "Erf": {}, "Softmax": {"axis": -1}}


@pytest.mark.parametrize("op", list(OPS))
def test_calls_become_fast_kernels(op):
    # Softmax has a pass of its own, run after the libraries took theirs.
    rewrite = fast_softmax if op == "Softmax" else fast_math
    mod = rewrite(from_onnx(unary_model(op, **OPS[op]), keep_params_in_input=False))
    text = mod.script()
    assert f"R.{op.lower()}(" not in text and "R.nn.softmax(" not in text
    assert "fast_" in text


@pytest.mark.parametrize("op", list(OPS))
def test_fast_kernels_match_onnxruntime(op, compile_example):
    from ember.compiler.examples.reference import ort_outputs

    source, artifact = compile_example(f"fast_{op}", unary_model(op, **OPS[op]))
    # Exp stays in its float32 range; the others see their saturated tails too.
    span = 80.0 if op == "Exp" else 12.0
    x = np.linspace(-span, span, 8 * 256, dtype=np.float32).reshape(8, 256)
    (got,) = ember.load(artifact).run({"x": x})
    (want,) = ort_outputs(str(source), {"x": x})
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)

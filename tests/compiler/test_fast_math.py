"""exp, tanh, erf, softmax and GELU use the fast approximations, within 1e-5 of ONNX Runtime."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from tvm.relax.frontend.onnx import from_onnx

import ember
from ember.compiler.passes.fast_math import fast_math, fast_softmax_and_gelu


def unary_model(op: str, opset: int = 17, **attrs: object) -> onnx.ModelProto:
    graph = helper.make_graph(
        [helper.make_node(op, ["x"], ["y"], **attrs)],
        op.lower(),
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [8, 256])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [8, 256])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


OPS = {"Exp": {}, "Tanh": {}, "Erf": {}, "Softmax": {"axis": -1}}


@pytest.mark.parametrize("op", list(OPS))
def test_calls_become_fast_kernels(op):
    # Softmax has a pass of its own, run after the libraries took theirs.
    rewrite = fast_softmax_and_gelu if op == "Softmax" else fast_math
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


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelus_left_to_generated_kernels_become_fast(approximate):
    # A GELU no library call took into its epilogue (wav2vec2's and Whisper's after their
    # convolutions) is computed with the fast erf or tanh, not a libm call per element.
    proto = unary_model("Gelu", opset=20, approximate=approximate)
    mod = fast_softmax_and_gelu(from_onnx(proto, keep_params_in_input=False))
    text = mod.script()
    assert "R.nn.gelu" not in text
    assert ("fast_erf" if approximate == "none" else "fast_tanh") in text


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_fast_gelus_match_onnxruntime(approximate, compile_example):
    from ember.compiler.examples.reference import ort_outputs

    proto = unary_model("Gelu", opset=20, approximate=approximate)
    source, artifact = compile_example(f"fast_gelu_{approximate}", proto)
    x = np.linspace(-12.0, 12.0, 8 * 256, dtype=np.float32).reshape(8, 256)
    (got,) = ember.load(artifact).run({"x": x})
    (want,) = ort_outputs(str(source), {"x": x})
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)

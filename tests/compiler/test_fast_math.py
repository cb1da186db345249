"""exp, tanh, erf, softmax, GELU, sigmoid and SiLU use fast approximations, within 1e-5 of ORT."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from tvm.relax.frontend.onnx import from_onnx

import ember
from ember.compiler.passes.fast_math import fast_math, fast_math_after_dispatch


def unary_model(op: str, opset: int = 17, **attrs: object) -> onnx.ModelProto:
    graph = helper.make_graph(
        [helper.make_node(op, ["x"], ["y"], **attrs)],
        op.lower(),
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [8, 256])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [8, 256])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


OPS = {"Exp": {}, "Tanh": {}, "Erf": {}, "Softmax": {"axis": -1}, "Sigmoid": {}}
# Rewritten by the pass run after the libraries took theirs (as epilogues or calls).
AFTER_DISPATCH = {"Softmax", "Sigmoid"}


@pytest.mark.parametrize("op", list(OPS))
def test_calls_become_fast_kernels(op):
    rewrite = fast_math_after_dispatch if op in AFTER_DISPATCH else fast_math
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
    mod = fast_math_after_dispatch(from_onnx(proto, keep_params_in_input=False))
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


def test_silu_becomes_fast():
    # x * sigmoid(x), made one SiLU before dispatch, then computed with the fast exp.
    from ember.compiler.passes.recognize_silu import recognize_silu

    graph = helper.make_graph(
        [helper.make_node("Sigmoid", ["x"], ["s"]), helper.make_node("Mul", ["x", "s"], ["y"])],
        "silu",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [8, 256])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [8, 256])],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    mod = recognize_silu(from_onnx(proto, keep_params_in_input=False))
    assert "R.nn.silu(" in mod.script()
    text = fast_math_after_dispatch(mod).script()
    assert "R.nn.silu(" not in text and "fast_exp" in text

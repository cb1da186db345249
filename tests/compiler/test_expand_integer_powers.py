"""x ** 2 and x ** 3 become multiplications; other powers stay; numbers match ONNX Runtime."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from tvm.relax.frontend.onnx import from_onnx

import ember
from ember.compiler.passes.expand_integer_powers import expand_integer_powers
from tests.conftest import assert_close_to_ort


def pow_model(exponent: float) -> onnx.ModelProto:
    node = helper.make_node("Pow", ["x", "e"], ["y"])
    graph = helper.make_graph(
        [node],
        "pow",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 8])],
        [numpy_helper.from_array(np.array(exponent, np.float32), "e")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize(("exponent", "multiplies"), [(2.0, 1), (3.0, 2)])
def test_small_integer_powers_become_multiplications(exponent, multiplies):
    mod = expand_integer_powers(from_onnx(pow_model(exponent), keep_params_in_input=False))
    text = mod.script()
    assert "R.power" not in text
    assert text.count("R.multiply") == multiplies


def test_other_exponents_stay_powers():
    mod = expand_integer_powers(from_onnx(pow_model(2.5), keep_params_in_input=False))
    assert "R.power" in mod.script()


@pytest.mark.parametrize("exponent", [3.0, 2.5])
def test_numbers_match_onnxruntime_for_negative_bases(compile_example, exponent):
    source, artifact = compile_example(f"pow_{exponent}", pow_model(exponent))
    x = np.linspace(-2.0, 2.0, 32, dtype=np.float32).reshape(4, 8)
    if exponent != int(exponent):
        x = np.abs(x)  # a fractional power of a negative number is NaN on both sides
    assert_close_to_ort(source, {"x": x}, ember.load(artifact).run({"x": x}))

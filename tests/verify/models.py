"""A small model for the verification tests, and a converter that skews one of its nodes."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

#: The node the skewed converter makes diverge, and its op type.
GATE = ("gate", "Sigmoid")
#: How much the skewed Sigmoid is off: 1% of its value, 100x the fp32 tolerance.
SKEW = 1.01


def gated_mlp(batch: int | str = 4, width: int = 32, seed: int = 0) -> onnx.ModelProto:
    """x -> MatMul -> Add -> Relu -> MatMul -> Sigmoid ('gate') -> Mul -> MatMul -> Tanh."""
    rng = np.random.default_rng(seed)

    def weight(name: str, *shape: int) -> onnx.TensorProto:
        scale = 1.0 / np.sqrt(shape[0])
        return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype("f4"), name)

    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h1"], name="mm1"),
        helper.make_node("Add", ["h1", "b1"], ["h2"], name="bias1"),
        helper.make_node("Relu", ["h2"], ["h3"], name="relu1"),
        helper.make_node("MatMul", ["h3", "w2"], ["h4"], name="mm2"),
        helper.make_node("Sigmoid", ["h4"], ["g"], name="gate"),
        helper.make_node("Mul", ["g", "h3"], ["h5"], name="gated"),
        helper.make_node("MatMul", ["h5", "w3"], ["h6"], name="mm3"),
        helper.make_node("Tanh", ["h6"], ["y"], name="out"),
    ]
    graph = helper.make_graph(
        nodes,
        "gated_mlp",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [batch, width])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [batch, width])],
        [
            weight("w1", width, width),
            weight("b1", width),
            weight("w2", width, width),
            weight("w3", width, width),
        ],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def skewed_converters(original: Any) -> Any:
    """`ember_converters` with a Sigmoid converter that is SKEW times too large."""
    from tvm import relax
    from tvm.relax.frontend.onnx.onnx_frontend import OnnxOpConverter

    class SkewedSigmoid(OnnxOpConverter):
        @classmethod
        def _impl_v13(cls, bb: Any, inputs: Any, attr: Any, params: Any) -> Any:
            skew = relax.const(SKEW, "float32")
            return bb.emit(relax.op.multiply(relax.op.sigmoid(inputs[0]), skew))

    def converters() -> dict[str, Any]:
        return {**original(), "Sigmoid": SkewedSigmoid}

    return converters

"""The fuzzers' seed corpus: tiny valid models (a few nodes each, each compiles in well under
a second) that between them use the attributes, initializers and dtypes mutations break."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


def _model(
    name: str,
    nodes: list[onnx.NodeProto],
    inputs: list[onnx.ValueInfoProto],
    outputs: list[onnx.ValueInfoProto],
    initializers: list[onnx.TensorProto] = (),  # type: ignore[assignment]
) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, name, inputs, outputs, list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    onnx.checker.check_model(model, full_check=True)
    return model


def _weight(name: str, shape: tuple[int, ...], seed: int) -> onnx.TensorProto:
    data = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    return numpy_helper.from_array(data, name)


def _vi(name: str, elem: int, shape: list[int | str]) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, shape)


def add_relu() -> onnx.ModelProto:
    """Two inputs sharing a symbolic batch: Add, Relu."""
    nodes = [
        helper.make_node("Add", ["a", "b"], ["s"], name="add"),
        helper.make_node("Relu", ["s"], ["y"], name="relu"),
    ]
    f = TensorProto.FLOAT
    return _model(
        "add_relu",
        nodes,
        [_vi("a", f, ["batch", 4]), _vi("b", f, ["batch", 4])],
        [_vi("y", f, ["batch", 4])],
    )


def gemm_sigmoid() -> onnx.ModelProto:
    """Gemm with transB and a bias, then Sigmoid."""
    nodes = [
        helper.make_node("Gemm", ["x", "w", "bias"], ["g"], name="gemm", transB=1, alpha=0.5),
        helper.make_node("Sigmoid", ["g"], ["y"], name="sigmoid"),
    ]
    f = TensorProto.FLOAT
    inits = [_weight("w", (4, 8), 1), _weight("bias", (4,), 2)]
    return _model("gemm", nodes, [_vi("x", f, [2, 8])], [_vi("y", f, [2, 4])], inits)


def conv_pool() -> onnx.ModelProto:
    """Conv (pads, strides) and MaxPool."""
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1], strides=[1, 1]),
        helper.make_node("MaxPool", ["c"], ["y"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
    ]
    f = TensorProto.FLOAT
    return _model(
        "conv",
        nodes,
        [_vi("x", f, [1, 2, 6, 6])],
        [_vi("y", f, [1, 3, 3, 3])],
        [_weight("w", (3, 2, 3, 3), 3)],
    )


def reshape_softmax() -> onnx.ModelProto:
    """Reshape by an int64 initializer, Transpose, Softmax."""
    shape = numpy_helper.from_array(np.array([2, 12], np.int64), "shape")
    nodes = [
        helper.make_node("Reshape", ["x", "shape"], ["r"], name="reshape"),
        helper.make_node("Transpose", ["r"], ["t"], name="transpose", perm=[1, 0]),
        helper.make_node("Softmax", ["t"], ["y"], name="softmax", axis=-1),
    ]
    f = TensorProto.FLOAT
    return _model("reshape", nodes, [_vi("x", f, [2, 3, 4])], [_vi("y", f, [12, 2])], [shape])


def reduce_concat() -> onnx.ModelProto:
    """ReduceMean with keepdims, Concat along an axis, Mul by a scalar constant."""
    half = numpy_helper.from_array(np.array(0.5, np.float32), "half")
    nodes = [
        helper.make_node("ReduceMean", ["x"], ["m"], name="mean", axes=[1], keepdims=1),
        helper.make_node("Concat", ["x", "m"], ["c"], name="concat", axis=1),
        helper.make_node("Mul", ["c", "half"], ["y"], name="mul"),
    ]
    f = TensorProto.FLOAT
    return _model("reduce", nodes, [_vi("x", f, ["n", 4])], [_vi("y", f, ["n", 5])], [half])


def gather_cast() -> onnx.ModelProto:
    """Gather by int64 indices, Cast to int32, and a float path through Where."""
    idx = numpy_helper.from_array(np.array([2, 0], np.int64), "idx")
    zero = numpy_helper.from_array(np.array(0.0, np.float32), "zero")
    nodes = [
        helper.make_node("Gather", ["x", "idx"], ["g"], name="gather", axis=0),
        helper.make_node("Greater", ["g", "zero"], ["pos"], name="greater"),
        helper.make_node("Where", ["pos", "g", "zero"], ["y"], name="where"),
        helper.make_node("Cast", ["g"], ["k"], name="cast", to=TensorProto.INT32),
    ]
    f = TensorProto.FLOAT
    outs = [_vi("y", f, [2, 3]), _vi("k", TensorProto.INT32, [2, 3])]
    return _model("gather", nodes, [_vi("x", f, [4, 3])], outs, [idx, zero])


#: The seed corpus, by name.
SEEDS: dict[str, Callable[[], onnx.ModelProto]] = {
    "add_relu": add_relu,
    "gemm": gemm_sigmoid,
    "conv": conv_pool,
    "reshape": reshape_softmax,
    "reduce": reduce_concat,
    "gather": gather_cast,
}

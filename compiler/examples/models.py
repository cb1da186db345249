"""Built-in example models, built in code with fixed seeds (nothing is downloaded).

They exercise the operators real networks use: a small CNN (ResNet-style stem), a transformer
encoder block (BERT/GPT-2-style), and an MLP. `ember demo` and the test suite compile them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


class _GraphBuilder:
    """Collects nodes and seeded random initializers for one ONNX graph."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []

    def weight(self, name: str, shape: tuple[int, ...], scale: float = 0.1) -> str:
        data = (self.rng.standard_normal(shape) * scale).astype(np.float32)
        self.initializers.append(numpy_helper.from_array(data, name))
        return name

    def const(self, name: str, value: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(value, name))
        return name

    def node(self, op: str, inputs: list[str], output: str, **attrs: Any) -> str:
        self.nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    def model(
        self,
        name: str,
        inputs: list[onnx.ValueInfoProto],
        outputs: list[onnx.ValueInfoProto],
    ) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, name, inputs, outputs, self.initializers)
        model = helper.make_model(
            graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="ember"
        )
        onnx.checker.check_model(model, full_check=True)
        return model


def _conv_bn_relu(g: _GraphBuilder, x: str, prefix: str, cin: int, cout: int) -> str:
    w = g.weight(f"{prefix}.w", (cout, cin, 3, 3))
    b = g.weight(f"{prefix}.b", (cout,))
    y = g.node("Conv", [x, w, b], f"{prefix}.conv", pads=[1, 1, 1, 1])
    scale = g.const(f"{prefix}.gamma", (1 + 0.1 * g.rng.standard_normal(cout)).astype(np.float32))
    bias = g.weight(f"{prefix}.beta", (cout,))
    mean = g.weight(f"{prefix}.mean", (cout,))
    var = g.const(f"{prefix}.var", (0.5 + g.rng.random(cout)).astype(np.float32))
    y = g.node("BatchNormalization", [y, scale, bias, mean, var], f"{prefix}.bn")
    return g.node("Relu", [y], f"{prefix}.relu")


def small_cnn(batch: int | str = 1, image: int = 32, seed: int = 0) -> onnx.ModelProto:
    """Two conv blocks (Conv, BatchNormalization, Relu, MaxPool), Flatten and a Gemm head.

    Input ``input`` is ``batch x 3 x image x image``; output ``logits`` is ``batch x 10``.
    """
    g = _GraphBuilder(seed)
    x = _conv_bn_relu(g, "input", "block1", 3, 16)
    x = g.node("MaxPool", [x], "pool1", kernel_shape=[2, 2], strides=[2, 2])
    x = _conv_bn_relu(g, x, "block2", 16, 32)
    x = g.node("MaxPool", [x], "pool2", kernel_shape=[2, 2], strides=[2, 2])
    x = g.node("Flatten", [x], "flatten", axis=1)
    features = 32 * (image // 4) ** 2
    w = g.weight("head.w", (10, features), scale=0.02)
    b = g.weight("head.b", (10,))
    g.node("Gemm", [x, w, b], "logits", transB=1)
    inp = helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 3, image, image])
    out = helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, 10])
    return g.model("small_cnn", [inp], [out])


def _conv(
    g: _GraphBuilder, x: str, name: str, cin: int, cout: int, kernel: int, **attrs: Any
) -> str:
    """Conv with bias; `group` and `strides` pass through, padding keeps the size (at stride 1)."""
    groups = int(attrs.get("group", 1))
    w = g.weight(f"{name}.w", (cout, cin // groups, kernel, kernel), scale=(cin * kernel) ** -0.5)
    pad = kernel // 2
    return g.node("Conv", [x, w, g.weight(f"{name}.b", (cout,))], name, pads=[pad] * 4, **attrs)


def _classifier(g: _GraphBuilder, x: str, channels: int, classes: int = 10) -> str:
    x = g.node("Flatten", [g.node("GlobalAveragePool", [x], "gap")], "flatten", axis=1)
    w = g.weight("fc.w", (classes, channels), scale=channels**-0.5)
    return g.node("Gemm", [x, w, g.weight("fc.b", (classes,))], "logits", transB=1)


def residual_cnn(batch: int = 1, image: int = 32, seed: int = 0) -> onnx.ModelProto:
    """A ResNet-style network: bottleneck and strided grouped blocks with 1x1 shortcuts.

    A strided stem, a bottleneck block with a 1x1 projection shortcut, a strided grouped block
    with a strided 1x1 shortcut, global pooling and a Gemm.

    Input ``input`` is ``batch x 3 x image x image``; output ``logits`` is ``batch x 10``.
    """
    g = _GraphBuilder(seed)
    x = g.node("Relu", [_conv(g, "input", "stem", 3, 16, 3, strides=[2, 2])], "stem.relu")
    y = g.node("Relu", [_conv(g, x, "b1.reduce", 16, 8, 1)], "b1.reduce.relu")
    y = g.node("Relu", [_conv(g, y, "b1.conv", 8, 8, 3)], "b1.conv.relu")
    y = _conv(g, y, "b1.expand", 8, 32, 1)
    x = g.node("Relu", [g.node("Add", [y, _conv(g, x, "b1.proj", 16, 32, 1)], "b1.add")], "b1.out")
    y = g.node("Relu", [_conv(g, x, "b2.conv", 32, 32, 3, strides=[2, 2], group=2)], "b2.relu")
    short = _conv(g, x, "b2.proj", 32, 32, 1, strides=[2, 2])
    x = g.node("Relu", [g.node("Add", [_conv(g, y, "b2.out", 32, 32, 3), short], "b2.add")], "b2.o")
    _classifier(g, x, 32)
    inp = helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 3, image, image])
    out = helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, 10])
    return g.model("residual_cnn", [inp], [out])


def _relu6(g: _GraphBuilder, x: str, name: str) -> str:
    low = g.const(f"{name}.min", np.array(0.0, np.float32))
    high = g.const(f"{name}.max", np.array(6.0, np.float32))
    return g.node("Clip", [x, low, high], name)


def mobile_cnn(batch: int = 1, image: int = 32, seed: int = 0) -> onnx.ModelProto:
    """A MobileNetV2-style network: depthwise-separable convs and an inverted residual.

    A strided stem, a depthwise-separable pair (Clip as ReLU6), an inverted residual block
    (1x1 expand, 3x3 depthwise, 1x1 project, Add), global pooling and a Gemm.

    Input ``input`` is ``batch x 3 x image x image``; output ``logits`` is ``batch x 10``.
    """
    g = _GraphBuilder(seed)
    x = _relu6(g, _conv(g, "input", "stem", 3, 16, 3, strides=[2, 2]), "stem.relu6")
    x = _relu6(g, _conv(g, x, "dw1", 16, 16, 3, group=16), "dw1.relu6")
    x = _conv(g, x, "pw1", 16, 24, 1)
    y = _relu6(g, _conv(g, x, "ir.expand", 24, 48, 1), "ir.expand.relu6")
    y = _relu6(g, _conv(g, y, "ir.dw", 48, 48, 3, group=48), "ir.dw.relu6")
    x = g.node("Add", [x, _conv(g, y, "ir.project", 48, 24, 1)], "ir.add")
    _classifier(g, x, 24)
    inp = helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 3, image, image])
    out = helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, 10])
    return g.model("mobile_cnn", [inp], [out])


def _linear(g: _GraphBuilder, x: str, prefix: str, din: int, dout: int) -> str:
    y = g.node("MatMul", [x, g.weight(f"{prefix}.w", (din, dout), scale=din**-0.5)], f"{prefix}.mm")
    return g.node("Add", [y, g.weight(f"{prefix}.b", (dout,))], prefix)


def _layer_norm(g: _GraphBuilder, x: str, prefix: str, dim: int) -> str:
    scale = g.const(f"{prefix}.gamma", np.ones(dim, np.float32))
    bias = g.const(f"{prefix}.beta", np.zeros(dim, np.float32))
    return g.node("LayerNormalization", [x, scale, bias], prefix, axis=-1, epsilon=1e-5)


def _split_heads(g: _GraphBuilder, x: str, prefix: str, heads: int, head_dim: int) -> str:
    shape = g.const(f"{prefix}.shape", np.array([0, 0, heads, head_dim], np.int64))
    y = g.node("Reshape", [x, shape], f"{prefix}.reshape")
    return g.node("Transpose", [y], f"{prefix}.heads", perm=[0, 2, 1, 3])


def _attention(g: _GraphBuilder, x: str, dim: int, heads: int) -> str:
    head_dim = dim // heads
    q = _split_heads(g, _linear(g, x, "attn.q", dim, dim), "attn.q", heads, head_dim)
    k = _split_heads(g, _linear(g, x, "attn.k", dim, dim), "attn.k", heads, head_dim)
    v = _split_heads(g, _linear(g, x, "attn.v", dim, dim), "attn.v", heads, head_dim)
    kt = g.node("Transpose", [k], "attn.kt", perm=[0, 1, 3, 2])
    scores = g.node("MatMul", [q, kt], "attn.scores")
    scale = g.const("attn.scale", np.array(head_dim**-0.5, np.float32))
    scores = g.node("Mul", [scores, scale], "attn.scaled")
    probs = g.node("Softmax", [scores], "attn.probs", axis=-1)
    ctx = g.node("MatMul", [probs, v], "attn.ctx")
    ctx = g.node("Transpose", [ctx], "attn.merge", perm=[0, 2, 1, 3])
    merged = g.const("attn.merge_shape", np.array([0, 0, dim], np.int64))
    ctx = g.node("Reshape", [ctx, merged], "attn.merged")
    return _linear(g, ctx, "attn.out", dim, dim)


def transformer_block(
    batch: int | str = 1, seq: int = 32, dim: int = 64, heads: int = 4, seed: int = 0
) -> onnx.ModelProto:
    """A post-norm transformer encoder block: multi-head attention and an FFN.

    Uses MatMul, Add, Reshape, Transpose, Mul, Softmax, LayerNormalization and Relu. Input
    ``hidden`` is ``batch x seq x dim``; output ``out`` has the same shape.
    """
    g = _GraphBuilder(seed)
    attn = _attention(g, "hidden", dim, heads)
    x = _layer_norm(g, g.node("Add", ["hidden", attn], "res1"), "ln1", dim)
    ffn = g.node("Relu", [_linear(g, x, "ffn.up", dim, 4 * dim)], "ffn.act")
    ffn = _linear(g, ffn, "ffn.down", 4 * dim, dim)
    _layer_norm(g, g.node("Add", [x, ffn], "res2"), "out", dim)
    inp = helper.make_tensor_value_info("hidden", TensorProto.FLOAT, [batch, seq, dim])
    out = helper.make_tensor_value_info("out", TensorProto.FLOAT, [batch, seq, dim])
    return g.model("transformer_block", [inp], [out])


def mlp(batch: int | str = 8, width: int = 128, layers: int = 3, seed: int = 0) -> onnx.ModelProto:
    """A stack of Gemm + Relu layers; input ``x`` is ``batch x width``, output ``y``."""
    g = _GraphBuilder(seed)
    x = "x"
    for i in range(layers):
        w = g.weight(f"fc{i}.w", (width, width), scale=width**-0.5)
        y = g.node("Gemm", [x, w, g.weight(f"fc{i}.b", (width,))], f"fc{i}", transB=1)
        x = g.node("Relu", [y], f"relu{i}") if i + 1 < layers else y
    g.nodes[-1].output[0] = "y"
    inp = helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, width])
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, width])
    return g.model("mlp", [inp], [out])


#: Example models by name, for `ember demo` and the tests.
EXAMPLES: dict[str, Callable[[], onnx.ModelProto]] = {
    "cnn": small_cnn,
    "transformer": transformer_block,
    "mlp": mlp,
}

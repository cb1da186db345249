"""Floating-point work of an ONNX model: 2 x multiply-adds of its Conv, MatMul and Gemm nodes."""

from __future__ import annotations

import math

import onnx
from onnx import shape_inference


def _shapes(model: onnx.ModelProto) -> dict[str, list[int]]:
    # data_prop propagates Shape/Reshape values, so transformer MatMuls get their shapes.
    inferred = shape_inference.infer_shapes(model, data_prop=True)
    values = [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]
    # An unknown dimension is the batch the benchmarks run with: 1.
    shapes = {
        v.name: [
            d.dim_value if d.HasField("dim_value") else 1 for d in v.type.tensor_type.shape.dim
        ]
        for v in values
    }
    for init in model.graph.initializer:
        shapes[init.name] = list(init.dims)
    return shapes


def model_flops(model: onnx.ModelProto) -> float:
    """FLOPs of one inference (convolutions and matrix products only)."""
    shapes = _shapes(model)
    total = 0.0
    for node in model.graph.node:
        out = shapes.get(node.output[0], [])
        if not out or 0 in out:
            continue
        if node.op_type == "Conv":
            weight = shapes[node.input[1]]
            total += 2.0 * math.prod(out) * math.prod(weight[1:])
        elif node.op_type in ("MatMul", "Gemm"):
            a = shapes.get(node.input[0], [])
            trans_a = any(at.name == "transA" and at.i for at in node.attribute)
            k = a[-2] if trans_a and len(a) >= 2 else (a[-1] if a else 0)
            total += 2.0 * math.prod(out) * k
    return total

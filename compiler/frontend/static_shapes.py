"""Fully static shapes of a graph's intermediate values, given the inputs fixed at compile.

Constant folding turns `Shape(v)` into a constant when v's shape is known. For graph inputs
that is the fixed signature; for intermediate values it takes ONNX shape inference, run
here on a light copy of the model: inputs not fixed get symbolic dimensions (so nothing is
assumed about them), and large initializers become typed inputs (their shapes are all that
inference needs, and copying weights would double the memory of a big model).
"""

from __future__ import annotations

import onnx
from onnx import helper

#: Initializers up to this many elements keep their values (shape operands, axes, pads).
_KEEP_VALUES = 1 << 12


def static_value_shapes(
    model: onnx.ModelProto, input_shapes: dict[str, tuple[int, ...]]
) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every intermediate value whose inferred shape is fully static."""
    light = _light_copy(model, input_shapes)
    try:
        inferred = onnx.shape_inference.infer_shapes(light, data_prop=True)
    except Exception:  # best effort: without inference only graph inputs' shapes are known
        return {}
    shapes = {}
    for value in inferred.graph.value_info:
        tensor_type = value.type.tensor_type
        if not value.type.HasField("tensor_type") or not tensor_type.HasField("shape"):
            continue
        if all(d.HasField("dim_value") for d in tensor_type.shape.dim):
            shapes[value.name] = tuple(int(d.dim_value) for d in tensor_type.shape.dim)
    return shapes


def _light_copy(
    model: onnx.ModelProto, input_shapes: dict[str, tuple[int, ...]]
) -> onnx.ModelProto:
    graph = model.graph
    weights = {t.name: t for t in graph.initializer}
    inputs = [
        _input_info(value, input_shapes.get(value.name))
        for value in graph.input
        if value.name not in weights
    ]
    small = []
    for tensor in graph.initializer:
        if _elements(tensor.dims) <= _KEEP_VALUES:
            small.append(tensor)
        else:
            inputs.append(helper.make_tensor_value_info(tensor.name, tensor.data_type, tensor.dims))
    outputs = [helper.make_value_info(o.name, onnx.TypeProto()) for o in graph.output]
    light_graph = helper.make_graph(list(graph.node), graph.name, inputs, outputs, small)
    light = helper.make_model(light_graph, opset_imports=list(model.opset_import))
    light.ir_version = model.ir_version
    light.functions.extend(model.functions)
    return light


def _input_info(value: onnx.ValueInfoProto, fixed: tuple[int, ...] | None) -> onnx.ValueInfoProto:
    """The input with its fixed shape, or with every dimension made symbolic."""
    tensor_type = value.type.tensor_type
    if not value.type.HasField("tensor_type") or not tensor_type.HasField("shape"):
        return value
    if fixed is None:
        rank = len(tensor_type.shape.dim)
        dims: list[int | str] = [f"{value.name}_{i}" for i in range(rank)]
    else:
        dims = list(fixed)
    return helper.make_tensor_value_info(value.name, tensor_type.elem_type, dims)


def _elements(dims: object) -> int:
    count = 1
    for d in dims:  # type: ignore[attr-defined]
        count *= int(d)
    return count

"""The fully static shapes of a graph's values, as ONNX shape inference derives them.

Constant folding needs the shape of intermediate values: function-expanded operators
(LayerNormalization, Attention, GroupNormalization, ...) read `Shape` of their own
intermediate results, and TVM's importer turns every such `Shape` into a shape expression
that most converters refuse. Where inference fixes a value's shape, that `Shape` is a
constant. Graph inputs count as fixed only when the caller says so (a symbolic input
dimension must stay symbolic even when the file happens to declare a number).
"""

from __future__ import annotations

import onnx
from onnx import shape_inference

#: Initializers above this many elements are handed to inference as typed inputs (shape only),
#: so it never copies or reads large weights.
_VALUE_LIMIT = 1 << 16


def static_shapes(
    model: onnx.ModelProto, input_shapes: dict[str, tuple[int, ...]]
) -> dict[str, tuple[int, ...]]:
    """Value name -> shape, for every value whose shape is fully known.

    `input_shapes` holds the graph inputs whose shapes are fixed; other inputs are treated as
    having unknown dimensions. A model inference cannot process yields just `input_shapes`.
    """
    shapes = dict(input_shapes)
    try:
        inferred = shape_inference.infer_shapes(_probe(model, input_shapes), data_prop=True)
    except Exception:  # inference is best effort; folding then uses the inputs' shapes only
        return shapes
    graph = inferred.graph
    for value in list(graph.value_info) + list(graph.output):
        shape = _fixed(value)
        if shape is not None and value.name not in shapes:
            shapes[value.name] = shape
    return shapes


def _probe(model: onnx.ModelProto, input_shapes: dict[str, tuple[int, ...]]) -> onnx.ModelProto:
    """A copy of `model` for inference: fixed inputs pinned, others unknown, big weights typed."""
    probe = onnx.ModelProto()
    probe.ir_version = model.ir_version
    probe.opset_import.extend(model.opset_import)
    probe.functions.extend(model.functions)
    graph = probe.graph
    graph.node.extend(model.graph.node)
    graph.output.extend(model.graph.output)
    initialized = {t.name for t in model.graph.initializer}
    for value in model.graph.input:
        if value.name in initialized:
            continue
        graph.input.append(_with_shape(value, input_shapes.get(value.name)))
    for tensor in model.graph.initializer:
        if _elements(tensor) <= _VALUE_LIMIT:
            graph.initializer.append(tensor)
        else:
            graph.input.append(
                onnx.helper.make_tensor_value_info(tensor.name, tensor.data_type, list(tensor.dims))
            )
    return probe


def _with_shape(value: onnx.ValueInfoProto, shape: tuple[int, ...] | None) -> onnx.ValueInfoProto:
    copy = onnx.ValueInfoProto()
    copy.CopyFrom(value)
    if not copy.type.HasField("tensor_type"):
        return copy
    if shape is None and not copy.type.tensor_type.HasField("shape"):
        return copy
    dims = copy.type.tensor_type.shape.dim
    rank = len(dims) if shape is None else len(shape)
    del dims[:]
    for index in range(rank):
        dim = dims.add()
        if shape is not None:
            dim.dim_value = shape[index]
        else:
            dim.dim_param = f"{value.name}_dim{index}"
    return copy


def _fixed(value: onnx.ValueInfoProto) -> tuple[int, ...] | None:
    tensor_type = value.type.tensor_type
    if not value.type.HasField("tensor_type") or not tensor_type.HasField("shape"):
        return None
    dims = tensor_type.shape.dim
    if not all(d.HasField("dim_value") and d.dim_value >= 0 for d in dims):
        return None
    return tuple(int(d.dim_value) for d in dims)


def _elements(tensor: onnx.TensorProto) -> int:
    count = 1
    for dim in tensor.dims:
        count *= dim
    return count

"""Graph surgery for the bisection: make a node's results the outputs of a pruned copy.

The copy keeps every graph input (so one feed serves each probe), the nodes the exposed
tensors depend on, in their original order, and the initializers those nodes read.
"""

from __future__ import annotations

from collections.abc import Iterable

import onnx

_FLOAT_TYPES = frozenset(
    {
        onnx.TensorProto.FLOAT,
        onnx.TensorProto.DOUBLE,
        onnx.TensorProto.FLOAT16,
        onnx.TensorProto.BFLOAT16,
    }
)


def tensor_types(model: onnx.ModelProto) -> dict[str, onnx.ValueInfoProto]:
    """Every tensor ONNX shape inference gives a type and rank, graph outputs included.

    A graph output must declare both, so a tensor of unknown rank cannot be exposed.
    """
    inferred = onnx.shape_inference.infer_shapes(model)
    graph = inferred.graph
    types: dict[str, onnx.ValueInfoProto] = {}
    for value in [*graph.input, *graph.value_info, *graph.output]:
        tensor = value.type.tensor_type
        if value.type.HasField("tensor_type") and tensor.elem_type and tensor.HasField("shape"):
            types[value.name] = value
    return types


def float_outputs(node: onnx.NodeProto, types: dict[str, onnx.ValueInfoProto]) -> list[str]:
    """The node's results that are floating-point tensors of a known type and rank."""
    return [
        name
        for name in node.output
        if name in types and types[name].type.tensor_type.elem_type in _FLOAT_TYPES
    ]


def _reads(node: onnx.NodeProto) -> set[str]:
    """Names a node reads, its subgraphs' reads of outer tensors included (over-approximated)."""
    names = {n for n in node.input if n}
    for attr in node.attribute:
        graphs = [attr.g] if attr.HasField("g") else list(attr.graphs)
        for graph in graphs:
            for inner in graph.node:
                names |= _reads(inner)
    return names


def ancestors(model: onnx.ModelProto, tensors: Iterable[str]) -> list[int]:
    """Indices of the nodes `tensors` depend on, in graph (topological) order."""
    needed = set(tensors)
    keep: list[int] = []
    for index in range(len(model.graph.node) - 1, -1, -1):
        node = model.graph.node[index]
        if needed & set(node.output):
            keep.append(index)
            needed |= _reads(node)
    return keep[::-1]


def exposed(
    model: onnx.ModelProto, outputs: list[str], types: dict[str, onnx.ValueInfoProto]
) -> onnx.ModelProto:
    """A copy of `model` whose graph outputs are `outputs`, without the nodes they do not need."""
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    graph = copy.graph
    kept = [graph.node[i] for i in ancestors(model, outputs)]
    reads = set().union(*(_reads(n) for n in kept)) if kept else set()
    # Before IR 4 initializers are graph inputs too; those stay, so no input loses its value.
    listed = {v.name for v in graph.input}
    initializers = [t for t in graph.initializer if t.name in reads or t.name in listed]
    del graph.node[:]
    graph.node.extend(kept)
    del graph.initializer[:]
    graph.initializer.extend(initializers)
    del graph.output[:]
    graph.output.extend(types[name] for name in outputs)
    del graph.value_info[:]
    return copy

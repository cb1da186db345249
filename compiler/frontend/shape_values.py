"""Which nodes must hand their consumers a tensor where TVM would hand a shape expression.

TVM's importer represents `Shape` (and Concat, Gather, Slice, ... of shapes) as a Relax
shape expression, which only the operators in `SHAPE_AWARE` accept; any other consumer
stops the import ("cannot handle ShapeExpr inputs"). Folding turns every fixed shape into a
constant, so this matters for symbolic dimensions. A node whose output is read by another
operator, by a subgraph, or is a graph output, has a shape-expression result converted to
an int64 tensor (`shape_to_tensor`, ONNX's own representation) right where it is made.
Nodes are found by name, so every node gets a unique one first.
"""

from __future__ import annotations

import onnx

#: Operators Ember's converters compute on dimension expressions (`converters.shape_arith`).
SYMBOLIC_OPS = frozenset(
    {"Add", "Sub", "Mul", "Div", "Max", "Min", "Squeeze", "Unsqueeze", "Reshape", "Range", "Cast"}
)

#: The operators TVM's importer lets read a shape expression (`_construct_nodes`).
SHAPE_AWARE = frozenset(
    {
        "Reshape",
        "Resize",
        "ConstantOfShape",
        "Gather",
        "Slice",
        "Shape",
        "Expand",
        "Concat",
        "Equal",
        "Where",
        "Cast",
        "CastLike",
        "Squeeze",
        *SYMBOLIC_OPS,
    }
)


def name_nodes(model: onnx.ModelProto) -> None:
    """Give every unnamed or duplicately named top-level node a unique name, in place."""
    taken: set[str] = set()
    for index, node in enumerate(model.graph.node):
        if not node.name or node.name in taken:
            base = f"{node.op_type}_{index}"
            name, suffix = base, 0
            while name in taken:
                suffix += 1
                name = f"{base}_{suffix}"
            node.name = name
        taken.add(node.name)


def tensor_result_nodes(model: onnx.ModelProto) -> frozenset[str]:
    """Names of the nodes whose results some reader needs as tensors."""
    graph = model.graph
    needs_tensor = {o.name for o in graph.output}
    for node in graph.node:
        if node.op_type not in SHAPE_AWARE:
            needs_tensor.update(node.input)
        for attribute in node.attribute:  # what a subgraph reads from outside is unknown
            for subgraph in [attribute.g, *attribute.graphs]:
                needs_tensor.update(_names_read(subgraph))
    return frozenset(
        node.name for node in graph.node if any(out in needs_tensor for out in node.output)
    )


def _names_read(graph: onnx.GraphProto) -> set[str]:
    names: set[str] = set()
    for node in graph.node:
        names.update(node.input)
        for attribute in node.attribute:
            for subgraph in [attribute.g, *attribute.graphs]:
                names.update(_names_read(subgraph))
    return names

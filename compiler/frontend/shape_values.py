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

#: The operators TVM's importer lets read a shape expression (`_construct_nodes`). Its check
#: runs before any converter, so even Ember's symbolic arithmetic gets shape expressions only
#: through these; a `Shape` read by a `Sub` must arrive as a tensor.
TVM_SHAPE_AWARE = frozenset(
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
    }
)

#: The operators that read a single dimension (a `PrimExpr`) as it is.
SHAPE_AWARE = TVM_SHAPE_AWARE | SYMBOLIC_OPS


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


def tensor_result_nodes(model: onnx.ModelProto) -> dict[str, bool]:
    """Nodes whose results some reader needs as tensors: name -> whether a dimension too.

    True: a reader takes no shape value at all (a dimension also becomes a tensor). False:
    the readers take dimensions but some cannot take a shape expression (TVM's check).
    """
    graph = model.graph
    needs_tensor = {o.name for o in graph.output}
    needs_vector: set[str] = set()
    for node in graph.node:
        if node.op_type not in SHAPE_AWARE:
            needs_tensor.update(node.input)
        elif node.op_type not in TVM_SHAPE_AWARE:
            needs_vector.update(node.input)
        for attribute in node.attribute:  # what a subgraph reads from outside is unknown
            for subgraph in [attribute.g, *attribute.graphs]:
                needs_tensor.update(_names_read(subgraph))
    result: dict[str, bool] = {}
    for node in graph.node:
        if any(out in needs_tensor for out in node.output):
            result[node.name] = True
        elif any(out in needs_vector for out in node.output):
            result[node.name] = False
    return result


def _names_read(graph: onnx.GraphProto) -> set[str]:
    names: set[str] = set()
    for node in graph.node:
        names.update(node.input)
        for attribute in node.attribute:
            for subgraph in [attribute.g, *attribute.graphs]:
                names.update(_names_read(subgraph))
    return names

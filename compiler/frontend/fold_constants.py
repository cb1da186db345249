"""Evaluate the parts of an ONNX graph that depend on no input, before import.

Exporters leave shape arithmetic in graphs (Shape -> Gather -> Concat -> Expand, masks built
with Where/Equal over constant ranges). TVM's importer handles some of these patterns and
fails on others; once evaluated they are plain initializers that every converter accepts.
A node is folded when all its inputs are initializers or `Constant` outputs, and a `Shape` or
`Size` node when the shape of what it reads is fully fixed (a fixed input, or a value whose
shape ONNX shape inference derives from the fixed inputs); it is evaluated by ONNX's reference
implementation at the model's own opset. An `If` on a constant condition is replaced by its
taken branch. Folding repeats while it makes progress, since a folded value (a Reshape
target, say) lets inference fix further shapes. Outputs above `MAX_ELEMENTS` stay computed
at run time (no weight bloat).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from .constant_branches import branch_constants, inlined, taken_branch
from .static_shapes import static_shapes

MAX_ELEMENTS = 1 << 20
# Random or stateful operators must run every time.
_NEVER = {
    "RandomNormal",
    "RandomUniform",
    "RandomNormalLike",
    "RandomUniformLike",
    "Multinomial",
    "Bernoulli",
    "If",
    "Loop",
    "Scan",
}
#: Operators whose output depends only on their input's shape.
_SHAPE_READERS = {"Shape", "Size"}


#: Rounds of (shape inference, folding); each round that folds nothing ends the loop.
MAX_ROUNDS = 8


def fold_constants(model: onnx.ModelProto, input_shapes: dict[str, tuple[int, ...]]) -> int:
    """Fold constant subgraphs of `model` in place; return the number of nodes removed.

    `input_shapes` holds the inputs whose shapes are fully fixed (their `Shape` is constant).
    """
    total = 0
    for _ in range(MAX_ROUNDS):
        folded = _fold_round(model, static_shapes(model, input_shapes))
        total += folded
        if not folded or not any(n.op_type in _SHAPE_READERS for n in model.graph.node):
            break
    return total


def _fold_round(model: onnx.ModelProto, shapes: dict[str, tuple[int, ...]]) -> int:
    """One pass over the nodes in order, folding what is constant given `shapes`."""
    known = _initializer_values(model)
    opsets = list(model.opset_import)
    kept, folded = [], 0
    pending = list(reversed(model.graph.node))  # a stack: the next node is last
    while pending:
        node = pending.pop()
        branch = taken_branch(node, known)
        if branch is not None:  # its nodes take its place, and are folded in turn
            known.update(branch_constants(branch))
            pending.extend(reversed(inlined(node, branch)))
            folded += 1
            continue
        values = _evaluate(node, known, shapes, opsets)
        if values is None:
            kept.append(node)
            continue
        known.update(values)
        folded += 1
    if folded:
        _rewrite(model, kept, known)
    return folded


def _initializer_values(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    """Initializers as arrays; malformed ones are left for the importer to report."""
    values = {}
    for tensor in model.graph.initializer:
        try:
            values[tensor.name] = numpy_helper.to_array(tensor)
        except (ValueError, TypeError):
            continue
    return values


def _evaluate(
    node: onnx.NodeProto,
    known: dict[str, np.ndarray],
    shapes: dict[str, tuple[int, ...]],
    opsets: list[onnx.OperatorSetIdProto],
) -> dict[str, np.ndarray] | None:
    if node.domain not in ("", "ai.onnx") or node.op_type in _NEVER:
        return None
    if node.op_type in _SHAPE_READERS and node.input[0] in shapes:
        return {node.output[0]: _shape_value(node, shapes[node.input[0]])}
    if not all(name == "" or name in known for name in node.input):
        return None
    feeds = {name: known[name] for name in node.input if name}
    try:
        graph = helper.make_graph(
            [node],
            "fold",
            [_info(n, v) for n, v in feeds.items()],
            [helper.make_empty_tensor_value_info(o) for o in node.output if o],
        )
        results = ReferenceEvaluator(helper.make_model(graph, opset_imports=opsets)).run(
            None, feeds
        )
    except Exception:  # anything the reference cannot evaluate is left to the importer
        return None
    outputs = [o for o in node.output if o]
    if any(np.asarray(r).size > MAX_ELEMENTS for r in results):
        return None
    return {name: np.asarray(r) for name, r in zip(outputs, results, strict=True)}


def _shape_value(node: onnx.NodeProto, shape: tuple[int, ...]) -> np.ndarray:
    """The output of `Shape` (with its start/end, which clamp as Python slices do) or `Size`."""
    if node.op_type == "Size":
        return np.array(int(np.prod(shape, dtype=np.int64)), dtype=np.int64)
    attrs = {a.name: a.i for a in node.attribute}
    return np.array(shape[attrs.get("start", 0) : attrs.get("end", len(shape))], dtype=np.int64)


def _info(name: str, value: np.ndarray) -> onnx.ValueInfoProto:
    elem = helper.np_dtype_to_tensor_dtype(value.dtype)
    return helper.make_tensor_value_info(name, elem, list(value.shape))


def _rewrite(model: onnx.ModelProto, kept: list[onnx.NodeProto], known: dict) -> None:
    """Keep `kept` nodes; turn every folded value they (or the outputs) read into an initializer."""
    graph = model.graph
    present = {t.name for t in graph.initializer}
    needed = {name for node in kept for name in _reads(node)} | {o.name for o in graph.output}
    for name in sorted(needed - present):
        if name in known:
            graph.initializer.append(numpy_helper.from_array(known[name], name))
    del graph.node[:]
    graph.node.extend(kept)


def _reads(node: onnx.NodeProto) -> set[str]:
    """Names `node` reads: its inputs and the outer values its subgraphs (bodies) use."""
    names = {name for name in node.input if name}
    for attr in node.attribute:
        for sub in [attr.g] if attr.HasField("g") else list(attr.graphs):
            defined = {v.name for v in sub.input} | {t.name for t in sub.initializer}
            for inner in sub.node:
                names |= _reads(inner) - defined
                defined |= set(inner.output)
    return names

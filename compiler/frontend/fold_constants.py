"""Evaluate the parts of an ONNX graph that depend on no input, before import.

Exporters leave shape arithmetic in graphs (Shape -> Gather -> Concat -> Expand, masks built
with Where/Equal over constant ranges). TVM's importer handles some of these patterns and
fails on others; once evaluated they are plain initializers that every converter accepts.
A node is folded when all its inputs are initializers, `Constant` outputs, or the `Shape` of
an input whose shape is fully fixed; it is evaluated by ONNX's reference implementation at the
model's own opset. Outputs above `MAX_ELEMENTS` stay computed at run time (no weight bloat).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from .static_shapes import static_value_shapes

MAX_ELEMENTS = 1 << 20
#: Folding passes at most (each after the previous one fixed more shapes).
_MAX_PASSES = 4
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


def fold_constants(model: onnx.ModelProto, input_shapes: dict[str, tuple[int, ...]]) -> int:
    """Fold constant subgraphs of `model` in place; return the number of nodes removed.

    `input_shapes` holds the inputs whose shapes are fully fixed (their `Shape` is constant).
    Folding can fix the shape of a later value (a Pad whose pads were computed), whose
    `Shape` then folds in turn, so passes repeat, with shapes re-inferred, until none folds.
    """
    total = 0
    for _ in range(_MAX_PASSES):
        shapes = {**static_value_shapes(model, input_shapes), **input_shapes}
        folded = _fold_pass(model, shapes)
        total += folded
        if not folded:
            break
    return total


def _fold_pass(model: onnx.ModelProto, shapes: dict[str, tuple[int, ...]]) -> int:
    known = _initializer_values(model)
    opsets = list(model.opset_import)
    kept, folded = [], 0
    for node in model.graph.node:
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
    input_shapes: dict[str, tuple[int, ...]],
    opsets: list[onnx.OperatorSetIdProto],
) -> dict[str, np.ndarray] | None:
    if node.domain not in ("", "ai.onnx") or node.op_type in _NEVER:
        return None
    if node.op_type == "Shape" and node.input[0] in input_shapes:
        return {node.output[0]: _shape_value(node, input_shapes[node.input[0]])}
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
    """`Shape`'s output for a fixed input shape, with its `start` / `end` (opset 15)."""
    attrs = {a.name: a.i for a in node.attribute}
    end = attrs.get("end", len(shape))
    return np.array(shape[attrs.get("start", 0) : end], dtype=np.int64)


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

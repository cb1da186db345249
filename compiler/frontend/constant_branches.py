"""Inline an `If` whose condition is a constant: its taken branch replaces it.

Function-expanded operators (AffineGrid, ...) choose between branches on a constant (the
rank of a size, an attribute); TVM imports an `If` as a run-time branch, and its subgraph
conversion fails on several operators. A branch reads outer values by name, so its nodes can
run in the outer graph as they are; Identity nodes give its outputs the If's output names.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper


def taken_branch(node: onnx.NodeProto, known: dict[str, np.ndarray]) -> onnx.GraphProto | None:
    """The branch an `If` node takes when its condition is in `known`, else None."""
    if node.op_type != "If" or node.domain not in ("", "ai.onnx") or node.input[0] not in known:
        return None
    condition = np.asarray(known[node.input[0]])
    if condition.size != 1:
        return None
    name = "then_branch" if bool(condition.reshape(-1)[0]) else "else_branch"
    for attribute in node.attribute:
        if attribute.name == name:
            return attribute.g
    return None


def inlined(node: onnx.NodeProto, branch: onnx.GraphProto) -> list[onnx.NodeProto]:
    """The branch's nodes followed by an Identity per output, named as the If's outputs."""
    nodes = list(branch.node)
    for inner, outer in zip(branch.output, node.output, strict=False):
        if outer:
            nodes.append(helper.make_node("Identity", [inner.name], [outer]))
    return nodes


def branch_constants(branch: onnx.GraphProto) -> dict[str, np.ndarray]:
    """The branch's own initializers as arrays."""
    return {t.name: numpy_helper.to_array(t) for t in branch.initializer}

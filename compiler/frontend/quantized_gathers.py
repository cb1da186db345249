"""Gather the rows of a quantized table before dequantizing them, not after.

ONNX Runtime's `quantize_static` quantizes embedding tables too: a Gather reads
DequantizeLinear(q, scale, zero point) of an 8-bit initializer. Imported as it is, constant
folding dequantizes the whole table into float32 and the artifact stores that (BERT-base's
word embeddings: 94 MB, against 23 MB of integers in the model). Dequantizing is elementwise,
so with one scale and zero point for the whole table it commutes with the Gather: gathering
the integers, then dequantizing the rows gathered, gives the same values bit for bit, and the
artifact stores the integers.

Rewritten where the DequantizeLinear reads an int8 or uint8 initializer with a scalar scale
(and zero point) from initializers; it stays for readers other than Gathers. The new
DequantizeLinear is named after its Gather ("<gather>/dequantize") and keeps the original's
attributes.
"""

from __future__ import annotations

import onnx
from onnx import TensorProto, helper

_EIGHT_BIT = (TensorProto.INT8, TensorProto.UINT8)


def gather_quantized_rows(model: onnx.ModelProto) -> int:
    """Rewrite `model` in place as the module docstring says; return how many Gathers moved."""
    graph = model.graph
    initializers = {init.name: init for init in graph.initializer}
    producers = {out: node for node in graph.node for out in node.output}
    moved: dict[str, onnx.NodeProto] = {}  # a Gather's output -> its new DequantizeLinear
    for node in graph.node:
        if node.op_type != "Gather" or node.domain not in ("", "ai.onnx"):
            continue
        table = producers.get(node.input[0])
        if table is None or not _per_tensor_dequantize(table, initializers):
            continue
        gathered = f"{node.output[0]}/integers"
        dequantize = helper.make_node(
            "DequantizeLinear",
            [gathered, *table.input[1:]],
            [node.output[0]],
            name=f"{node.name or node.output[0]}/dequantize",
        )
        dequantize.attribute.extend(table.attribute)
        node.input[0] = table.input[0]
        node.output[0] = gathered
        moved[gathered] = dequantize
    if not moved:
        return 0
    nodes = []
    for node in graph.node:
        nodes.append(node)
        if node.op_type == "Gather" and node.output[0] in moved:
            nodes.append(moved[node.output[0]])
    del graph.node[:]
    graph.node.extend(_without_unread_dequantizes(nodes, graph))
    return len(moved)


def _per_tensor_dequantize(node: onnx.NodeProto, initializers: dict[str, onnx.TensorProto]) -> bool:
    """Whether `node` dequantizes an 8-bit initializer with a scalar scale and zero point."""
    if node.op_type != "DequantizeLinear" or node.domain not in ("", "ai.onnx"):
        return False
    names = [name for name in node.input if name]
    if not all(name in initializers for name in names):
        return False
    data, *parameters = (initializers[name] for name in names)
    return data.data_type in _EIGHT_BIT and all(len(p.dims) == 0 for p in parameters)


def _without_unread_dequantizes(
    nodes: list[onnx.NodeProto], graph: onnx.GraphProto
) -> list[onnx.NodeProto]:
    """`nodes` less the DequantizeLinear nodes whose output nothing reads any more."""
    read = _names_read(nodes)
    read.update(out.name for out in graph.output)
    return [
        node
        for node in nodes
        if node.op_type != "DequantizeLinear" or any(out in read for out in node.output)
    ]


def _names_read(nodes: list[onnx.NodeProto]) -> set[str]:
    """The names `nodes` read, those their subgraphs (If, Loop, Scan bodies) read included."""
    read: set[str] = set()
    for node in nodes:
        read.update(node.input)
        for attribute in node.attribute:
            for subgraph in [attribute.g, *attribute.graphs]:
                read.update(_names_read(list(subgraph.node)))
    return read

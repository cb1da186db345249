"""Fold a zero Pad of the spatial dimensions into the convolutions that read it.

Exporters write "same" padding of strided convolutions (EfficientNet's `ZeroPad2d`, TF-style
asymmetric padding) as a separate Pad node. Left alone it is a pass over memory of its own,
and in a channels-last build a pair of transposes around it, since the layout pass keeps Pad in
the ONNX layout. A convolution pads with zeros itself, asymmetrically if need be, so the
Pad's amounts move into the Conv's `pads` and the Pad goes.

Only a constant-mode Pad of zeros, non-negative amounts on the spatial axes alone, whose every
reader is a Conv with explicit padding (`auto_pad` NOTSET), is folded; the Pad value must not
be a graph output. Precondition: constants folded (the amounts are initializers or Constant
outputs).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import onnx
from onnx import helper, numpy_helper


def fold_pads_into_convs(model: onnx.ModelProto) -> int:
    """Fold every eligible Pad of the main graph into its Conv readers; return how many."""
    graph = model.graph
    constants = _constants(graph)
    readers: dict[str, list[onnx.NodeProto]] = defaultdict(list)
    for node in graph.node:
        for name in node.input:
            readers[name].append(node)
    outputs = {o.name for o in graph.output}
    folded: set[int] = set()
    for node in graph.node:
        if node.op_type != "Pad" or node.domain not in ("", "ai.onnx"):
            continue
        out = node.output[0]
        convs = readers[out]
        if out in outputs or not convs or not all(_explicit_conv(c, out) for c in convs):
            continue
        spatial = _spatial_pads(node, constants)
        if spatial is None or any(len(_pads(c, len(spatial))) != len(spatial) for c in convs):
            continue
        for conv in convs:
            _add_pads(conv, spatial)
            conv.input[0] = node.input[0]
        folded.add(id(node))
    if folded:
        kept = [n for n in graph.node if id(n) not in folded]
        del graph.node[:]
        graph.node.extend(kept)
    return len(folded)


def _constants(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    values = {}
    for init in graph.initializer:
        try:
            values[init.name] = numpy_helper.to_array(init)
        except (ValueError, TypeError):
            continue  # malformed: the checks name it
    for node in graph.node:
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
            for attr in node.attribute:
                if attr.name == "value":
                    values[node.output[0]] = numpy_helper.to_array(attr.t)
    return values


def _explicit_conv(node: onnx.NodeProto, data: str) -> bool:
    """A Conv that reads `data` as its input (not its weight) and pads explicitly."""
    if node.op_type != "Conv" or node.domain not in ("", "ai.onnx") or node.input[0] != data:
        return False
    if data in node.input[1:]:
        return False
    auto_pad = next((a.s for a in node.attribute if a.name == "auto_pad"), b"NOTSET")
    return auto_pad in (b"NOTSET", b"")


def _spatial_pads(pad: onnx.NodeProto, constants: dict[str, np.ndarray]) -> list[int] | None:
    """The [begin..., end...] amounts of the spatial axes.

    None if the Pad is not a zero, constant-mode, non-negative padding of those axes only.
    """
    attrs = {a.name: helper.get_attribute_value(a) for a in pad.attribute}
    mode = attrs.get("mode", b"constant")
    if mode not in (b"constant", "constant"):
        return None
    if "pads" in attrs:  # opset < 11
        pads = np.asarray(attrs["pads"], dtype=np.int64)
        value = float(attrs.get("value", 0.0))
    else:
        if len(pad.input) < 2 or pad.input[1] not in constants:
            return None
        pads = constants[pad.input[1]].astype(np.int64).reshape(-1)
        value = 0.0
        if len(pad.input) > 2 and pad.input[2]:
            if pad.input[2] not in constants:
                return None
            fill = constants[pad.input[2]].reshape(-1)
            value = float(fill[0]) if fill.size else 0.0
        if len(pad.input) > 3 and pad.input[3]:
            return None  # an axes input: leave the rare form alone
    rank = pads.size // 2
    if value != 0.0 or rank < 3 or pads.size != 2 * rank or (pads < 0).any():
        return None
    begin, end = pads[:rank], pads[rank:]
    if begin[:2].any() or end[:2].any():
        return None  # batch or channel padding is not a convolution's
    return [int(p) for p in (*begin[2:], *end[2:])]


def _pads(conv: onnx.NodeProto, length: int) -> list[int]:
    """The Conv's `pads` (zeros of `length` when absent)."""
    current = next((a for a in conv.attribute if a.name == "pads"), None)
    return list(current.ints) if current is not None else [0] * length


def _add_pads(conv: onnx.NodeProto, spatial: list[int]) -> None:
    """Add `spatial` to the Conv's `pads` attribute (created if absent)."""
    new = [a + b for a, b in zip(_pads(conv, len(spatial)), spatial, strict=True)]
    for attr in [a for a in conv.attribute if a.name == "pads"]:
        conv.attribute.remove(attr)
    conv.attribute.append(helper.make_attribute("pads", new))

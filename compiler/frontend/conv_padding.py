"""Make convolution padding explicit, and fold a zero Pad before a Conv into the Conv.

`auto_pad` (VALID, SAME_UPPER, SAME_LOWER; PyTorch writes VALID for `padding="valid"`) becomes
explicit `pads`: TVM's importer lowers a Conv with `auto_pad` to a separate pad kernel before
the convolution, even one of zero amounts, which is a copy of the whole input per Conv (with a
transpose pair around it in a channels-last build).

Exporters write "same" padding of strided convolutions (EfficientNet's `ZeroPad2d`, TF-style
asymmetric padding) as a separate Pad node. Left alone it is a pass over memory of its own,
and in a channels-last build a pair of transposes around it, since the layout pass keeps Pad in
the ONNX layout. A convolution pads with zeros itself, asymmetrically if need be, so the
Pad's amounts move into the Conv's `pads` and the Pad goes.

Only a constant-mode Pad of zeros, non-negative amounts on the spatial axes alone, whose every
reader is a Conv with explicit padding (`auto_pad` NOTSET, or VALID: none), is folded; the
Pad value must not be a graph output. Precondition: constants folded (the amounts are
initializers or Constant outputs).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import onnx
from onnx import helper, numpy_helper


def explicit_auto_pads(model: onnx.ModelProto) -> int:
    """Replace `auto_pad` of the main graph's Convs by explicit `pads`; return how many.

    VALID needs nothing; SAME_* needs the input's spatial sizes, from ONNX shape inference,
    and is left as it is where they are not static.
    """
    graph = model.graph
    convs = [n for n in graph.node if _is_conv(n) and _auto_pad(n) not in (b"NOTSET", b"")]
    if not convs:
        return 0
    shapes: dict[str, list[int | None]] = {}
    if any(_auto_pad(n) != b"VALID" for n in convs):
        shapes = _static_shapes(model)
    weights = {t.name: list(t.dims) for t in graph.initializer}
    done = 0
    for conv in convs:
        pads = _same_pads(conv, shapes, weights) if _auto_pad(conv) != b"VALID" else None
        if _auto_pad(conv) != b"VALID" and pads is None:
            continue
        rank = _spatial_rank(conv, shapes, weights)
        if rank is None:
            continue
        for attr in [a for a in conv.attribute if a.name in ("pads", "auto_pad")]:
            conv.attribute.remove(attr)
        conv.attribute.append(helper.make_attribute("pads", pads or [0] * (2 * rank)))
        done += 1
    return done


def _is_conv(node: onnx.NodeProto) -> bool:
    return node.op_type == "Conv" and node.domain in ("", "ai.onnx")


def _auto_pad(node: onnx.NodeProto) -> bytes:
    return next((a.s for a in node.attribute if a.name == "auto_pad"), b"NOTSET")


def _ints(node: onnx.NodeProto, name: str, default: list[int]) -> list[int]:
    return next((list(a.ints) for a in node.attribute if a.name == name), default)


def _spatial_rank(
    conv: onnx.NodeProto, shapes: dict[str, list[int | None]], weights: dict[str, list[int]]
) -> int | None:
    kernel = _ints(conv, "kernel_shape", [])
    if kernel:
        return len(kernel)
    if len(conv.input) > 1 and conv.input[1] in weights:
        return len(weights[conv.input[1]]) - 2
    shape = shapes.get(conv.input[0])
    return len(shape) - 2 if shape else None


def _same_pads(
    conv: onnx.NodeProto, shapes: dict[str, list[int | None]], weights: dict[str, list[int]]
) -> list[int] | None:
    """SAME_UPPER / SAME_LOWER amounts as ONNX defines them (output = ceil(input / stride))."""
    shape = shapes.get(conv.input[0])
    kernel = _ints(conv, "kernel_shape", [])
    if not kernel and len(conv.input) > 1 and conv.input[1] in weights:
        kernel = weights[conv.input[1]][2:]
    if shape is None or not kernel or len(shape) != len(kernel) + 2:
        return None
    sizes = shape[2:]
    if any(not isinstance(d, int) for d in sizes):
        return None
    rank = len(kernel)
    strides = _ints(conv, "strides", [1] * rank)
    dilations = _ints(conv, "dilations", [1] * rank)
    if len(strides) != rank or len(dilations) != rank or min(strides) < 1:
        return None  # malformed: ONNX's checks or the importer name it
    begins, ends = [], []
    for size, k, stride, dilation in zip(sizes, kernel, strides, dilations, strict=True):
        assert isinstance(size, int)
        out = -(-size // stride)
        total = max((out - 1) * stride + (k - 1) * dilation + 1 - size, 0)
        small, large = total // 2, total - total // 2
        upper = _auto_pad(conv) == b"SAME_UPPER"
        begins.append(small if upper else large)
        ends.append(large if upper else small)
    return [*begins, *ends]


def _static_shapes(model: onnx.ModelProto) -> dict[str, list[int | None]]:
    """Every value's dimensions that ONNX shape inference knows (None where symbolic)."""
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except (onnx.shape_inference.InferenceError, onnx.checker.ValidationError, ValueError):
        return {}
    graph = inferred.graph
    shapes = {}
    for value in [*graph.input, *graph.value_info, *graph.output]:
        tensor = value.type.tensor_type
        if tensor.HasField("shape"):
            shapes[value.name] = [
                d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim
            ]
    return shapes


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
    return auto_pad in (b"NOTSET", b"", b"VALID")


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
    """The Conv's `pads` (zeros of `length` when absent or `auto_pad` is VALID)."""
    current = next((a for a in conv.attribute if a.name == "pads"), None)
    valid = any(a.name == "auto_pad" and a.s == b"VALID" for a in conv.attribute)
    return list(current.ints) if current is not None and not valid else [0] * length


def _add_pads(conv: onnx.NodeProto, spatial: list[int]) -> None:
    """Add `spatial` to the Conv's `pads` attribute (created if absent)."""
    new = [a + b for a, b in zip(_pads(conv, len(spatial)), spatial, strict=True)]
    for attr in [a for a in conv.attribute if a.name in ("pads", "auto_pad")]:
        conv.attribute.remove(attr)
    conv.attribute.append(helper.make_attribute("pads", new))

"""Bind graph inputs to constant values (`--bind NAME=VALUES`) before import.

Some operator inputs decide the *shape* of a result rather than its values: Tile's repeats,
Expand's shape, Range's bounds, a Loop's trip count. Where Ember's converters cannot take such
an input at run time, an ahead-of-time compiler needs it as a constant to type the graph, so a
model that takes it as a graph input cannot be compiled as it is. Users who know the values pin them with
`--bind` (`CompileOptions.bind_inputs`): the input becomes an initializer and leaves the
artifact's signature, and constant folding and the importer see a constant.

`operand_inputs` finds the graph inputs that feed such slots, so `ember check` can suggest
the option and the conformance backend can bind exactly those (never a data input).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ember.errors import OptionError

from ..options import parse_repeated

#: Operator -> indices of inputs that set shapes, axes or other compile-time operands.
#: Many operand inputs are not here because their converters take them at run time (a value
#: read by a kernel, or a symbolic output extent matched from it): reductions' axes, CumSum's
#: and CumProd's axis, OneHot's depth, Pad's pads and axes, CenterCropPad's shape, Col2Im's
#: shapes, AffineGrid's size, Resize's roi, scales and sizes, Upsample's scales, Split's sizes,
#: TopK's k, Slice's operands, Reshape's shape, Trilu's k, Dropout's ratio and training mode,
#: NonMaxSuppression's limits and the window functions' size (see `converters/`).
OPERAND_SLOTS: dict[str, tuple[int, ...]] = {
    "Expand": (1,),
    "Tile": (1,),
    "ConstantOfShape": (0,),
    "Squeeze": (1,),
    "Unsqueeze": (1,),
    "Range": (0, 1, 2),
    "Clip": (1, 2),
    "DFT": (1, 2),
    "STFT": (1, 3),
    "MaxUnpool": (2,),
    "MelWeightMatrix": (0, 1, 2, 3, 4),
    # A Loop is unrolled: its trip count and first condition fix the number of iterations.
    "Loop": (0, 1),
}

#: Operators through which an operand value may be computed from another input
#: (``Concat(axes_a, axes_b)``, ``Cast(k)``): their inputs feed the same slot.
_PASS_THROUGH = frozenset(
    {
        "Cast",
        "CastLike",
        "If",
        "Split",
        "Identity",
        "Concat",
        "Squeeze",
        "Unsqueeze",
        "Reshape",
        "Add",
        "Sub",
        "Mul",
        "Div",
        "Neg",
        "Abs",
        "Max",
        "Min",
        "Floor",
        "Ceil",
        "Relu",
    }
)


def operand_inputs(model: onnx.ModelProto) -> dict[str, str]:
    """Graph inputs that feed compile-time operand slots, each with the first slot it feeds.

    A slot is fed directly or through shape arithmetic (`_PASS_THROUGH`); an `If` passes on
    whatever its branches read from outside, other nodes inside subgraphs are not followed.
    """
    graph = model.graph
    inputs = {v.name for v in graph.input} - {t.name for t in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output if out}
    found: dict[str, str] = {}
    for node in graph.node:
        for index in OPERAND_SLOTS.get(node.op_type, ()):
            if index < len(node.input) and node.input[index]:
                slot = f"{node.op_type} input {index}"
                _trace(node.input[index], slot, inputs, producer, found, set())
    return found


def _trace(
    name: str,
    slot: str,
    inputs: set[str],
    producer: dict[str, onnx.NodeProto],
    found: dict[str, str],
    seen: set[str],
) -> None:
    if name in seen:
        return
    seen.add(name)
    if name in inputs:
        found.setdefault(name, slot)
        return
    node = producer.get(name)
    if node is None or node.op_type not in _PASS_THROUGH:
        return
    for source in _sources(node):
        if source:
            _trace(source, slot, inputs, producer, found, seen)


def _sources(node: onnx.NodeProto) -> list[str]:
    """The inputs of `node` whose values its outputs carry."""
    # Reshape's data (not its shape) and CastLike's value (not its target) carry the value.
    if node.op_type in ("Reshape", "CastLike"):
        return list(node.input[:1])
    if node.op_type == "If":  # either branch's outputs come from what the branches read
        return sorted(_outer_reads(node))
    return list(node.input)


def _outer_reads(node: onnx.NodeProto) -> set[str]:
    """Names a node's subgraphs read from the enclosing scope."""
    reads: set[str] = set()
    for attribute in node.attribute:
        for graph in [attribute.g, *attribute.graphs]:
            made = {o for n in graph.node for o in n.output} | {t.name for t in graph.initializer}
            for inner in graph.node:
                reads.update(i for i in inner.input if i and i not in made)
                reads.update(_outer_reads(inner) - made)
    return reads


def bind_inputs(model: onnx.ModelProto, values: dict[str, np.ndarray]) -> None:
    """Turn each named graph input into an initializer holding its value, in place.

    The value is converted to the input's declared dtype (it must convert exactly) and takes
    the input's declared shape when the element counts agree; a declared dimension that
    contradicts the value is an error naming the input.
    """
    graph = model.graph
    initializers = {t.name for t in graph.initializer}
    declared = {v.name: v for v in graph.input if v.name not in initializers}
    for name, raw in values.items():
        if name not in declared:
            known = ", ".join(f"'{n}'" for n in declared) or "none"
            raise OptionError(f"--bind names unknown input '{name}' (inputs: {known})")
        value = _conform(name, np.asarray(raw), declared[name])
        graph.initializer.append(numpy_helper.from_array(value, name))
    if model.ir_version < 4:
        return  # before IR 4 every initializer must also be listed as a graph input
    kept = [v for v in graph.input if v.name not in values]
    del graph.input[:]
    graph.input.extend(kept)


def _conform(name: str, value: np.ndarray, info: onnx.ValueInfoProto) -> np.ndarray:
    tensor_type = info.type.tensor_type
    dtype = helper.tensor_dtype_to_np_dtype(tensor_type.elem_type)
    converted = value.astype(dtype)
    if value.dtype.kind in "fc" and dtype.kind in "iub" and not np.array_equal(converted, value):
        raise OptionError(f"--bind '{name}': values {value.tolist()} are not all {dtype}")
    if not tensor_type.HasField("shape"):
        return converted
    dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor_type.shape.dim]
    if len(dims) == converted.ndim and all(
        d is None or d == s for d, s in zip(dims, converted.shape, strict=True)
    ):
        return converted
    fixed = [int(d) for d in dims if d is not None]
    if len(fixed) == len(dims) and int(np.prod(fixed)) == converted.size:
        return converted.reshape(fixed)
    shape = "x".join(str(d if d is not None else "?") for d in dims) or "a scalar"
    raise OptionError(
        f"--bind '{name}': {converted.size} value(s) do not fit the input's shape ({shape})"
    )


def parse_bind(spec: str) -> tuple[str, np.ndarray]:
    """Parse ``NAME=1,2,3`` (numbers, comma-separated) into a name and a 1-D array.

    One number gives a 0-d array; `bind_inputs` fits either to the input's declared shape.
    """
    name, sep, text = spec.partition("=")
    if not sep or not name.strip():
        raise OptionError(f"invalid --bind '{spec}': expected NAME=VALUES, e.g. axes=0,2")
    items = [t.strip() for t in text.split(",")] if text.strip() else []
    try:
        numbers = [int(t) if _is_int(t) else float(t) for t in items]
    except ValueError:
        raise OptionError(
            f"invalid --bind '{spec}': values must be comma-separated numbers"
        ) from None
    array = np.array(
        numbers, dtype=np.float64 if any(isinstance(n, float) for n in numbers) else np.int64
    )
    return name.strip(), array.reshape(()) if array.size == 1 else array


def _is_int(text: str) -> bool:
    return text.lstrip("+-").isdigit()


def parse_binds(specs: list[str] | None) -> dict[str, np.ndarray]:
    """Parse repeated ``--bind`` options; a name given twice is an error."""
    return parse_repeated(specs, parse_bind, "--bind")

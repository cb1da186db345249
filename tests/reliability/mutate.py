"""Seeded mutations of ONNX models: bytes (bit flips, truncation, garbage) and structure
(removed fields, wrong dims, dangling edges, wrong dtypes, missing initializers, duplicated
names, bad attributes). Each case is reproducible from (seed, index) alone."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import onnx
from onnx import AttributeProto

from tests.reliability.seed_models import SEEDS

Mutator = Callable[[onnx.ModelProto, random.Random], str | None]

#: Element types a mutation may set: valid, unsupported (string, complex) and out of range.
ELEM_TYPES = [0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 16, 23, 99]
#: Dimension values a mutation may set: zero, one, odd sizes, negative, huge.
DIMS = [0, 1, 3, 7, -1, -5, 1 << 31, 1 << 62]
OP_TYPES = ["Relu", "Add", "Conv", "MatMul", "Reshape", "Softmax", "NoSuchOp", "", "If", "Loop"]


@dataclass(frozen=True)
class Case:
    """One fuzz case: the bytes of the model file and how they were made."""

    index: int
    seed_model: str
    description: str
    data: bytes


def _values(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    g = model.graph
    return [*g.input, *g.output, *g.value_info]


def _pick_node(model: onnx.ModelProto, rng: random.Random) -> onnx.NodeProto | None:
    return rng.choice(model.graph.node) if model.graph.node else None


def remove_node_input(model: onnx.ModelProto, rng: random.Random) -> str | None:
    node = _pick_node(model, rng)
    if node is None or not node.input:
        return None
    i = rng.randrange(len(node.input))
    del node.input[i]
    return f"removed input {i} of node '{node.name}'"


def remove_node_output(model: onnx.ModelProto, rng: random.Random) -> str | None:
    node = _pick_node(model, rng)
    if node is None or not node.output:
        return None
    del node.output[:]
    return f"removed outputs of node '{node.name}'"


def remove_node(model: onnx.ModelProto, rng: random.Random) -> str | None:
    node = _pick_node(model, rng)
    if node is None:
        return None
    model.graph.node.remove(node)
    return f"removed node '{node.name}'"


def remove_graph_value(model: onnx.ModelProto, rng: random.Random) -> str | None:
    field = rng.choice(["input", "output"])
    values = getattr(model.graph, field)
    if not values:
        return None
    value = rng.choice(values)
    values.remove(value)
    return f"removed graph {field} '{value.name}'"


def remove_initializer(model: onnx.ModelProto, rng: random.Random) -> str | None:
    if not model.graph.initializer:
        return None
    init = rng.choice(model.graph.initializer)
    model.graph.initializer.remove(init)
    return f"removed initializer '{init.name}'"


def dangling_edge(model: onnx.ModelProto, rng: random.Random) -> str | None:
    node = _pick_node(model, rng)
    if node is None or not node.input:
        return None
    i = rng.randrange(len(node.input))
    node.input[i] = f"ghost{rng.randrange(100)}"
    return f"node '{node.name}' input {i} -> {node.input[i]}"


def wrong_dims(model: onnx.ModelProto, rng: random.Random) -> str | None:
    values = [v for v in _values(model) if v.type.tensor_type.shape.dim]
    if not values:
        return None
    value = rng.choice(values)
    dims = value.type.tensor_type.shape.dim
    choice = rng.randrange(4)
    if choice == 0:
        dims.add().dim_value = rng.choice([1, 2])
        return f"'{value.name}': added a dimension"
    if choice == 1:
        del dims[rng.randrange(len(dims))]
        return f"'{value.name}': removed a dimension"
    dim = rng.choice(dims)
    if choice == 2:
        dim.dim_param = rng.choice(["batch", "n", "q", ""])
        return f"'{value.name}': dimension -> '{dim.dim_param}'"
    dim.dim_value = rng.choice(DIMS)
    return f"'{value.name}': dimension -> {dim.dim_value}"


def wrong_dtype(model: onnx.ModelProto, rng: random.Random) -> str | None:
    elem = rng.choice(ELEM_TYPES)
    if model.graph.initializer and rng.random() < 0.3:
        init = rng.choice(model.graph.initializer)
        init.data_type = elem
        return f"initializer '{init.name}': data_type -> {elem}"
    value = rng.choice(_values(model))
    value.type.tensor_type.elem_type = elem
    return f"'{value.name}': elem_type -> {elem}"


def initializer_shape(model: onnx.ModelProto, rng: random.Random) -> str | None:
    if not model.graph.initializer:
        return None
    init = rng.choice(model.graph.initializer)
    if init.dims and rng.random() < 0.5:
        init.dims[rng.randrange(len(init.dims))] = rng.choice(DIMS)
    elif init.raw_data:
        init.raw_data = init.raw_data[: rng.randrange(len(init.raw_data))]
    else:
        init.dims.append(rng.choice([2, 3]))
    return f"initializer '{init.name}': dims {list(init.dims)}, {len(init.raw_data)} bytes"


def duplicate_name(model: onnx.ModelProto, rng: random.Random) -> str | None:
    g = model.graph
    choice = rng.randrange(3)
    if choice == 0 and len(g.node) > 1:
        a, b = rng.sample(list(g.node), 2)
        if not a.output or not b.output:
            return None
        a.output[0] = b.output[0]
        return f"node '{a.name}' output duplicates node '{b.name}'"
    if choice == 1 and g.input:
        g.input.append(rng.choice(g.input))
        return "duplicated a graph input"
    if g.initializer:
        g.initializer.append(rng.choice(g.initializer))
        return "duplicated an initializer"
    return None


def _bad_value(attr: onnx.AttributeProto, rng: random.Random) -> str:
    kind = rng.randrange(4)
    if kind == 0:
        attr.type = rng.choice([AttributeProto.FLOAT, AttributeProto.STRING, AttributeProto.INTS])
        return f"type -> {attr.type}"
    if kind == 1 and attr.ints:
        attr.ints[rng.randrange(len(attr.ints))] = rng.choice(DIMS)
        return f"ints -> {list(attr.ints)}"
    if kind == 2 and attr.ints:
        del attr.ints[rng.randrange(len(attr.ints))]
        return f"ints -> {list(attr.ints)}"
    attr.i = rng.choice([*DIMS, 2, 5])
    attr.f = rng.choice([0.0, -1.0, float("nan"), 1e30])
    return f"i -> {attr.i}, f -> {attr.f}"


def bad_attribute(model: onnx.ModelProto, rng: random.Random) -> str | None:
    nodes = list(model.graph.node)
    node = rng.choice(nodes) if nodes else None
    if node is None:
        return None
    if not node.attribute or rng.random() < 0.2:
        name = rng.choice(["axis", "perm", "kernel_shape", "to", "bogus"])
        node.attribute.append(onnx.helper.make_attribute(name, rng.choice([-3, 9, [5, 5]])))
        return f"node '{node.name}': added attribute '{name}'"
    attr = rng.choice(node.attribute)
    if rng.random() < 0.2:
        node.attribute.remove(attr)
        return f"node '{node.name}': removed attribute '{attr.name}'"
    return f"node '{node.name}' attribute '{attr.name}': {_bad_value(attr, rng)}"


def change_op(model: onnx.ModelProto, rng: random.Random) -> str | None:
    node = _pick_node(model, rng)
    if node is None:
        return None
    node.op_type = rng.choice(OP_TYPES)
    if rng.random() < 0.1:
        node.domain = rng.choice(["com.example", "ai.onnx.ml"])
    return f"node '{node.name}': op_type -> '{node.op_type}', domain '{node.domain}'"


def change_opset(model: onnx.ModelProto, rng: random.Random) -> str | None:
    version = rng.choice([1, 6, 7, 11, 13, 18, 21, 30, 1000])
    model.opset_import[0].version = version
    return f"opset -> {version}"


def reorder_nodes(model: onnx.ModelProto, rng: random.Random) -> str | None:
    nodes = list(model.graph.node)
    if len(nodes) < 2:
        return None
    rng.shuffle(nodes)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return "shuffled node order"


def self_loop(model: onnx.ModelProto, rng: random.Random) -> str | None:
    node = _pick_node(model, rng)
    if node is None or not node.input or not node.output:
        return None
    node.input[0] = node.output[0]
    return f"node '{node.name}' reads its own output"


MUTATORS: list[Mutator] = [
    remove_node_input,
    remove_node_output,
    remove_node,
    remove_graph_value,
    remove_initializer,
    dangling_edge,
    wrong_dims,
    wrong_dims,  # shapes reach deepest into the importer: weigh them twice
    wrong_dtype,
    initializer_shape,
    duplicate_name,
    bad_attribute,
    bad_attribute,
    change_op,
    change_opset,
    reorder_nodes,
    self_loop,
]


def structural_case(seed: int, index: int) -> Case:
    """Case `index`: a seed model with one to three structural mutations."""
    rng = random.Random(seed * 1_000_003 + index)
    name = rng.choice(sorted(SEEDS))
    model = SEEDS[name]()
    done: list[str] = []
    while len(done) < rng.choice([1, 1, 2, 3]):
        note = rng.choice(MUTATORS)(model, rng)
        if note is not None:
            done.append(note)
    return Case(index, name, "; ".join(done), model.SerializeToString())


def bytes_case(seed: int, index: int) -> Case:
    """Case `index`: a seed model's bytes with bit flips, a truncation or random garbage."""
    rng = random.Random(seed * 7_000_003 + index)
    name = rng.choice(sorted(SEEDS))
    data = bytearray(SEEDS[name]().SerializeToString())
    kind = rng.choice(["flip", "flip", "flip", "truncate", "garbage", "splice"])
    if kind == "flip":
        flips = [rng.randrange(len(data) * 8) for _ in range(rng.choice([1, 1, 2, 4, 8]))]
        for bit in flips:
            data[bit // 8] ^= 1 << (bit % 8)
        return Case(index, name, f"bit flips at {flips}", bytes(data))
    if kind == "truncate":
        cut = rng.randrange(1, len(data))
        return Case(index, name, f"truncated to {cut} of {len(data)} bytes", bytes(data[:cut]))
    if kind == "splice":
        at = rng.randrange(len(data))
        junk = rng.randbytes(rng.randrange(1, 16))
        return Case(
            index, name, f"{len(junk)} random bytes at {at}", bytes(data[:at] + junk + data[at:])
        )
    junk = rng.randbytes(rng.choice([1, 7, 64, 1000]))
    return Case(index, name, f"{len(junk)} random bytes", junk)

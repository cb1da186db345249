"""Recognise GELU written out in elementary operators and replace it with one `Gelu` node.

Exporters write GELU as the formula: BERT's `0.5 * x * (1 + erf(x / sqrt(2)))` (Div, Erf, Add,
Mul, Mul) and GPT-2's `0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x**3)))` (Mul, Pow,
Mul, Add, Mul, Tanh, Add, Mul). Imported as they are, they become a generated kernel after the
matmul that feeds them; as one `Gelu` node they become `relax.nn.gelu` / `gelu_tanh`, which the
oneDNN matmul and convolution calls apply in their epilogue (passes/fuse_library_epilogues.py),
on each output tile while it is in cache.

A `Reshape` between the producer and the formula (GPT-2 reshapes its 2-D Gemm's output back to
[batch, sequence, features] first) moves after the `Gelu`, which works elementwise, so the
formula sits right after the matmul.

Only exact matches are rewritten: the constants within 1e-4 relative of the formula's, every
intermediate value used by the formula alone and none of them a graph output (so a model cut
at an intermediate, as `ember verify` does, keeps it). The `Gelu` takes the name of the node
it replaces last, which is what the artifact's kernel-to-node map then shows.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import helper, numpy_helper

_SQRT2 = math.sqrt(2.0)
_TANH_SCALE = math.sqrt(2.0 / math.pi)
_CUBE_COEFFICIENT = 0.044715
#: The Gelu node's domain: ONNX Runtime's contrib domain, where Gelu exists at every opset (the
#: ONNX domain has it from opset 20 only, and checks it against the model's opset). The
#: importer converts it by name (converters/pointwise.py), reading `approximate`.
_DOMAIN = "com.microsoft"


@dataclass
class _Graph:
    """Who produces and who reads each value, and the scalar constants."""

    producer: dict[str, onnx.NodeProto]
    readers: dict[str, list[onnx.NodeProto]]
    scalars: dict[str, float]
    outputs: set[str]

    @classmethod
    def of(cls, graph: onnx.GraphProto) -> _Graph:
        producer, readers = {}, defaultdict(list)
        scalars = {}
        for init in graph.initializer:
            if int(np.prod(init.dims)) == 1:
                scalars[init.name] = float(numpy_helper.to_array(init).reshape(-1)[0])
        for node in graph.node:
            for name in node.output:
                producer[name] = node
            for name in node.input:
                readers[name].append(node)
            if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
                for attr in node.attribute:
                    if attr.name == "value" and int(np.prod(attr.t.dims)) == 1:
                        scalars[node.output[0]] = float(
                            numpy_helper.to_array(attr.t).reshape(-1)[0]
                        )
        return cls(producer, readers, scalars, {o.name for o in graph.output})

    def node(self, name: str, op_type: str) -> onnx.NodeProto | None:
        node = self.producer.get(name)
        if node is None or node.op_type != op_type or node.domain not in ("", "ai.onnx"):
            return None
        return node

    def only_reader(self, name: str) -> onnx.NodeProto | None:
        readers = self.readers.get(name, [])
        return readers[0] if len(readers) == 1 and name not in self.outputs else None

    def is_scalar(self, name: str, value: float) -> bool:
        got = self.scalars.get(name)
        return got is not None and abs(got - value) <= 1e-4 * abs(value)

    def split(self, node: onnx.NodeProto, value: float) -> str | None:
        """The other operand of a binary `node` one of whose operands is the scalar `value`."""
        if len(node.input) != 2:
            return None
        for mine, other in ((0, 1), (1, 0)):
            if self.is_scalar(node.input[mine], value):
                return node.input[other]
        return None


@dataclass
class _Match:
    x: str
    approximate: str
    nodes: list[onnx.NodeProto] = field(default_factory=list)
    last: onnx.NodeProto | None = None


def _erf_input(g: _Graph, erf: onnx.NodeProto, match: list[onnx.NodeProto]) -> str | None:
    """X of erf(x / sqrt(2)) or erf(x * (1 / sqrt(2)))."""
    scaled = erf.input[0]
    div = g.node(scaled, "Div")
    if div is not None and g.is_scalar(div.input[1], _SQRT2):
        match.append(div)
        return div.input[0]
    mul = g.node(scaled, "Mul")
    if mul is not None and (x := g.split(mul, 1.0 / _SQRT2)) is not None:
        match.append(mul)
        return x
    return None


def _tanh_input(g: _Graph, tanh: onnx.NodeProto, match: list[onnx.NodeProto]) -> str | None:
    """X of tanh(sqrt(2 / pi) * (x + 0.044715 * x**3))."""
    scale = g.node(tanh.input[0], "Mul")
    inner = g.split(scale, _TANH_SCALE) if scale is not None else None
    add = g.node(inner, "Add") if inner is not None else None
    if add is None or len(add.input) != 2:
        return None
    for x, cubic in ((add.input[0], add.input[1]), (add.input[1], add.input[0])):
        mul = g.node(cubic, "Mul")
        cube = g.split(mul, _CUBE_COEFFICIENT) if mul is not None else None
        power = g.node(cube, "Pow") if cube is not None else None
        if power is not None and power.input[0] == x and g.is_scalar(power.input[1], 3.0):
            match.extend([scale, add, mul, power])  # type: ignore[list-item]
            return x
    return None


def _match(g: _Graph, node: onnx.NodeProto) -> _Match | None:
    """The GELU whose Erf or Tanh is `node`, if the formula around it is one."""
    inner: list[onnx.NodeProto] = [node]
    if node.op_type == "Erf":
        x, approximate = _erf_input(g, node, inner), "none"
    else:
        x, approximate = _tanh_input(g, node, inner), "tanh"
    plus_one = g.only_reader(node.output[0])
    if x is None or plus_one is None or plus_one.op_type != "Add":
        return None
    if g.split(plus_one, 1.0) != node.output[0]:
        return None
    inner.append(plus_one)
    product = g.only_reader(plus_one.output[0])
    if product is None or product.op_type != "Mul" or len(product.input) != 2:
        return None
    other = product.input[1] if product.input[0] == plus_one.output[0] else product.input[0]
    half = g.node(other, "Mul")
    last: onnx.NodeProto | None
    if other == x or g.is_scalar(other, 0.5):
        # (1 + f) * x, then * 0.5;  or  (1 + f) * 0.5, then * x
        last = g.only_reader(product.output[0])
        wanted = 0.5 if other == x else None
        if last is None or last.op_type != "Mul":
            return None
        rest = g.split(last, 0.5) if wanted is not None else None
        if wanted is not None and rest != product.output[0]:
            return None
        if wanted is None and sorted(last.input) != sorted([product.output[0], x]):
            return None
        inner.append(product)
    elif half is not None and g.split(half, 0.5) == x and g.only_reader(half.output[0]):
        inner.append(half)  # (x * 0.5) * (1 + f)
        last = product
    else:
        return None
    if any(g.only_reader(n.output[0]) is None for n in inner):
        return None
    return _Match(x, approximate, inner, last)


def fuse_decomposed_gelu(model: onnx.ModelProto) -> int:
    """Replace each written-out GELU in the main graph with a `Gelu` node; return how many."""
    graph = model.graph
    g = _Graph.of(graph)
    matches = [
        m for node in graph.node if node.op_type in ("Erf", "Tanh") and (m := _match(g, node))
    ]
    if not matches:
        return 0
    removed: set[int] = set()
    placed: dict[int, list[onnx.NodeProto]] = {}
    for m in matches:
        assert m.last is not None
        if any(id(n) in removed for n in [*m.nodes, m.last]):
            continue  # overlapping matches: keep the first
        removed.update(id(n) for n in [*m.nodes, m.last])
        placed[id(m.last)] = _replacement(g, m, removed)
    kept: list[onnx.NodeProto] = []
    for node in graph.node:
        if id(node) in placed:
            kept.extend(placed[id(node)])
        elif id(node) not in removed:
            kept.append(node)
    del graph.node[:]
    graph.node.extend(kept)
    if not any(o.domain == _DOMAIN for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid(_DOMAIN, 1))
    return len(placed)


def _replacement(g: _Graph, m: _Match, removed: set[int]) -> list[onnx.NodeProto]:
    """The Gelu for `m` (after a Reshape it reads through, which then follows it)."""
    assert m.last is not None
    out, name = m.last.output[0], m.last.name
    attrs = {"approximate": m.approximate}
    reshape = g.node(m.x, "Reshape")
    # Only when x feeds nothing but the formula: then the Reshape can move after it.
    formula_reads = sum(1 for n in [*m.nodes, m.last] for i in n.input if i == m.x)
    if reshape is not None and len(g.readers[m.x]) == formula_reads and m.x not in g.outputs:
        removed.add(id(reshape))
        flat = f"{out}__ember_gelu"
        return [
            helper.make_node(
                "Gelu", [reshape.input[0]], [flat], name=name, domain=_DOMAIN, **attrs
            ),
            helper.make_node(
                "Reshape",
                [flat, *reshape.input[1:]],
                [out],
                name=reshape.name,
                **{a.name: helper.get_attribute_value(a) for a in reshape.attribute},
            ),
        ]
    return [helper.make_node("Gelu", [m.x], [out], name=name, domain=_DOMAIN, **attrs)]

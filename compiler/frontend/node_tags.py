"""Tag the Relax bindings an ONNX import emits with the names of the nodes they came from.

`ember profile` maps kernel time back to ONNX nodes. The link starts here: every converter
call goes through Ember's convert map (`converters.installed`), so `NodeTagger.wrap` hands
TVM converters that emit the node's result as a binding of its own and remember which
binding belongs to which node. `attach` then stores the map (Relax var -> node names) in the
module attribute ``ember_node_tags``, which the pass pipeline keeps up to date
(`provenance.node_sources`).

Bindings a converter emits on the way to its result (the matmul of a Gemm, say) are emitted
just before it, so they take the tag of the next tagged binding; the tuple unpacking TVM adds
after a multi-output node takes the tag of the tuple it reads.
"""

from __future__ import annotations

from typing import Any

import onnx

TAGS_ATTR = "ember_node_tags"
# Control flow converts branch subgraphs through the same converters; their expressions must
# stay inside the branch, so such models are imported without tags.
_SUBGRAPH_OPS = frozenset({"If", "Loop", "Scan"})


def node_label(node: onnx.NodeProto, index: int) -> str:
    """The node's name, or ``OpType_index`` for an unnamed node (ONNX allows empty names)."""
    return node.name or f"{node.op_type}_{index}"


class NodeTagger:
    """Wraps converters for one import of `model` and tags what they emit."""

    def __init__(self, model: onnx.ModelProto) -> None:
        self._nodes = list(model.graph.node)
        self.enabled = not any(n.op_type in _SUBGRAPH_OPS for n in self._nodes)
        self._converted = 0
        self._results: list[tuple[Any, str]] = []

    def wrap(self, convert_map: dict[str, Any]) -> dict[str, Any]:
        """`convert_map` with each converter emitting and recording its node's result."""
        if not self.enabled:
            return convert_map
        return {op: _TaggingConverter(op, cls, self) for op, cls in convert_map.items()}

    def record(self, bb: Any, op: str, result: Any) -> Any:
        """Bind the converted node's result (or each call of a result tuple) and tag it."""
        from tvm import relax

        index = self._converted
        self._converted += 1
        if index >= len(self._nodes) or self._nodes[index].op_type != op:
            # The importer converted nodes out of graph order: tags would be wrong, keep none.
            self.enabled = False
        if not self.enabled:
            return result
        label = node_label(self._nodes[index], index)
        result = bb.normalize(result) if isinstance(result, relax.Expr) else result
        if isinstance(result, relax.Call):
            result = bb.emit(result)
            self._results.append((result, label))
        elif isinstance(result, relax.Tuple):
            fields = [bb.emit(f) if isinstance(f, relax.Call) else f for f in result.fields]
            self._results.extend((f, label) for f in fields if isinstance(f, relax.Var))
            result = relax.Tuple(fields)
        elif isinstance(result, relax.Var):
            self._results.append((result, label))
        return result

    def attach(self, mod: Any) -> Any:
        """`mod` with attribute ``ember_node_tags``: each binding of main -> [node name]."""
        if not self.enabled or not self._results:
            return mod
        from tvm import relax

        direct: dict[Any, str] = {}
        for var, label in self._results:
            direct.setdefault(var, label)
        tags: dict[Any, list[str]] = {}
        pending: list[Any] = []
        for block in mod["main"].body.blocks:
            for binding in block.bindings:
                var, value = binding.var, binding.value
                if var in direct:
                    tags[var] = [direct[var]]
                    tags.update({p: [direct[var]] for p in pending})
                    pending = []
                elif isinstance(value, relax.TupleGetItem) and value.tuple_value in tags:
                    tags[var] = tags[value.tuple_value]
                else:
                    pending.append(var)
        return mod.with_attr(TAGS_ATTR, tags) if tags else mod


class _TaggingConverter:
    """Stands in for a converter class: `get_converter` returns a tagging wrapper."""

    def __init__(self, op: str, cls: Any, tagger: NodeTagger) -> None:
        self._op = op
        self._cls = cls
        self._tagger = tagger

    def get_converter(self, opset: int) -> Any:
        impl = self._cls.get_converter(opset)

        def convert(bb: Any, inputs: Any, attr: Any, params: Any) -> Any:
            return self._tagger.record(bb, self._op, impl(bb, inputs, attr, params))

        return convert

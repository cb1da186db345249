"""Keep the ONNX node names of each binding through the pipeline, and name each kernel's nodes.

The importer leaves the module attribute ``ember_node_tags`` (Relax var -> ONNX node names,
see `frontend.node_tags`). Passes keep a binding's variable identity (`Var.id_`) when they
rewrite its value, but bindings they add (a decomposed BatchNorm, a legalized op's helper
kernels, a layout transform) are new: `propagate_node_tags`, run after every pass, gives
those the tag of the next tagged binding, the one they were emitted for.
`fuse_ops_keeping_sources` runs FuseOps and tags each call of a fused function with the
union of the tags of the bindings it took in. `kernel_sources` then lists main's kernel
calls in order with their node names: what the artifact's manifest records for `ember profile`.
"""

from __future__ import annotations

from typing import Any

import tvm
import tvm_ffi
from tvm import relax

from ..ir.bindings import function_bindings

TAGS_ATTR = "ember_node_tags"
_CALL_TIR = (tvm.ir.Op.get("relax.call_tir"), tvm.ir.Op.get("relax.call_tir_inplace"))
_CALL_PACKED = tvm.ir.Op.get("relax.call_dps_packed")


def tags_by_id(mod: tvm.IRModule) -> dict[int, list[str]]:
    """Var identity -> node names, from the module attribute (empty without it)."""
    attrs = mod.attrs
    if not attrs or TAGS_ATTR not in attrs:
        return {}
    return {var.id_: [str(n) for n in names] for var, names in attrs[TAGS_ATTR].items()}


class AddedTags:
    """The tags of the bindings a rewrite adds: the ONNX nodes of the bindings they replace.

    A pass makes one on the module it rewrites, calls `tag` for each binding it emits, and
    `apply` on the rewritten module (`ember profile` then names the new kernels' nodes).
    """

    def __init__(self, before: tvm.IRModule) -> None:
        self.before = before
        self.known = tags_by_id(before)
        self.added: dict[relax.Var, list[str]] = {}

    def tag(self, var: relax.Var, sources: list[relax.Var | None]) -> None:
        """Tag `var` with the nodes of `sources`, in order, each once."""
        names = [n for v in sources if v is not None for n in self.known.get(v.id_, [])]
        if names:
            self.added[var] = list(dict.fromkeys(names))

    def apply(self, after: tvm.IRModule) -> tvm.IRModule:
        """`after` with the added tags; unchanged where the module had none (no node names)."""
        if not self.before.attrs or TAGS_ATTR not in self.before.attrs:
            return after
        tags = dict(after.attrs[TAGS_ATTR].items())
        tags.update(self.added)
        return after.with_attr(TAGS_ATTR, tags)


def propagate_node_tags(mod: tvm.IRModule) -> tvm.IRModule:
    """Tag each untagged binding of every Relax function like the next tagged one after it.

    Trailing untagged bindings take the last tag before them. Without the attribute (a model
    imported without tags) the module is returned as it is.
    """
    attrs = mod.attrs
    if not attrs or TAGS_ATTR not in attrs:
        return mod
    known = tags_by_id(mod)
    tags: dict[Any, list[str]] = dict(attrs[TAGS_ATTR].items())
    for func in mod.functions.values():
        if not isinstance(func, relax.Function):
            continue
        pending: list[Any] = []
        last: list[str] | None = None
        for binding in function_bindings(func):
            names = known.get(binding.var.id_)
            if names is None:
                pending.append(binding.var)
                continue
            tags.update({var: names for var in pending})
            pending, last = [], names
        if last is not None:
            tags.update({var: last for var in pending})
    return mod.with_attr(TAGS_ATTR, tags)


def _key(expr: Any, names: dict[int, Any]) -> Any:
    """A hashable key of an argument.

    A variable is what `names` says it stands for, else its identity; a value (a constant, a
    shape) is keyed by its structure.
    """
    if isinstance(expr, relax.Var):
        return names.get(expr.id_, ("var", expr.id_))
    if isinstance(expr, relax.Tuple):
        return tuple(_key(f, names) for f in expr.fields)
    if isinstance(expr, tvm.ir.GlobalVar):
        return ("func", expr.name_hint)
    if isinstance(expr, tvm.ir.Op):
        return ("op", expr.name)
    return ("value", tvm_ffi.structural_hash(expr))


def _call_key(value: Any, names: dict[int, Any]) -> Any:
    if not isinstance(value, relax.Call):
        return None
    return (_key(value.op, names), tuple(_key(a, names) for a in value.args))


@tvm.transform.module_pass(opt_level=0, name="EmberFuseOpsKeepingSources")
def fuse_ops_keeping_sources(mod: tvm.IRModule, _ctx: Any) -> tvm.IRModule:
    """FuseOps, then tag each call of a fused function with the tags of the bindings it took.

    FuseOps gives identical groups one function, so the function's own bindings cannot tell
    two call sites apart. Instead each site's bindings are matched to main's bindings before
    fusion: the function's parameters stand for the call's arguments, so an inner call with
    the same operator and (mapped) arguments as a former binding of main is that binding.
    """
    fused = relax.transform.FuseOps()(mod)
    known = tags_by_id(mod)
    if not known or "main" not in [g.name_hint for g in mod.get_global_vars()]:
        return fused
    before = {_call_key(b.value, {}): b.var.id_ for b in function_bindings(mod["main"])}
    tags: dict[Any, list[str]] = dict(mod.attrs[TAGS_ATTR].items())
    # A group's result var in main -> the key of the binding of main it replaced.
    outputs: dict[int, Any] = {}
    for binding in function_bindings(fused["main"]):
        value = binding.value
        if not (isinstance(value, relax.Call) and isinstance(value.op, tvm.ir.GlobalVar)):
            continue
        func = fused[value.op]
        if not (isinstance(func, relax.Function) and func.attrs and "Primitive" in func.attrs):
            continue
        names = {p.id_: _key(a, outputs) for p, a in zip(func.params, value.args, strict=False)}
        found: list[str] = []
        for inner in function_bindings(func):
            original = before.get(_call_key(inner.value, names))
            if original is None:  # unmatched: what depends on it stays unmatched too
                continue
            names[inner.var.id_] = outputs[binding.var.id_] = ("var", original)
            found.extend(known.get(original, []))
        if found:
            tags[binding.var] = list(dict.fromkeys(found))
    return fused.with_attr(TAGS_ATTR, tags)


def _op_name(value: Any) -> str | None:
    return (
        str(value.op.name) if isinstance(value, relax.Call) and hasattr(value.op, "name") else None
    )


def keeping_tags_by_order(rewrite: tvm.transform.Pass) -> tvm.transform.Pass:
    """`rewrite` (a pass that re-creates main's variables, like ConvertLayout), re-tagged.

    Such a pass keeps main's bindings in order and adds some (layout transforms): each new
    binding takes the tag of the old binding at the same place in the sequence when both
    apply the same operator; the added ones are left to `propagate_node_tags`.
    """

    @tvm.transform.module_pass(opt_level=0, name=f"EmberKeepingTags({rewrite.info.name})")
    def run(mod: tvm.IRModule, _ctx: Any) -> tvm.IRModule:
        out = rewrite(mod)
        known = tags_by_id(mod)
        if not known or "main" not in [g.name_hint for g in mod.get_global_vars()]:
            return out
        before = [(_op_name(b.value), known.get(b.var.id_)) for b in function_bindings(mod["main"])]
        tags: dict[Any, list[str]] = dict(mod.attrs[TAGS_ATTR].items())
        cursor = 0
        for binding in function_bindings(out["main"]):
            op = _op_name(binding.value)
            # The same binding, or the next (one removed); never skip ahead for a transpose,
            # which is what the rewrite inserts.
            reach = (cursor,) if op == "relax.permute_dims" else (cursor, cursor + 1)
            for ahead in reach:
                if ahead < len(before) and before[ahead][0] == op:
                    names = before[ahead][1]
                    if names:
                        tags[binding.var] = names
                    cursor = ahead + 1
                    break
        return out.with_attr(TAGS_ATTR, tags)

    return run


def kernel_sources(mod: tvm.IRModule) -> list[dict[str, Any]]:
    """Main's kernel calls in execution order: ``{"kernel": name, "nodes": [ONNX names]}``.

    The kernel name is what the VM reports when it calls it: the PrimFunc's name, or the
    packed function's (``ember.cpu.conv2d``). Empty when the module carries no tags.
    """
    known = tags_by_id(mod)
    if not known or "main" not in [g.name_hint for g in mod.get_global_vars()]:
        return []
    sites = []
    for binding in function_bindings(mod["main"]):
        value = binding.value
        if not isinstance(value, relax.Call):
            continue
        if value.op in _CALL_TIR:
            kernel = value.args[0].name_hint
        elif value.op.same_as(_CALL_PACKED):
            kernel = str(value.args[0].global_symbol)
        else:
            continue
        sites.append({"kernel": kernel, "nodes": known.get(binding.var.id_, [])})
    return sites


def without_node_sources(mod: tvm.IRModule) -> tvm.IRModule:
    """`mod` without the bookkeeping attribute (it holds Relax vars, not build inputs)."""
    if mod.attrs and TAGS_ATTR in mod.attrs:
        return mod.without_attr(TAGS_ATTR)
    return mod

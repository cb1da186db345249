"""Symbolic lengths defined once, and before anything that fusion could place ahead of them.

TVM's importer defines a run-time length (a `Range`'s, say) as `n = match_cast(tensor_to_shape
(t))` at the node that needs it. Two things then break code generation ("n has not been
computed"), seen with window functions whose size is a run-time input:

- Folding can find the same shape defined earlier as `m`; the binding becomes
  `match_cast(shape([m]), Shape([n]))` and fusion drops it as unused, while calls that take
  `n` as a plain argument (`arange(0, n)`) still read it. Each such `n` is bound to `m` in
  the whole function, which is what the match_cast asserts.
- FuseOps places a fused group where its first member was. A group whose early members are
  scalar arithmetic and whose later ones use `n` lands before `n`'s match_cast. So within
  each dataflow block, the bindings that a length-defining match_cast depends on (and the
  match_cast itself) move ahead of the others, each part keeping its order: every binding
  still follows what it reads.

Precondition: Relax before FuseOps.
"""

from __future__ import annotations

from typing import Any

import tvm
from tvm import relax, tirx


@tvm.transform.module_pass(opt_level=0, name="EmberDefineLengthsFirst")
def define_lengths_first(mod: tvm.IRModule, _ctx: Any) -> tvm.IRModule:
    """Bind lengths matched against known shapes, then hoist the definitions of the rest."""
    for gv, func in list(mod.functions_items()):
        if not isinstance(func, relax.Function):
            continue
        mapping = _matched_lengths(func)
        if mapping:
            mod = relax.transform.BindSymbolicVars(mapping, gv.name_hint)(mod)
            func = mod[gv]
        hoisted = _hoisted(func)
        if hoisted is not None:
            mod[gv] = hoisted
    return mod


def _pattern(binding: relax.MatchCast) -> list[Any]:
    """The dimensions a match_cast matches: of a shape, or of a tensor's shape."""
    ty = binding.ty
    if isinstance(ty, relax.ShapeType):
        return list(ty.values or [])
    shape = getattr(ty, "shape", None)
    return list(getattr(shape, "values", None) or [])


def _params_vars(func: relax.Function) -> list[tirx.Var]:
    found: list[tirx.Var] = []
    for param in func.params:
        shape = getattr(param.ty, "shape", None)
        for value in getattr(shape, "values", None) or getattr(param.ty, "values", None) or []:
            found.extend(tirx.analysis.undefined_vars(value))
    return found


def _known(defined: list[tirx.Var], var: Any) -> bool:
    return any(var.same_as(v) for v in defined)


def _matched_lengths(func: relax.Function) -> dict[tirx.Var, Any]:
    """Vars first defined by a match_cast whose value's shape is already known."""
    if not isinstance(func.body, relax.SeqExpr):
        return {}
    defined = _params_vars(func)
    mapping: dict[tirx.Var, Any] = {}
    for block in func.body.blocks:
        for binding in block.bindings:
            if not isinstance(binding, relax.MatchCast) or not isinstance(
                binding.ty, relax.ShapeType
            ):
                continue
            pattern = _pattern(binding)
            known = getattr(binding.value.ty, "values", None)
            if known is not None and len(known) == len(pattern):
                for want, have in zip(pattern, known, strict=True):
                    fresh = isinstance(want, tirx.Var) and not _known(defined, want)
                    if fresh and not want.same_as(have):
                        mapping[want] = have
            defined.extend(v for v in pattern if isinstance(v, tirx.Var))
    return mapping


def _defines_length(binding: relax.Binding, defined: list[tirx.Var]) -> bool:
    if not isinstance(binding, relax.MatchCast):
        return False
    return any(isinstance(v, tirx.Var) and not _known(defined, v) for v in _pattern(binding))


def _hoisted(func: relax.Function) -> relax.Function | None:
    """`func` with each dataflow block's length definitions first; None if nothing moves."""
    body = func.body
    if not isinstance(body, relax.SeqExpr):
        return None
    defined = _params_vars(func)
    blocks, moved = [], False
    for block in body.blocks:
        bindings = list(block.bindings)
        if not isinstance(block, relax.DataflowBlock):
            blocks.append(block)
            continue
        producer = {b.var: i for i, b in enumerate(bindings)}
        needed: set[int] = set()
        for index, binding in enumerate(bindings):
            if _defines_length(binding, defined):
                _collect(index, bindings, producer, needed)
            if isinstance(binding, relax.MatchCast):
                defined.extend(v for v in _pattern(binding) if isinstance(v, tirx.Var))
        order = sorted(needed) + [i for i in range(len(bindings)) if i not in needed]
        moved = moved or order != list(range(len(bindings)))
        blocks.append(relax.DataflowBlock([bindings[i] for i in order]))
    if not moved:
        return None
    new_body = relax.SeqExpr(blocks, body.body)
    return relax.Function(func.params, new_body, func.ret_ty, func.is_pure, func.attrs)


def _collect(index: int, bindings: list[Any], producer: dict[Any, int], needed: set[int]) -> None:
    """Add binding `index` and, transitively, the bindings of this block it reads."""
    stack = [index]
    while stack:
        current = stack.pop()
        if current in needed:
            continue
        needed.add(current)
        for var in relax.analysis.free_vars(bindings[current].value):
            if var in producer:
                stack.append(producer[var])

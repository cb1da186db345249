"""Reading the bindings of Relax functions."""

from __future__ import annotations

from collections import Counter
from typing import Any

import tvm
from tvm import relax


def function_bindings(func: Any) -> list[relax.Binding]:
    """The bindings of `func`'s body in order, across its blocks.

    Empty for anything but a Relax function whose body is a sequence of blocks (a PrimFunc, an
    external function): callers over a module's functions skip those.
    """
    if not isinstance(func, relax.Function) or not isinstance(func.body, relax.SeqExpr):
        return []
    return [b for block in func.body.blocks for b in block.bindings]


def readers(func: Any) -> dict[relax.Var, list[relax.Binding | None]]:
    """Each variable `func` reads -> what reads it, in order.

    Its reading bindings, then None where the function's result reads it. Empty for anything
    but a Relax function whose body is a sequence of blocks.
    """
    found: dict[relax.Var, list[relax.Binding | None]] = {}
    for binding in function_bindings(func):
        for var in relax.analysis.free_vars(binding.value):
            found.setdefault(var, []).append(binding)
    if isinstance(func, relax.Function) and isinstance(func.body, relax.SeqExpr):
        for var in relax.analysis.free_vars(func.body.body):
            found.setdefault(var, []).append(None)
    return found


def module_bindings(mod: tvm.IRModule) -> list[relax.Binding]:
    """The bindings of every Relax function of `mod`, function by function."""
    return [b for func in mod.functions.values() for b in function_bindings(func)]


def reader_counts(mod: tvm.IRModule) -> Counter[relax.Var]:
    """How many bindings (and function results) read each variable of `mod`'s Relax functions."""
    count: Counter[relax.Var] = Counter()
    for func in mod.functions.values():
        count.update({var: len(read_by) for var, read_by in readers(func).items()})
    return count

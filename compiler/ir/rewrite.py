"""Run a Relax expression mutator over every Relax function of a module."""

from __future__ import annotations

from typing import Any

import tvm
from tvm import relax


def rewrite_functions(mod: tvm.IRModule, rewriter: Any) -> tvm.IRModule:
    """The module with each Relax function replaced by `rewriter.visit_expr(function)`.

    `rewriter` is a `PyExprMutator` built on `mod`; PrimFuncs and external functions pass
    through unchanged.
    """
    for gvar, func in mod.functions_items():
        if isinstance(func, relax.Function):
            rewriter.builder_.update_func(gvar, rewriter.visit_expr(func))
    return rewriter.builder_.get()


def rewrite_and_prune(mod: tvm.IRModule, rewriter: Any) -> tvm.IRModule:
    """`rewrite_functions`, then each Relax function without the bindings left unread."""
    mod = rewrite_functions(mod, rewriter)
    for gvar, func in mod.functions_items():
        if isinstance(func, relax.Function):
            mod[gvar] = relax.analysis.remove_all_unused(func)
    return mod

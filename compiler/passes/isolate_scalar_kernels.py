"""Kernels that take a symbolic scalar as an argument stay out of fused kernels.

`arange(past, past + seq)` (positions of a decoder's new tokens) legalizes to a kernel whose
arguments include the scalar `past`, not only tensors. Fused into a group where no tensor
shape defines `past`, the group takes `past` as a scalar parameter, and TVM 0.27's FuseTIR
then maps that variable twice and fails ("VarRemapGet(source) == nullptr"). Such kernels are
cheap (index ranges); marking them opaque keeps each one a kernel of its own.
Precondition: after LegalizeOps and AnnotateTIROpPattern, before FuseOps.
"""

from __future__ import annotations

from typing import Any

import tvm
from tvm import relax

from ..kernels.standalone_kernel import OPAQUE


@tvm.transform.module_pass(opt_level=0, name="EmberIsolateScalarKernels")
def isolate_scalar_kernels(mod: tvm.IRModule, _ctx: Any) -> tvm.IRModule:
    """Mark every PrimFunc called with a scalar (non-tensor, non-shape) argument opaque."""
    scalar_callees: set[str] = set()
    call_tir = tvm.ir.Op.get("relax.call_tir")

    def visit(expr: Any) -> None:
        if isinstance(expr, relax.Call) and expr.op.same_as(call_tir):
            args = expr.args[1]
            fields = args.fields if isinstance(args, relax.Tuple) else [args]
            if any(tvm.ir.is_prim_expr(a) or isinstance(a.ty, tvm.ir.PrimType) for a in fields):
                scalar_callees.add(expr.args[0].name_hint)

    for func in mod.functions.values():
        if isinstance(func, relax.Function):
            relax.analysis.post_order_visit(func, visit)
    if not scalar_callees:
        return mod
    updated = tvm.IRModule(dict(mod.functions_items()), attrs=mod.attrs)
    for gvar, func in mod.functions_items():
        if gvar.name_hint in scalar_callees and isinstance(func, tvm.tirx.PrimFunc):
            updated[gvar] = func.with_attr("op_pattern", OPAQUE)
    return updated

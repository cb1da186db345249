"""Check at run time what operators require of symbolic shapes and of run-time indices.

Precondition: imported Relax (high-level ops, before dispatch and LegalizeOps).

Why: TVM compiles an operator's kernel from its operands' *inferred* shapes and checks only
the function's own parameters at run time (each input against its annotation, one value per
symbol). Relax's inference rejects only shapes it can prove incompatible, so `matmul` of
`a[n, k]` by `b[m, p]` compiles with `k == m` assumed and never checked; the kernel then reads
past `b` when they differ. Gathers and scatters index with run-time data and no bounds check.
ONNX Runtime refuses both; Ember must too, or it crashes (or answers wrongly) inside a user's
service.

How: for every call, `guard_rules` states the operator's requirements as TIR conditions over
the operands' dimensions; the arithmetic analyzer drops those it proves (the common case:
equal symbols, constants). Each remaining condition becomes a call of the runtime's
`ember.guard.shape` (it raises a one-line `InputError` naming the operator, the dimensions and
the model inputs they come from):

- conditions over symbols the inputs define (nearly all) run once, in a prologue before any
  kernel, deduplicated;
- others (symbols defined later, by data-dependent ops) guard the operand in place: the call
  `ember.guard.shape(x, ...)` returns `x`, so data dependence orders it before the operator.

Gather and scatter indices are guarded the same way by `index_guards` (min/max reductions and
`ember.guard.indices`). The alternative, unifying symbols at import time so that the runtime's
"one value per symbol" check enforces equalities, covers only equalities (not broadcasting's
"equal or 1", element counts or index ranges), renames the user's dimensions and depends on
ONNX's shape inference agreeing with TVM's; this pass reads what the compiler itself assumed.

Limits: an operand whose shape Relax does not know (rank only) is not checked; operators
without a rule in `guard_rules` (e.g. einsum) are not checked; relations Relax's inference
already enforces at compile time are left to it.
"""

from __future__ import annotations

from typing import Any

import tvm
import tvm_ffi
from tvm import relax, tirx
from tvm.relax.expr_functor import PyExprMutator, mutator

from ..guards.guard_rules import Requirement, requirements
from ..guards.index_guards import guard_indices

GUARD_SHAPE = "ember.guard.shape"


@tvm.transform.module_pass(opt_level=0, name="EmberInsertGuards")
def insert_guards(mod: tvm.IRModule, _ctx: Any) -> tvm.IRModule:
    """Guard every Relax function of `mod` (see the module docstring)."""
    for gvar, func in mod.functions_items():
        if isinstance(func, relax.Function):
            mod = _guard_function(mod, gvar, func)
    return mod


def _guard_function(mod: tvm.IRModule, gvar: tvm.ir.GlobalVar, func: relax.Function) -> Any:
    origins = _symbol_origins(func)
    guards = _Guards(mod, origins)
    new = guards.visit_expr(func)
    if guards.prologue:
        new = _with_prologue(new, guards.prologue)
    mod = mod.clone() if hasattr(mod, "clone") else mod
    mod[gvar] = new
    return mod


def _symbol_origins(func: relax.Function) -> dict[tirx.Var, str]:
    """Each symbol a parameter defines -> "dimension i of input 'x'" (the first definition)."""
    origins: dict[tirx.Var, str] = {}
    for param in func.params:
        shape = getattr(getattr(param.ty, "shape", None), "values", None) or []
        for i, dim in enumerate(shape):
            if isinstance(dim, tirx.Var) and dim not in origins:
                origins[dim] = f"dimension {i} of input '{param.name}'"
    return origins


def _free_vars(expr: Any) -> list[tirx.Var]:
    return list(tirx.analysis.undefined_vars(expr))


def _with_prologue(func: relax.Function, calls: list[relax.Call]) -> relax.Function:
    """`func` with a binding block of `calls` before its body's first block."""
    bindings = [relax.VarBinding(relax.Var("_", relax.ObjectType()), c) for c in calls]
    body = func.body
    blocks = [relax.BindingBlock(bindings), *body.blocks]
    new = relax.Function(func.params, relax.SeqExpr(blocks, body.body), func.ret_ty, func.is_pure)
    return new.with_attrs(func.attrs) if func.attrs else new


@mutator
class _Guards(PyExprMutator):
    def __init__(self, mod: tvm.IRModule, origins: dict[tirx.Var, str]) -> None:
        super().__init__(mod)
        self.origins = origins
        self.analyzer = tvm.sym.Analyzer()
        self.prologue: list[relax.Call] = []
        self.seen: list[Any] = []

    def visit_call_(self, op: relax.Call) -> relax.Expr:
        call = super().visit_call_(op)
        if not isinstance(call.op, tvm.ir.Op):
            return call
        inline: list[Requirement] = []
        for req in requirements(call):
            if self._proved_or_seen(req.condition):
                continue
            if all(v in self.origins for v in _free_vars(req.condition)):
                self.prologue.append(self._check(relax.op.null_value(), req))
            else:
                inline.append(req)
        args = list(call.args)
        if inline and isinstance(args[0].ty, relax.TensorType):
            for req in inline:
                args[0] = self.builder_.emit(self._check(args[0], req, pure=True))
        args = guard_indices(self.builder_, call, args, self.lookup_binding)
        if all(a.same_as(b) for a, b in zip(args, call.args, strict=True)):
            return call
        return relax.Call(call.op, args, call.attrs, call.ty_args, call.span)

    def _proved_or_seen(self, condition: Any) -> bool:
        simplified = self.analyzer.simplify(condition)
        if isinstance(simplified, tirx.IntImm) and simplified.value:
            return True
        if any(tvm_ffi.structural_equal(simplified, s) for s in self.seen):
            return True
        self.seen.append(simplified)
        return False

    def _check(self, value: relax.Expr, req: Requirement, pure: bool = False) -> relax.Call:
        """`ember.guard.shape(value, condition, message, *values)`; it returns `value`."""
        where = [
            f"'{v}' is {self.origins[v]}" for v in _free_vars(req.condition) if v in self.origins
        ]
        message = req.message + (f" ({'; '.join(where)})" if where else "")
        args = [
            value,
            relax.prim_value(req.condition),
            tvm.ir.StringImm(message),
            *(relax.prim_value(v) for v in req.values),
        ]
        if pure:
            return relax.op.call_pure_packed(GUARD_SHAPE, *args, ty_args=value.ty)
        return relax.Call(relax.ExternFunc(GUARD_SHAPE), args, ty_args=[relax.ObjectType()])

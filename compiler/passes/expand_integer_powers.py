"""Rewrite `x ** 2` and `x ** 3` with constant exponents as multiplications.

GPT-2's GELU computes `x ** 3` with ONNX Pow; lowered as `pow`, it goes through `exp(log(x)
* 3)` per element, is wrong for negative `x` in general (TVM warns about it at build time)
and is several times slower than two multiplications. Precondition: Relax before LegalizeOps.
Exponents other than the integers 1, 2 and 3 are left alone.
"""

from __future__ import annotations

from typing import Any

import tvm
from tvm import relax
from tvm.relax.expr_functor import PyExprMutator, mutator

from ..ir.rewrite import rewrite_functions

_POWER = tvm.ir.Op.get("relax.power")


@tvm.transform.module_pass(opt_level=0, name="EmberExpandIntegerPowers")
def expand_integer_powers(mod: tvm.IRModule, _ctx: Any) -> tvm.IRModule:
    """Replace `power(x, c)` for a constant scalar c in {1, 2, 3} by multiplications."""
    return rewrite_functions(mod, _Rewriter(mod))


def _integer_exponent(expr: relax.Expr) -> int | None:
    """The exponent when it is a constant scalar (or one-element tensor) equal to 1, 2 or 3."""
    if not isinstance(expr, tvm.ir.expr.Constant):
        return None
    value = expr.value.numpy()
    if value.size != 1:
        return None
    scalar = float(value.reshape(-1)[0])
    return int(scalar) if scalar in (1.0, 2.0, 3.0) else None


@mutator
class _Rewriter(PyExprMutator):
    def visit_call_(self, call: relax.Call) -> relax.Expr:
        if call.op != _POWER:
            return call
        base, exponent = call.args
        n = _integer_exponent(exponent)
        # The exponent must not change the result's dtype or broadcast its shape.
        same_type = base.ty.dtype == call.ty.dtype and base.ty.ndim == call.ty.ndim
        if n is None or not same_type:
            return call
        result = base
        for _ in range(n - 1):
            result = self.builder_.emit(relax.op.multiply(result, base))
        return result

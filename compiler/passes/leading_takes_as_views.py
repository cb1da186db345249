"""Taking one entry of an input along its leading axis as a view, not a copy.

A decoder exported with one cache tensor for all layers ([layers, batch, heads, past, dim])
takes each layer's past out of it with a Gather of a constant index on axis 0. TVM lowers
each take to a kernel that copies the whole entry: at a past length of 255, GPT-2 small's 24
takes copied 19 MB per decode step (2 ms of 34 on 2 threads, Intel Xeon). The entry is a
contiguous block of the input, so each such take becomes a view of the input at the entry's
byte offset (`R.memory.view`), which the runtime creates without touching the data.

Only function parameters are viewed: they outlive every binding of the call, so a view can
never outlive its storage, whatever memory planning does with intermediates. The index is
the ONNX importer's normalisation `where(i < 0, i + dim, i)`, which reads `dim` from the
input's shape at run time when another dimension is symbolic; `_static_value` evaluates it
where `i` is a constant and `dim` static. Precondition: Relax before LegalizeOps, constants
folded.
"""

from __future__ import annotations

from typing import Any

import tvm
from tvm import relax, tirx
from tvm.relax.expr_functor import PyExprMutator, mutator

from ..ir.extents import entry_bytes
from ..ir.rewrite import rewrite_and_prune

_TAKE = tvm.ir.Op.get("relax.take")
_WHERE = tvm.ir.Op.get("relax.where")
_ADD = tvm.ir.Op.get("relax.add")
_SHAPE_TO_TENSOR = tvm.ir.Op.get("relax.shape_to_tensor")
#: The alignment, in bytes, that TVM's generated kernels assume of a tensor's data: a view at
#: another offset would break that assumption.
_KERNEL_ALIGNMENT = 64


@tvm.transform.module_pass(opt_level=0, name="EmberLeadingTakesAsViews")
def leading_takes_as_views(mod: tvm.IRModule, _ctx: Any) -> tvm.IRModule:
    """Replace each constant-index take on axis 0 of a function parameter by a view."""
    return rewrite_and_prune(mod, _Rewriter(mod))


def _scalar_constant(expr: relax.Expr) -> int | None:
    if isinstance(expr, tvm.ir.GenericConst) and expr.ty.ndim == 0:
        value = expr.value.numpy()
        if value.dtype.kind in "iub":
            return int(value)
    return None


@mutator
class _Rewriter(PyExprMutator):
    def __init__(self, mod: tvm.IRModule) -> None:
        super().__init__(mod)
        self.params: set[relax.Var] = set()
        self.results: set[relax.Var] = set()
        self.bound: relax.Var | None = None

    def visit_function_(self, func: relax.Function) -> relax.Expr:
        self.params = set(func.params)
        self.results = _results(func)
        return super().visit_function_(func)

    def visit_var_binding_(self, binding: relax.VarBinding) -> None:
        self.bound = binding.var
        super().visit_var_binding_(binding)

    def visit_call_(self, call: relax.Call) -> relax.Expr:
        call = super().visit_call_(call)
        # A result stays a copy: a view would hand the caller its own input's memory.
        if (
            isinstance(call, relax.Call)
            and call.op.same_as(_TAKE)
            and self.bound not in self.results
        ):
            return self._view(call)
        return call

    def _view(self, call: relax.Call) -> relax.Expr:
        data, indices = call.args
        if int(call.attrs.axis) != 0 or data not in self.params:
            return call
        index = self._static_value(indices)
        ty, out_ty = data.ty, call.ty
        if index is None or not isinstance(ty, relax.TensorType) or ty.shape is None:
            return call
        if not isinstance(out_ty, relax.TensorType) or out_ty.shape is None:
            return call
        dims = list(ty.shape.values)
        if not dims or not isinstance(dims[0], tirx.IntImm):
            return call
        count = int(dims[0])
        if index < 0:
            index += count
        if not 0 <= index < count:  # out of range: keep the take and its run-time check
            return call
        entry = tvm.sym.Analyzer().simplify(entry_bytes(ty))
        if index and not _multiple_of(entry, _KERNEL_ALIGNMENT):
            return call
        offset = tirx.const(index, "int64") * entry
        return relax.op.memory.view(data, out_ty.shape, relative_byte_offset=offset)

    def _static_value(self, expr: relax.Expr) -> int | None:
        """The integer scalar `expr` always holds, where its bindings say so, else None.

        Follows constants, `add`, `where` with a known condition, and a static dimension
        read from a shape (`take(shape_to_tensor(shape), j)`).
        """
        if isinstance(expr, relax.Var):
            bound = self.lookup_binding(expr)
            return None if bound is None else self._static_value(bound)
        constant = _scalar_constant(expr)
        if constant is not None or not isinstance(expr, relax.Call):
            return constant
        if expr.op.same_as(_ADD):
            a, b = (self._static_value(arg) for arg in expr.args)
            return None if a is None or b is None else a + b
        if expr.op.same_as(_WHERE):
            condition = self._static_value(expr.args[0])
            if condition is None:
                return None
            return self._static_value(expr.args[1] if condition else expr.args[2])
        if expr.op.same_as(_TAKE):
            return self._static_dimension(expr)
        return None

    def _static_dimension(self, take: relax.Call) -> int | None:
        source, position = take.args
        if isinstance(source, relax.Var):
            source = self.lookup_binding(source)
        if not (isinstance(source, relax.Call) and source.op.same_as(_SHAPE_TO_TENSOR)):
            return None
        values = getattr(source.args[0].ty, "values", None)
        j = self._static_value(position)
        if values is None or j is None or not -len(values) <= j < len(values):
            return None
        dim = values[j]
        return int(dim) if isinstance(dim, tirx.IntImm) else None


def _results(func: relax.Function) -> set[relax.Var]:
    """The variables whose values the function returns: its outputs and what they alias."""
    found = set(relax.analysis.free_vars(func.body.body))
    for block in func.body.blocks:
        for binding in block.bindings:
            if isinstance(binding.var, relax.DataflowVar):
                continue
            found.add(binding.var)
            if isinstance(binding.value, relax.Var | relax.Tuple):
                found.update(relax.analysis.free_vars(binding.value))
    return found


def _multiple_of(value: Any, factor: int) -> bool:
    """Whether `value` (a PrimExpr in symbolic lengths) is a multiple of `factor` for all."""
    return bool(tvm.sym.Analyzer().can_prove_equal(tirx.floormod(value, factor), 0))

"""Round each allocation whose size is known only at run time up to a size class.

TVM's pooled allocator reuses a freed block only for a request of exactly its size (in
pages). A decoder's caches grow by one token per step, so every step asked for blocks a few
KB larger than the last step's and none was reused: each step's large buffers were new
memory from malloc, which maps them afresh and takes a page fault per 4 KiB page (GPT-2
small at 255 cached tokens: 3,700 faults, about 15 MB, per step; 2 threads, Intel Xeon). With
sizes rounded up to one of eight classes per doubling (at most 12.5% more; whole pages),
consecutive steps ask for the same sizes until a class boundary, and the runtime's pool hands
back the blocks the previous step freed. Sizes known at compile time are left exact: they
never change, so they always match.

Precondition: Relax after `LowerAllocTensor` (every allocation is an `alloc_storage` of a
byte size). Postcondition: each `alloc_storage` whose size is symbolic asks for its class.
"""

from __future__ import annotations

from typing import Any

import tvm
from tvm import relax, tirx
from tvm.relax.expr_functor import PyExprMutator, mutator

from ..ir.rewrite import rewrite_functions

_ALLOC_STORAGE = tvm.ir.Op.get("relax.memory.alloc_storage")
#: Size classes per doubling of the size: the waste is at most 1 / this.
CLASSES_PER_DOUBLING = 8
#: The smallest class step: TVM's pooled allocator rounds every size to whole pages anyway.
_PAGE_BITS = 12


def size_class(nbytes: Any) -> Any:
    """`nbytes` (an int64 PrimExpr) rounded up to its size class.

    The step is 1/CLASSES_PER_DOUBLING of the largest power of two not above the size, and
    at least one page.
    """
    highest_bit = tirx.const(63, "int64") - tirx.clz(tirx.bitwise_or(nbytes, 1)).astype("int64")
    step_bits = tirx.max(highest_bit - (CLASSES_PER_DOUBLING.bit_length() - 1), _PAGE_BITS)
    step = tirx.shift_left(tirx.const(1, "int64"), step_bits)
    return tirx.floordiv(nbytes + step - 1, step) * step


@tvm.transform.module_pass(opt_level=0, name="EmberSizeClassAllocations")
def size_class_allocations(mod: tvm.IRModule, _ctx: Any) -> tvm.IRModule:
    """Round every run-time-sized `alloc_storage` up to its size class."""
    return rewrite_functions(mod, _Rounder(mod))


@mutator
class _Rounder(PyExprMutator):
    def visit_call_(self, call: relax.Call) -> relax.Expr:
        call = super().visit_call_(call)
        if not (isinstance(call, relax.Call) and call.op.same_as(_ALLOC_STORAGE)):
            return call
        size = call.args[0]
        if not isinstance(size, relax.ShapeExpr) or len(size.values) != 1:
            return call
        nbytes = size.values[0]
        if isinstance(nbytes, tirx.IntImm):
            return call
        rounded = relax.ShapeExpr([size_class(nbytes.astype("int64"))])
        return relax.Call(call.op, [rounded, *call.args[1:]], call.attrs, call.ty_args)

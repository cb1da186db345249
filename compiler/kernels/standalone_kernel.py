"""One Relax operator call as a kernel of its own: legalized alone, never fused.

A matmul or conv2d that could run in a library kernel can instead run as a generated kernel
when a tuning record makes that faster. The generated kernel must be exactly the kernel the
tuner tuned, so it is legalized on its own (the PrimFunc depends only on the operand types),
and marked opaque so that fusion leaves it alone: its epilogue (bias, activation) becomes
the same separate elementwise kernel as after a library call.
"""

from __future__ import annotations

import tvm
from tvm import relax

#: `op_pattern` of an opaque kernel (TVM's `kOpaque`): FuseOps fuses nothing into it, and
#: AnnotateTIROpPattern keeps a pattern that is already set.
OPAQUE = 8
#: PrimFunc attribute naming the library operator a generated kernel stands in for.
LIBRARY_OP_ATTR = "ember.library_op"


def legalize_alone(call: relax.Call, op_name: str) -> tvm.tirx.PrimFunc:
    """The PrimFunc LegalizeOps makes of `call`, marked opaque and tagged with `op_name`."""
    params = [relax.Var(f"arg{i}", arg.ty) for i, arg in enumerate(call.args)]
    bb = relax.BlockBuilder()
    with bb.function("main", params):
        with bb.dataflow():
            alone = relax.Call(call.op, params, call.attrs, call.ty_args)
            out = bb.emit_output(alone)
        bb.emit_func_output(out)
    legal = relax.transform.LegalizeOps()(bb.get())
    (func,) = [f for f in legal.functions.values() if isinstance(f, tvm.tirx.PrimFunc)]
    return func.with_attr("op_pattern", OPAQUE).with_attr(LIBRARY_OP_ATTR, op_name)


def workload_key(func: tvm.tirx.PrimFunc) -> str:
    """The kernel's MetaSchedule workload hash, as `ember tune` stores it for the task."""
    from tvm.s_tir import meta_schedule as ms

    mod = tvm.IRModule({"main": func.with_attr("global_symbol", "main")})
    return str(ms.database.Workload(mod).as_json()[0])

"""Send float32 matmul and conv2d to Ember's CPU kernel plugin (OpenBLAS on TVM's pool).

Precondition: imported Relax, before LegalizeOps (the ops are still `relax.matmul` and
`relax.nn.conv2d`). Each matching call becomes `call_dps_packed("ember.cpu.matmul" | ...)`;
everything around it (bias, activation, residual add) stays Relax and is fused into generated
elementwise kernels. Postcondition: the module's attribute `ember_plugins` names the plugin,
so the artifact's manifest tells the runtime to load it.

Matched: matmul with a 2-D right operand, or both operands with the same batch dimensions
(the attention products); NCHW/OIHW conv2d (`ember.cpu.conv2d`) and NHWC/HWIO conv2d
(`ember.cpu.conv2d_nhwc`, after the layout pass) of any stride, padding, dilation and group
count except depthwise. Everything else (other dtypes, broadcast batches, other layouts, depthwise
convolutions, whose one-channel groups would make thousands of tiny GEMMs) is left to TVM.
"""

from __future__ import annotations

from typing import Any

import tvm
from tvm import relax
from tvm.relax.expr_functor import PyExprMutator, mutator

from .rewrite import rewrite_functions

PLUGIN = "cpu_blas"
_MATMUL = tvm.ir.Op.get("relax.matmul")
_CONV2D = tvm.ir.Op.get("relax.nn.conv2d")


@tvm.transform.module_pass(opt_level=0, name="EmberDispatchCPUKernels")
def dispatch_cpu_kernels(mod: tvm.IRModule, _ctx: Any) -> tvm.IRModule:
    """Rewrite matching matmul/conv2d calls (see the module docstring)."""
    rewriter = _Rewriter(mod)
    out = rewrite_functions(mod, rewriter)
    if rewriter.rewritten:
        attrs = mod.attrs
        known = (
            [str(p) for p in attrs["ember_plugins"]] if attrs and "ember_plugins" in attrs else []
        )
        out = out.with_attr("ember_plugins", sorted({*known, PLUGIN}))
    return out


def _static_float32(expr: relax.Expr) -> bool:
    ty = expr.ty
    return isinstance(ty, relax.TensorType) and ty.dtype == "float32" and ty.ndim >= 1


@mutator
class _Rewriter(PyExprMutator):
    def __init__(self, mod: tvm.IRModule) -> None:
        super().__init__(mod)
        self.rewritten = 0

    def visit_call_(self, call: relax.Call) -> relax.Expr:
        if call.op == _MATMUL and _matmul_matches(call):
            self.rewritten += 1
            return relax.op.call_dps_packed("ember.cpu.matmul", list(call.args), call.ty)
        layouts = _conv2d_layouts(call) if call.op == _CONV2D else None
        kernel = _CONV_KERNELS.get(layouts) if layouts else None
        if kernel is not None and plugin_takes_conv2d(call):
            self.rewritten += 1
            return relax.op.call_dps_packed(kernel, [*call.args, conv2d_attrs(call)], call.ty)
        return call


def _matmul_matches(call: relax.Call) -> bool:
    a, b = call.args
    if not (_static_float32(a) and _static_float32(b) and _static_float32(call)):
        return False
    if a.ty.ndim < 2 or b.ty.ndim < 2:
        return False
    if b.ty.ndim == 2:
        return True
    # Batched: the batch dimensions must be equal, not broadcast.
    analyzer = tvm.sym.Analyzer()
    a_batch = list(a.ty.shape.values)[:-2]
    b_batch = list(b.ty.shape.values)[:-2]
    return len(a_batch) == len(b_batch) and all(
        analyzer.can_prove_equal(x, y) for x, y in zip(a_batch, b_batch, strict=True)
    )


# (data layout, kernel layout) -> the plugin's packed function for it.
_CONV_KERNELS = {("NCHW", "OIHW"): "ember.cpu.conv2d", ("NHWC", "HWIO"): "ember.cpu.conv2d_nhwc"}


def _conv2d_layouts(call: relax.Call) -> tuple[str, str] | None:
    attrs = call.attrs
    if attrs.out_layout not in ("", attrs.data_layout):
        return None
    return str(attrs.data_layout), str(attrs.kernel_layout)


def plugin_takes_conv2d(call: relax.Call) -> bool:
    """Whether the plugin computes this float32, non-depthwise conv2d, layout aside.

    Callers check the layouts against `_CONV_KERNELS` (the layout selection asks about
    NCHW convs it may turn into NHWC ones).
    """
    attrs = call.attrs
    data, weight = call.args
    if not (_static_float32(data) and _static_float32(weight) and _static_float32(call)):
        return False
    in_per_group = weight.ty.shape.values[str(attrs.kernel_layout).index("I")]
    return not _is_depthwise(in_per_group, int(attrs.groups)) and (
        attrs.out_dtype is None or str(attrs.out_dtype) in ("", "float32")
    )


def conv2d_attrs(call: relax.Call) -> relax.ShapeExpr:
    """[stride_h, stride_w, pad_top, pad_left, pad_bottom, pad_right, dil_h, dil_w, groups]."""
    attrs = call.attrs
    pads = [int(p) for p in attrs.padding]
    if len(pads) == 2:
        pads = pads * 2
    values = [*[int(s) for s in attrs.strides], *pads, *[int(d) for d in attrs.dilation]]
    return relax.ShapeExpr([*values, int(attrs.groups)])


def _is_depthwise(in_per_group: tvm.tirx.PrimExpr, groups: int) -> bool:
    return groups > 1 and isinstance(in_per_group, tvm.tirx.IntImm) and int(in_per_group) == 1

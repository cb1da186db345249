"""Send float32 matmul and conv2d to Ember's CPU kernel plugin (OpenBLAS on TVM's pool).

Precondition: imported Relax, before LegalizeOps (the ops are still `relax.matmul` and
`relax.nn.conv2d`). Each matching call becomes `call_dps_packed("ember.cpu.matmul" | ...)`;
everything around it (bias, activation, residual add) stays Relax and is fused into generated
elementwise kernels. Postcondition: the module's attribute `ember_plugins` names the plugin,
so the artifact's manifest tells the runtime to load it.

With a `KernelChoice` (a compile with tuning records, or a tune), each matching call with
static shapes is offered to the choice first: it may take the generated kernel instead of
the library (`standalone_kernel`), e.g. when a tuning record measured it faster.

Matched: matmul with a 2-D right operand, or both operands with the same batch dimensions
(the attention products); NCHW/OIHW conv2d (`ember.cpu.conv2d`) and NHWC/HWIO conv2d
(`ember.cpu.conv2d_nhwc`, after the layout pass) of any stride, padding, dilation and group
count except depthwise. Everything else (other dtypes, broadcast batches, other layouts, depthwise
convolutions, whose one-channel groups would make thousands of tiny GEMMs) is left to TVM.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import tvm
from tvm import relax
from tvm.relax.expr_functor import PyExprMutator, mutator

from ..kernels.standalone_kernel import legalize_alone, workload_key
from .rewrite import rewrite_functions

PLUGIN = "cpu_blas"
_MATMUL = tvm.ir.Op.get("relax.matmul")
_CONV2D = tvm.ir.Op.get("relax.nn.conv2d")


@dataclass(frozen=True)
class LibrarySite:
    """A call the library could run, and the generated kernel that could run it instead."""

    #: "matmul", "conv2d" or "conv2d_nhwc" (the plugin function is `ember.cpu.<op>`).
    op: str
    #: The generated kernel's workload hash (its tuning task's key).
    key: str
    #: Operand shapes, then the output's.
    shapes: tuple[tuple[int, ...], ...]
    #: The plugin's conv2d attributes (see `conv2d_attrs`); empty for matmul.
    attrs: tuple[int, ...]


class KernelChoice(Protocol):
    """Decides, per call, between the library kernel and the generated one."""

    def use_generated(self, site: LibrarySite) -> bool:
        """True to run `site` as its generated kernel."""
        ...


def make_dispatch(choice: KernelChoice | None = None) -> Any:
    """The dispatch pass; `choice` may keep calls as generated kernels (see the docstring)."""

    @tvm.transform.module_pass(opt_level=0, name="EmberDispatchCPUKernels")
    def dispatch(mod: tvm.IRModule, _ctx: Any) -> tvm.IRModule:
        rewriter = _Rewriter(mod, choice)
        out = rewrite_functions(mod, rewriter)
        if rewriter.rewritten:
            attrs = mod.attrs
            known = (
                [str(p) for p in attrs["ember_plugins"]]
                if attrs and "ember_plugins" in attrs
                else []
            )
            out = out.with_attr("ember_plugins", sorted({*known, PLUGIN}))
        return out

    return dispatch


#: Every matching call to the library.
dispatch_cpu_kernels = make_dispatch()


def _static_float32(expr: relax.Expr) -> bool:
    ty = expr.ty
    return isinstance(ty, relax.TensorType) and ty.dtype == "float32" and ty.ndim >= 1


@mutator
class _Rewriter(PyExprMutator):
    def __init__(self, mod: tvm.IRModule, choice: KernelChoice | None) -> None:
        super().__init__(mod)
        self.choice = choice
        self.rewritten = 0

    def visit_call_(self, call: relax.Call) -> relax.Expr:
        if call.op == _MATMUL and _matmul_matches(call):
            return self._route(call, "ember.cpu.matmul", list(call.args), ())
        layouts = _conv2d_layouts(call) if call.op == _CONV2D else None
        kernel = _CONV_KERNELS.get(layouts) if layouts else None
        if kernel is not None and plugin_takes_conv2d(call):
            attrs = conv2d_attrs(call)
            values = tuple(int(v) for v in attrs.values)
            return self._route(call, kernel, [*call.args, attrs], values)
        return call

    def _route(
        self, call: relax.Call, kernel: str, args: list[relax.Expr], attrs: tuple[int, ...]
    ) -> relax.Expr:
        op = kernel.removeprefix("ember.cpu.")
        generated = self._generated(call, op, attrs) if self.choice is not None else None
        if generated is not None:
            return generated
        self.rewritten += 1
        return relax.op.call_dps_packed(kernel, args, call.ty)

    def _generated(self, call: relax.Call, op: str, attrs: tuple[int, ...]) -> relax.Expr | None:
        shapes = _static_shapes([*call.args, call])
        if shapes is None or self.choice is None:  # symbolic shapes: no tuned kernel to race
            return None
        func = legalize_alone(call, op)
        if not self.choice.use_generated(LibrarySite(op, workload_key(func), shapes, attrs)):
            return None
        gvar = self.builder_.add_func(func, f"{op}_generated")
        return relax.call_tir(gvar, list(call.args), call.ty)


def _static_shapes(exprs: list[relax.Expr]) -> tuple[tuple[int, ...], ...] | None:
    shapes = []
    for expr in exprs:
        dims = expr.ty.shape.values
        if not all(isinstance(d, tvm.tirx.IntImm) for d in dims):
            return None
        shapes.append(tuple(int(d) for d in dims))
    return tuple(shapes)


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

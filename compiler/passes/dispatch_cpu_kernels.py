"""Send float32 matmul and convolutions to Ember's CPU kernel plugins (on TVM's pool).

Precondition: imported Relax, before LegalizeOps (the ops are still `relax.matmul`,
`relax.nn.conv2d` and `relax.nn.conv1d`), constants folded. Each matching call becomes
`call_dps_packed` of a plugin kernel; everything around it (bias, activation, residual add)
stays Relax, fused into oneDNN's calls by `fuse_library_epilogues` or else into generated
elementwise kernels. Postcondition: the module's
attribute `ember_plugins` names the plugins, so the artifact's manifest tells the runtime to
load them.

Kernel sources (`libraries.onednn` says why): with oneDNN, matmuls (`ember.dnnl.matmul`) and
NHWC/HWIO convolutions of every group count, depthwise included (`ember.dnnl.conv_nhwc`), and
NCW/OIW conv1d, run there as NWC with the weight stored WIO at build time, and softmaxes over
rows whose width is not a multiple of 8 (`ember.dnnl.softmax`); NCHW convs stay in
OpenBLAS (`ember.cpu.conv2d`). Without oneDNN, all go to OpenBLAS as below, and depthwise and
1-D convolutions to TVM. Constant right operands and weights carry a content hash, so the
plugin packs them once.

With a `KernelChoice` (a compile with tuning records, or a tune), each matching call with
static shapes is offered to the choice first: it may take the generated kernel instead of
the library (`standalone_kernel`), e.g. when a tuning record measured it faster.

Matched: matmul with a 2-D right operand, or both operands with the same batch dimensions
(the attention products); NCHW/OIHW conv2d (`ember.cpu.conv2d`) and NHWC/HWIO conv2d
(`ember.cpu.conv2d_nhwc`, after the layout pass) of any stride, padding, dilation and group
count except depthwise. Everything else (other dtypes, broadcast batches, other layouts, depthwise
convolutions in OpenBLAS, whose one-channel groups would make thousands of tiny GEMMs) is
left to TVM.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import tvm
from tvm import relax
from tvm.relax.expr_functor import PyExprMutator, mutator

from ..ir.attrs import out_dtype
from ..ir.rewrite import rewrite_functions
from ..kernels.standalone_kernel import legalize_alone, workload_key
from ..libraries import onednn

PLUGIN = "cpu_blas"
_MATMUL = tvm.ir.Op.get("relax.matmul")
_CONV2D = tvm.ir.Op.get("relax.nn.conv2d")
_CONV1D = tvm.ir.Op.get("relax.nn.conv1d")
_SOFTMAX = tvm.ir.Op.get("relax.nn.softmax")
_PERMUTE_DIMS = tvm.ir.Op.get("relax.permute_dims")
#: Softmax rows whose width is a multiple of this vectorize whole in the default schedule
#: (`row_reduction_schedule`), fused with the mask add before them; others go to oneDNN.
_SOFTMAX_VECTOR_WIDTH = 8


@dataclass(frozen=True)
class LibrarySite:
    """A call the library could run, and the generated kernel that could run it instead."""

    #: "matmul", "conv2d" or "conv2d_nhwc".
    op: str
    #: The generated kernel's workload hash (its tuning task's key).
    key: str
    #: Operand shapes, then the output's.
    shapes: tuple[tuple[int, ...], ...]
    #: The plugin's attributes (see `conv2d_attrs`; a constant operand's hash).
    attrs: tuple[int, ...]
    #: The plugin's packed function, and the plugin that registers it.
    function: str = "ember.cpu.matmul"
    plugin: str = PLUGIN


class KernelChoice(Protocol):
    """Decides, per call, between the library kernel and the generated one."""

    def use_generated(self, site: LibrarySite) -> bool:
        """True to run `site` as its generated kernel."""
        ...


def make_dispatch(choice: KernelChoice | None = None) -> Any:
    """The dispatch pass; `choice` may keep calls as generated kernels (see the docstring)."""

    @tvm.transform.module_pass(opt_level=0, name="EmberDispatchCPUKernels")
    def dispatch(mod: tvm.IRModule, _ctx: Any) -> tvm.IRModule:
        rewriter = _Rewriter(mod, choice, onednn.unavailable_reason() is None)
        out = rewrite_functions(mod, rewriter)
        if rewriter.plugins:
            attrs = mod.attrs
            known = (
                [str(p) for p in attrs["ember_plugins"]]
                if attrs and "ember_plugins" in attrs
                else []
            )
            out = out.with_attr("ember_plugins", sorted({*known, *rewriter.plugins}))
        return out

    return dispatch


#: Every matching call to the library.
dispatch_cpu_kernels = make_dispatch()


def _static_float32(expr: relax.Expr) -> bool:
    ty = expr.ty
    return isinstance(ty, relax.TensorType) and ty.dtype == "float32" and ty.ndim >= 1


@mutator
class _Rewriter(PyExprMutator):
    def __init__(self, mod: tvm.IRModule, choice: KernelChoice | None, dnnl: bool) -> None:
        super().__init__(mod)
        self.choice = choice
        self.dnnl = dnnl
        self.plugins: set[str] = set()

    def visit_call_(self, call: relax.Call) -> relax.Expr:
        if call.op == _MATMUL and _matmul_matches(call):
            if self.dnnl:
                stored = self._transposed_source(call)
                if stored is not None:
                    self.plugins.add(onednn.PLUGIN)
                    args = [call.args[0], stored, relax.ShapeExpr([0])]
                    return relax.op.call_dps_packed(onednn.MATMUL_BT, args, call.ty)
                attrs = relax.ShapeExpr([_constant_hash(call.args[1])])
                return self._route(call, "matmul", onednn.MATMUL, [*call.args, attrs])
            return self._route(call, "matmul", "ember.cpu.matmul", list(call.args))
        if call.op == _CONV1D and self.dnnl:
            rewritten = self._conv1d(call)
            return call if rewritten is None else rewritten
        if call.op == _SOFTMAX and self.dnnl and _library_softmax(call):
            self.plugins.add(onednn.PLUGIN)
            return relax.op.call_dps_packed(onednn.SOFTMAX, [call.args[0]], call.ty)
        layouts = _conv2d_layouts(call) if call.op == _CONV2D else None
        if layouts == ("NHWC", "HWIO") and self.dnnl and _dnnl_takes_conv(call):
            attrs = conv2d_attrs(call)
            hashed = relax.ShapeExpr([*attrs.values, _constant_hash(call.args[1])])
            return self._route(call, "conv2d_nhwc", onednn.CONV_NHWC, [*call.args, hashed])
        kernel = _CONV_KERNELS.get(layouts) if layouts else None
        if kernel is not None and plugin_takes_conv2d(call):
            op = kernel.removeprefix("ember.cpu.")
            return self._route(call, op, kernel, [*call.args, conv2d_attrs(call)])
        return call

    def _transposed_source(self, call: relax.Call) -> relax.Expr | None:
        """`x` where the right operand is a run-time transpose of `x`'s last two axes, else None.

        That is attention's keys, transposed for the scores. oneDNN then reads `x` with
        swapped strides; the transpose, a copy of the whole key cache per layer and step in a
        decoder, is left to dead-code removal. A constant operand is transposed at build time
        instead, and packed once. A permutation that also moves other axes (BERT's and GPT-2's
        keys go from [batch, tokens, heads, width] straight to [batch, heads, width, tokens])
        is split where what remains keeps the source's rows whole: the permutation that keeps
        the last two axes in order (tokens by width, as the queries and values are laid out)
        is computed, and the product reads it swapped. Its kernel copies rows, where the full
        transpose wrote one element per token row: BERT-base's key transposes 0.77-0.83 ->
        0.19-0.29 ms a run, its scores 0.1-0.2 ms slower read transposed (AMD Zen 4, fp32
        and bf16); whole runs moved within the noise.
        """
        operand = call.args[1]
        bound = self.lookup_binding(operand) if isinstance(operand, relax.Var) else None
        if not (isinstance(bound, relax.Call) and bound.op.same_as(_PERMUTE_DIMS)):
            return None
        source = bound.args[0]
        ndim = source.ty.ndim
        axes = bound.attrs.axes
        if axes is None or isinstance(source, tvm.ir.GenericConst) or ndim < 2:
            return None
        perm = [int(a) for a in axes]
        unswapped = [*perm[:-2], perm[-1], perm[-2]]
        if unswapped == list(range(ndim)):
            return source
        if unswapped[-1] != ndim - 1:  # the copy would not keep the source's rows whole
            return None
        return self.builder_.emit(relax.op.permute_dims(source, unswapped))

    def _conv1d(self, call: relax.Call) -> relax.Expr | None:
        """NCW/OIW conv1d as oneDNN's NWC/WIO one, the weight transposed at build time."""
        data, weight = call.args
        attrs = call.attrs
        if not (isinstance(weight, tvm.ir.GenericConst) and _static_float32(data)):
            return None
        if (attrs.data_layout, attrs.kernel_layout, attrs.out_layout) not in _NCW or not (
            _static_float32(call) and out_dtype(call) in (None, "float32")
        ):
            return None
        wio = weight.value.numpy().transpose(2, 1, 0)
        pads = [int(p) for p in attrs.padding]
        values = [1, int(attrs.strides[0]), 0, pads[0], 0, pads[-1], 1, int(attrs.dilation[0])]
        hashed = relax.ShapeExpr([*values, int(attrs.groups), onednn.content_hash(wio)])
        x = self.builder_.emit(relax.op.permute_dims(data, [0, 2, 1]))
        n, o, w = call.ty.shape.values
        out_ty = relax.TensorType([n, w, o], "float32")
        args = [x, relax.const(np.ascontiguousarray(wio)), hashed]
        self.plugins.add(onednn.PLUGIN)
        y = self.builder_.emit(relax.op.call_dps_packed(onednn.CONV_NHWC, args, out_ty))
        return relax.op.permute_dims(y, [0, 2, 1])

    def _route(
        self,
        call: relax.Call,
        op: str,
        kernel: str,
        args: list[relax.Expr],
    ) -> relax.Expr:
        plugin = onednn.PLUGIN if kernel.startswith("ember.dnnl.") else PLUGIN
        generated = self._generated(call, op, kernel, plugin, args)
        if generated is not None:
            return generated
        self.plugins.add(plugin)
        return relax.op.call_dps_packed(kernel, args, call.ty)

    def _generated(
        self, call: relax.Call, op: str, kernel: str, plugin: str, args: list[relax.Expr]
    ) -> relax.Expr | None:
        """The tuned generated kernel for `call`, where the choice prefers it to the library."""
        if self.choice is None:
            return None
        shapes = _static_shapes([*call.args, call])
        if shapes is None:  # symbolic shapes: no tuned kernel to race
            return None
        func = legalize_alone(call, op)
        # The plugin's attributes are its last argument, where it takes any.
        attrs = tuple(int(v) for v in args[-1].values) if len(args) > 2 else ()
        site = LibrarySite(op, workload_key(func), shapes, attrs, kernel, plugin)
        if not self.choice.use_generated(site):
            return None
        gvar = self.builder_.add_func(func, f"{op}_generated")
        return relax.call_tir(gvar, list(call.args), call.ty)


def _library_softmax(call: relax.Call) -> bool:
    """Whether oneDNN should compute this softmax.

    A float32 softmax over the last axis of static rows that the default schedule vectorizes
    only in part (a width that is not a multiple of `_SOFTMAX_VECTOR_WIDTH`).
    """
    data = call.args[0]
    if not _static_float32(data) or not _static_float32(call) or data.ty.shape is None:
        return False
    shape = _static_shapes([data])
    if shape is None:
        return False
    dims = shape[0]
    axis = int(call.attrs.axis)
    last = axis in (-1, len(dims) - 1)
    return last and dims[-1] > 1 and dims[-1] % _SOFTMAX_VECTOR_WIDTH != 0


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


# conv1d layouts oneDNN's NWC kernel takes after a transpose (out_layout "" means data_layout).
_NCW = {("NCW", "OIW", "NCW"), ("NCW", "OIW", "")}


def _constant_hash(expr: relax.Expr) -> int:
    """The plugin's key for packing `expr` once: its content hash, or 0 if not a constant."""
    return onednn.content_hash(expr.value.numpy()) if isinstance(expr, tvm.ir.GenericConst) else 0


def _dnnl_takes_conv(call: relax.Call) -> bool:
    """Whether oneDNN computes this NHWC conv2d: float32 throughout, any group count.

    Left out: a padding so wide that an output row sees no input row (no kernel of oneDNN's
    takes an empty tile), and convolutions over no input channels.
    """
    data, weight = call.args
    attrs = call.attrs
    if not (_static_float32(data) and _static_float32(weight) and _static_float32(call)):
        return False
    if out_dtype(call) not in (None, "float32"):
        return False
    kernel_h, _, in_per_group, _ = weight.ty.shape.values
    if not isinstance(kernel_h, tvm.tirx.IntImm) or not isinstance(in_per_group, tvm.tirx.IntImm):
        return False
    pads = [int(p) for p in attrs.padding]
    reach = (int(kernel_h) - 1) * int(attrs.dilation[0]) + 1
    return int(in_per_group) > 0 and pads[0] < reach and pads[-2 if len(pads) == 4 else 0] < reach


# (data layout, kernel layout) -> the OpenBLAS plugin's packed function for it.
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
        out_dtype(call) in (None, "float32")
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

"""Run the 3 x 3 convolutions that suit it by Winograd's algorithm (`ember.dnnl.conv_winograd*`).

Precondition: dispatch, `fuse_library_epilogues` and the precision passes have run. A oneDNN
convolution call (`ember.dnnl.conv_nhwc*`) is renamed to its Winograd twin, attributes and
operands unchanged, when it computes in float32 with constant 3 x 3 weights, stride 1, no
dilation, one group, an output of at least `MIN_PIXELS` x `MIN_PIXELS` pixels and at least
`MIN_CHANNELS` input and output channels. The plugin (runtime_cpp/plugins/cpu_dnnl/
dnnl_winograd.cc) computes F(4 x 4, 3 x 3) on large images and F(2 x 2, 3 x 3) on small ones:
4 and 2.25 times fewer multiplications, for outputs that differ from ONNX Runtime's by 3-4e-6
and 7e-7 of their magnitude, the direct convolution's by 1e-6 (docs/precision.md).

Why these bounds (measured on AMD Zen 4, benchmarks/RESULTS.md): below 64 channels the
transforms cost more than the multiplications they save; on a 7 x 7 image the transformed
weights (16/9 or 36/9 of the weights) are read for too few pixels to pay. `ember compile
--no-winograd` keeps every convolution direct.
"""

from __future__ import annotations

from typing import Any

import tvm
from tvm import relax, tirx
from tvm.relax.expr_functor import PyExprMutator, mutator

from ..ir.rewrite import rewrite_functions
from ..libraries import onednn
from ..libraries.onednn_calls import LibraryCall, library_call

MIN_PIXELS = 8
MIN_CHANNELS = 64
_TWINS = {
    onednn.CONV_NHWC: onednn.CONV_WINOGRAD,
    onednn.CONV_NHWC_EPILOGUE: onednn.CONV_WINOGRAD_EPILOGUE,
    onednn.CONV_NHWC_RESIDUAL: onednn.CONV_WINOGRAD_RESIDUAL,
}


def suits_winograd(call: LibraryCall, out_shape: list[int]) -> bool:
    """Whether the convolution `call` (its output [N, OH, OW, O]) runs well as Winograd."""
    weight = call.tensors[1].ty
    if call.name not in _TWINS or weight.ndim != 4 or len(out_shape) != 4:
        return False
    if call.compute_type not in (None, onednn.COMPUTE_TYPES["fp32"]):
        return False
    strides, dilations, groups, weight_hash = call.values[0:2], call.values[6:8], *call.values[8:10]
    kernel_h, kernel_w, in_channels, out_channels = (int(d) for d in weight.shape.values)
    return (
        (kernel_h, kernel_w) == (3, 3)
        and strides == [1, 1]
        and dilations == [1, 1]
        and groups == 1
        and weight_hash != 0
        and min(out_shape[1], out_shape[2]) >= MIN_PIXELS
        and min(in_channels, out_channels) >= MIN_CHANNELS
    )


@tvm.transform.module_pass(opt_level=0, name="EmberWinogradConvolutions")
def winograd_convolutions(mod: tvm.IRModule, _ctx: Any) -> tvm.IRModule:
    """Rename the convolution calls that suit Winograd's algorithm (see the docstring)."""
    return rewrite_functions(mod, _Rewriter(mod))


@mutator
class _Rewriter(PyExprMutator):
    def visit_call_(self, call: relax.Call) -> relax.Expr:
        call = super().visit_call_(call)
        parts = library_call(call)
        if parts is None or parts.name not in _TWINS:
            return call
        shape = call.ty.shape
        if shape is None:
            return call
        # The batch may be symbolic; the image and the channels must be known.
        dims = [d.value if isinstance(d, tirx.IntImm) else 0 for d in shape.values[1:]]
        if 0 in dims or not suits_winograd(parts, [1, *dims]):
            return call
        attrs = relax.ShapeExpr(parts.values)
        return relax.op.call_dps_packed(_TWINS[parts.name], [*parts.tensors, attrs], call.ty)

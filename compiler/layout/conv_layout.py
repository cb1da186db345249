"""Choose the convolutions' layout, NCHW or NHWC, by timing the plugin's conv on this machine.

On x86 NHWC convolutions of every kind run in oneDNN (bias and activation inside the call), NCHW
ones in OpenBLAS (im2col per output row; depthwise convs left to TVM); without oneDNN, both
layouts run in OpenBLAS. Which is faster depends on the shapes and the machine. So
`choose_layout` builds each distinct conv shape of the model with a bias+ReLU epilogue in both
layouts and times them in the compiling process, on TVM's thread pool as at run time
(`conv_timing`; a few milliseconds each), then picks the layout with the lower total for the
model, each shape weighted by how often the model uses it. The layout the libraries favour (NHWC
with oneDNN, else NCHW) is kept unless the other is clearly faster (`LAYOUT_MARGIN`). The choice
and the totals go into the manifest and the compile output.
"""

from __future__ import annotations

import faulthandler
import os
import signal
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import tvm
import tvm_ffi
from tvm import relax

from ember.errors import OptionError

from ..ir.bindings import module_bindings
from ..libraries import onednn
from ..passes.dispatch_cpu_kernels import conv2d_attrs, plugin_takes_conv2d
from ..target import Target
from .conv_shape import ConvShape

LAYOUTS = ("auto", "nchw", "nhwc")
#: The forked NHWC conversion check (`nhwc_problem`) gets this long.
NHWC_CHECK_TIMEOUT_S = 120.0
_CONV2D = tvm.ir.Op.get("relax.nn.conv2d")
_KERNELS = {"nchw": "ember.cpu.conv2d", "nhwc": "ember.cpu.conv2d_nhwc"}
# The layout that is not preferred must beat the preferred one by this fraction to be taken:
# timings a few percent apart are within the noise of a busy machine and would flip between
# compiles. Preferred: NHWC where oneDNN runs the convolutions (its direct and depthwise
# kernels read NHWC), else NCHW, the model's own (no transposes at the edges, and the layout
# `ember tune` records are made in).
LAYOUT_MARGIN = 0.05


@dataclass(frozen=True)
class LayoutChoice:
    """The layout a compile uses, what was asked for, and the measured totals behind it."""

    layout: str
    requested: str
    measured_ms: dict[str, float] = field(default_factory=dict)
    conv_shapes: int = 0
    reason: str = ""

    def manifest(self) -> dict[str, Any]:
        """The manifest's `layout` entry."""
        return {
            "conv": self.layout,
            "requested": self.requested,
            "measured_ms": {k: round(v, 4) for k, v in self.measured_ms.items()},
            "conv_shapes": self.conv_shapes,
            "reason": self.reason,
        }

    def summary(self) -> str:
        """One line for the compile output."""
        return f"conv layout {self.layout.upper()}: {self.reason}"


def check_layout(requested: str) -> str:
    """`requested` in lower case, or a one-line error naming the accepted values."""
    value = requested.lower()
    if value not in LAYOUTS:
        raise OptionError(f"invalid --layout '{requested}': expected one of {', '.join(LAYOUTS)}")
    return value


def conv_shapes(mod: tvm.IRModule, in_plugin: bool = True) -> Counter[ConvShape]:
    """The imported module's float32 NCHW conv2d shapes, with their counts.

    `in_plugin` picks those the plugin computes, else those left to TVM's generated code
    (depthwise convs).

    Convs whose channels or image size are symbolic cannot be timed and are left out.
    """
    shapes: Counter[ConvShape] = Counter()

    @relax.expr_functor.visitor
    class _Collect(relax.PyExprVisitor):
        def visit_call_(self, call: relax.Call) -> None:
            super().visit_call_(call)
            attrs = call.attrs
            if call.op != _CONV2D or (attrs.data_layout, attrs.kernel_layout) != ("NCHW", "OIHW"):
                return
            if attrs.out_layout not in ("", "NCHW") or not _float32(call):
                return
            if plugin_takes_conv2d(call) == in_plugin:
                shape = _shape_of(call)
                if shape is not None:
                    shapes[shape] += 1

    for func in mod.functions.values():
        if isinstance(func, relax.Function):
            _Collect().visit_expr(func)
    return shapes


def _float32(call: relax.Call) -> bool:
    return all(
        isinstance(e.ty, relax.TensorType) and e.ty.dtype == "float32" and e.ty.shape is not None
        for e in (call.args[0], call.args[1], call)
    )


def _shape_of(call: relax.Call) -> ConvShape | None:
    """The conv's shape with a symbolic batch timed at 1; None if another dim is symbolic."""
    values = [list(e.ty.shape.values) for e in (call.args[0], call.args[1], call)]
    values[0][0] = values[2][0] = tvm.tirx.IntImm("int64", 1)
    if not all(isinstance(d, tvm.tirx.IntImm) for dims in values for d in dims):
        return None
    data, weight, out = (tuple(int(d) for d in dims) for dims in values)
    attrs = tuple(int(v) for v in conv2d_attrs(call).values)
    return ConvShape(data, weight, out, attrs)


def is_quantized(mod: tvm.IRModule) -> bool:
    """Whether `mod` (as imported) quantizes activations: a QDQ model.

    Its convolutions run in int8 only in oneDNN's NHWC kernels.
    """
    quantize = tvm.ir.Op.get("relax.quantize")
    return any(
        isinstance(b.value, relax.Call) and b.value.op.same_as(quantize)
        for b in module_bindings(mod)
    )


def choose_layout(
    mod: tvm.IRModule, target: Target, requested: str, precision: str = "fp32"
) -> LayoutChoice:
    """The conv layout for compiling `mod` for `target` (see the module docstring).

    "nchw" and "nhwc" are taken as asked; "auto" measures on x86 (the plugin's kernels) and
    keeps NCHW elsewhere, for models without plugin convs, or without the built plugin. A
    reduced `precision` on x86 takes NHWC without measuring: only oneDNN's NHWC kernels have it.
    """
    requested = check_layout(requested)
    if requested != "auto":
        return LayoutChoice(requested, requested, reason="as asked (--layout)")
    if target.device != "cpu" or target.arch != "x86_64":
        return LayoutChoice("nchw", requested, reason="the model's layout (no x86 plugin)")
    shapes, generated = conv_shapes(mod), conv_shapes(mod, in_plugin=False)
    if not shapes:
        return LayoutChoice("nchw", requested, reason="the model's layout (no plugin convs)")
    if not _load_plugin():
        return LayoutChoice("nchw", requested, reason="the model's layout (plugin not built)")
    problem = nhwc_problem(mod)
    if problem is not None:
        return LayoutChoice("nchw", requested, reason=f"the model's layout (NHWC: {problem})")
    if precision != "fp32" and onednn.unavailable_reason() is None:
        return LayoutChoice("nhwc", requested, reason=f"oneDNN's {precision} convolutions")
    if is_quantized(mod) and onednn.unavailable_reason() is None:
        return LayoutChoice("nhwc", requested, reason="oneDNN's int8 convolutions (QDQ model)")
    from .conv_timing import time_convs

    totals = time_convs(shapes + generated, target)
    preferred = "nhwc" if onednn.unavailable_reason() is None else "nchw"
    other = "nchw" if preferred == "nhwc" else "nhwc"
    best = other if totals[other] < (1 - LAYOUT_MARGIN) * totals[preferred] else preferred
    summary = ", ".join(f"{k.upper()} {v:.2f} ms" for k, v in totals.items())
    reason = (
        f"measured {summary} over {len(shapes)} plugin and {len(generated)} TVM conv shapes"
        " with a bias+ReLU epilogue"
    )
    return LayoutChoice(best, requested, totals, len(shapes) + len(generated), reason)


def nhwc_problem(mod: tvm.IRModule) -> str | None:
    """Why TVM's ConvertLayout cannot put this model in NHWC, or None when it can.

    Some graphs defeat it: a tuple built around a converted tensor (TVM's import of an
    opset-9 Dropout) raises "Expected nested to match tuple", and some graphs (the ONNX light
    ResNet-50, with `Sum`) crash it outright. So the conversion is tried in a forked child
    first, where a crash costs the child only; auto then keeps NCHW.
    """
    convert = tvm.transform.Sequential(
        [
            relax.transform.FoldBatchnormToConv2D(),
            relax.transform.DecomposeOpsForInference(),
            relax.transform.CanonicalizeBindings(),
            relax.transform.ConvertLayout({"relax.nn.conv2d": ["NHWC", "HWIO"]}),
        ]
    )
    pid = os.fork()
    if pid == 0:  # the child: report through the exit status only, print nothing
        os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
        faulthandler.disable()  # an expected crash needs no Python traceback (pytest enables it)
        try:
            convert(mod)
        except BaseException:
            os._exit(1)
        os._exit(0)
    deadline = time.monotonic() + NHWC_CHECK_TIMEOUT_S
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return "TVM's layout conversion did not finish"
        time.sleep(0.02)
    if os.WIFSIGNALED(status):
        return f"TVM's layout conversion crashed (signal {os.WTERMSIG(status)})"
    if os.WEXITSTATUS(status) != 0:
        return "TVM's layout conversion rejects this graph"
    return None


def _load_plugin() -> bool:
    if tvm.get_global_func(_KERNELS["nhwc"], allow_missing=True) is not None:
        return True
    from ember._plugins import LIB_DIR, load_plugin

    if not (LIB_DIR / "libember_cpu_blas.so").is_file():
        return False
    load_plugin("cpu_blas")
    return tvm.get_global_func(_KERNELS["nhwc"], allow_missing=True) is not None


def plugin_conv(shape: ConvShape, layout: str) -> Callable[[], object]:
    """A call of the plugin's `layout` conv on random data of `shape`, ready to time."""
    rng = np.random.default_rng(0)
    data = rng.standard_normal(shape.data).astype(np.float32)
    weight = rng.standard_normal(shape.weight).astype(np.float32)
    out = np.empty(shape.out, np.float32)
    if layout == "nhwc":
        data, out = data.transpose(0, 2, 3, 1), out.transpose(0, 2, 3, 1)
        weight = weight.transpose(2, 3, 1, 0)  # OIHW -> HWIO
    kernel = tvm.get_global_func(_KERNELS[layout])
    args = [tvm.runtime.tensor(np.ascontiguousarray(a)) for a in (data, weight, out)]
    attrs = tvm_ffi.Shape(shape.attrs)
    return lambda: kernel(args[0], args[1], attrs, args[2])

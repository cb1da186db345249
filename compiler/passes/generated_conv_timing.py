"""Time the convolutions TVM generates code for (depthwise) in NCHW and in NHWC.

The layout choice (`conv_layout`) must weigh the convs the plugin does not take too: their
generated code is as fast as its layout lets the default schedule be. Each layout gets one
module with one function per distinct conv shape, built with the same pass pipeline as a
model (so the same schedules), then each function is timed on random data.
"""

from __future__ import annotations

import functools
from collections import Counter
from typing import TYPE_CHECKING

import numpy as np
import tvm
from tvm import relax

from ..target import Target
from .pipeline import run_pipeline

if TYPE_CHECKING:
    from .conv_layout import ConvShape

# layout -> (data layout, kernel layout, axes of NCHW data / OIHW weight in that layout)
_LAYOUTS = {
    "nchw": ("NCHW", "OIHW", (0, 1, 2, 3), (0, 1, 2, 3)),
    "nhwc": ("NHWC", "HWIO", (0, 2, 3, 1), (2, 3, 1, 0)),
}


def time_generated_convs(shapes: Counter[ConvShape], target: Target) -> dict[str, float]:
    """Layout -> milliseconds per inference of these convs (each shape times its count)."""
    from .conv_layout import fastest_ms

    rng = np.random.default_rng(0)
    vms = {}
    for layout in _LAYOUTS:
        mod = run_pipeline(_module(list(shapes), layout, rng), target)
        with target.tvm_target():
            vms[layout] = relax.VirtualMachine(
                tvm.compile(mod, target=target.tvm_target()), tvm.cpu()
            )
    totals = dict.fromkeys(_LAYOUTS, 0.0)
    for index, (shape, count) in enumerate(shapes.items()):
        data = rng.standard_normal(shape.data).astype(np.float32)
        runners = {
            layout: functools.partial(
                vm[f"conv{index}"],
                tvm.runtime.tensor(np.ascontiguousarray(data.transpose(_LAYOUTS[layout][2]))),
            )
            for layout, vm in vms.items()
        }
        for layout, ms in fastest_ms(runners).items():
            totals[layout] += count * ms
    return totals


def _module(shapes: list[ConvShape], layout: str, rng: np.random.Generator) -> tvm.IRModule:
    data_layout, kernel_layout, data_axes, weight_axes = _LAYOUTS[layout]
    bb = relax.BlockBuilder()
    for index, shape in enumerate(shapes):
        weight = rng.standard_normal(shape.weight).astype(np.float32).transpose(weight_axes)
        data_shape = [shape.data[a] for a in data_axes]
        x = relax.Var("x", relax.TensorType(data_shape, "float32"))
        attrs = shape.attrs
        with bb.function(f"conv{index}", [x]):
            with bb.dataflow():
                y = bb.emit(
                    relax.op.nn.conv2d(
                        x,
                        relax.const(np.ascontiguousarray(weight)),
                        strides=attrs[0:2],
                        padding=attrs[2:6],
                        dilation=attrs[6:8],
                        groups=attrs[8],
                        data_layout=data_layout,
                        kernel_layout=kernel_layout,
                    )
                )
                out = bb.emit_output(y)
            bb.emit_func_output(out)
    return bb.get()

"""Time a model's distinct conv shapes in NCHW and in NHWC, as a compile builds them.

A conv's cost in a layout is more than its kernel: the bias/activation epilogue after it
runs in generated code, and its speed depends on the layout as much (channels innermost
vectorise along the bias). So each layout gets one module with one function per distinct
conv shape, conv + bias + ReLU, built with the same pass pipeline as a model (the plugin's
kernel for the conv where it takes it, TVM's code for depthwise convs, the same fusion and
schedules for the epilogue), and each function is timed on random data, the two layouts
taking turns.
"""

from __future__ import annotations

import functools
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import numpy as np
import tvm
from tvm import relax

from ..passes.pipeline import run_pipeline
from ..target import Target

if TYPE_CHECKING:
    from .conv_shape import ConvShape

# Time each kernel at least this many times, and for about this long.
_MIN_RUNS, _BUDGET_S = 5, 0.01
# layout -> (data layout, kernel layout, axes of NCHW data / OIHW weight in that layout)
_LAYOUTS = {
    "nchw": ("NCHW", "OIHW", (0, 1, 2, 3), (0, 1, 2, 3)),
    "nhwc": ("NHWC", "HWIO", (0, 2, 3, 1), (2, 3, 1, 0)),
}


def time_convs(shapes: Counter[ConvShape], target: Target) -> dict[str, float]:
    """Layout -> milliseconds per inference of these convs with their epilogues.

    Each shape's time counts as often as the model uses the shape.
    """
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
                channels = shape.out[1]
                bias_shape = (1, channels, 1, 1) if layout == "nchw" else (1, 1, 1, channels)
                bias = rng.standard_normal(bias_shape).astype(np.float32)
                z = bb.emit(relax.op.nn.relu(relax.op.add(y, relax.const(bias))))
                out = bb.emit_output(z)
            bb.emit_func_output(out)
    return bb.get()


def fastest_ms(runners: Mapping[str, Callable[[], object]]) -> dict[str, float]:
    """The fastest call of each runner in milliseconds, after a warm-up call each.

    The runners take turns, so a change in the machine's load hits them alike: at least
    `_MIN_RUNS` rounds, and rounds until each runner had about `_BUDGET_S`.
    """
    for run in runners.values():
        run()  # warm-up: pool threads, buffers
    times: dict[str, list[float]] = {name: [] for name in runners}
    deadline = time.perf_counter() + _BUDGET_S * len(runners)
    while len(times[next(iter(times))]) < _MIN_RUNS or time.perf_counter() < deadline:
        for name, run in runners.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: 1e3 * min(values) for name, values in times.items()}

"""Pass pipelines per target, as named phases.

Every phase is a list of passes; `run_pipeline` applies them in order and can write the IR
after each one (`ember compile --dump-ir DIR`). The same phases run at tune time and at
compile time, so tuning task hashes match.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import tvm
from tvm import relax

from ember.errors import CompileError, TargetError

from ..precision import has_bf16_instructions
from ..provenance.node_sources import (
    fuse_ops_keeping_sources,
    keeping_tags_by_order,
    propagate_node_tags,
)
from ..target import Target
from ..tvm_errors import summarize
from .attention_reads_cache_parts import attention_reads_cache_parts
from .cpu_default_schedule import cpu_default_schedule
from .define_lengths_first import define_lengths_first
from .dispatch_cpu_kernels import KernelChoice, make_dispatch
from .expand_integer_powers import expand_integer_powers
from .fake_quantize import fake_quantize
from .fast_math import fast_math, fast_math_after_dispatch
from .fuse_library_epilogues import fuse_library_epilogues
from .gpu_schedule import gpu_schedule
from .grouped_query_attention import grouped_query_attention
from .insert_guards import insert_guards
from .integer_products import integer_products
from .isolate_scalar_kernels import isolate_scalar_kernels
from .leading_takes_as_views import leading_takes_as_views
from .library_precision import library_precision
from .materialize_empty_constants import materialize_empty_constants
from .merge_shared_input_matmuls import merge_shared_input_matmuls
from .mixed_precision import mixed_precision_passes
from .quantized_library_calls import quantized_library_calls
from .recognize_silu import recognize_silu
from .shape_ops_as_views import shape_ops_as_views
from .split_as_slices import split_as_slices
from .winograd_convolutions import winograd_convolutions

Phase = tuple[str, list[Any]]


def _layout_passes(layout: str) -> list[Any]:
    """Passes that put convolutions in `layout` ("nchw", the ONNX layout, needs none).

    NHWC: conv2d takes NHWC data and HWIO weights; operators between convolutions follow, and
    transposes remain only at the edges (inputs, outputs, Flatten/Reshape). The weight
    transposes are constant, so the FoldConstant after them stores the weights as HWIO: the
    kernel reads them as they are, with no transpose at run time.
    """
    if layout == "nchw":
        return []
    if layout == "nhwc":
        convert = relax.transform.ConvertLayout({"relax.nn.conv2d": ["NHWC", "HWIO"]})
        return [keeping_tags_by_order(convert)]
    raise CompileError(f"unknown layout '{layout}'")


def _graph_phases(
    dispatch: list[Any], layout: str = "nchw", precision: str = "fp32"
) -> list[Phase]:
    """Guard, simplify (and set the conv layout and the precision), dispatch, legalize, fuse.

    Dispatch (library kernels) is there when the target has some.
    """
    phases: list[Phase] = [
        # Run-time checks of what operators require of symbolic shapes and indices, read from
        # the imported ops before any pass rewrites them.
        ("guard", [insert_guards]),
        (
            "simplify",
            [
                # BatchNorm after a convolution becomes part of its weights and bias.
                relax.transform.FoldBatchnormToConv2D(),
                # The remaining BatchNorms become arithmetic that fusion folds into a kernel.
                relax.transform.DecomposeOpsForInference(),
                relax.transform.CanonicalizeBindings(),
                # Before the layout pass: quantize/dequantize pairs have no layout rule.
                fake_quantize,
                *_layout_passes(layout),
                relax.transform.FoldConstant(),
                expand_integer_powers,
                recognize_silu,
                grouped_query_attention,
                # After grouped_query_attention, which reads the heads' expand_dims.
                shape_ops_as_views,
                leading_takes_as_views,
                # After leading_takes_as_views: a stack is rewritten where its pasts are views.
                attention_reads_cache_parts,
                merge_shared_input_matmuls,
                split_as_slices,
                # Before fast_math, which rewrites only float32 calls.
                *mixed_precision_passes(precision),
                fast_math,
                # Last: folding above can leave lengths that fusion would lose.
                define_lengths_first,
            ],
        ),
    ]
    if dispatch:
        phases.append(("dispatch", dispatch))
    return [
        *phases,
        (
            "legalize",
            [
                fast_math_after_dispatch,
                relax.transform.LegalizeOps(),
                relax.transform.AnnotateTIROpPattern(),
                isolate_scalar_kernels,
                relax.transform.FoldConstant(),
            ],
        ),
        # FuseOps with each fused call tagged with its ONNX nodes; FuseTIR keeps the tags.
        (
            "fuse",
            [fuse_ops_keeping_sources, relax.transform.FuseTIR(), materialize_empty_constants],
        ),
    ]


def cpu_phases(
    plugin_kernels: bool = True,
    layout: str = "nchw",
    choice: KernelChoice | None = None,
    precision: str = "fp32",
    winograd: bool = True,
    bf16_instructions: bool = False,
) -> list[Phase]:
    """The CPU pipeline: graph phases, then parallel loop nests.

    `plugin_kernels` sends float32 matmuls and convolutions to the x86 runtime's kernel plugins
    (oneDNN, OpenBLAS), with bias and activations folded into oneDNN's calls; aarch64 artifacts
    keep TVM's own kernels. `layout` is the convolutions' data layout, "nchw" or "nhwc" (see
    `_layout_passes`). `precision` "bf16" makes oneDNN's calls multiply in bfloat16
    (`library_precision`); everything else computes in float32. `winograd` runs the 3 x 3
    convolutions that suit it by Winograd's algorithm (`winograd_convolutions`).
    `bf16_instructions` (the CPU has AVX512-BF16 or AMX-BF16) lets a quantized model's
    products of two computed operands multiply their integers in bf16 (`integer_products`).
    """
    dispatch = (
        [
            make_dispatch(choice),
            fuse_library_epilogues,
            quantized_library_calls,
            integer_products(bf16_instructions),
            library_precision(precision),
            *([winograd_convolutions] if winograd else []),
        ]
        if plugin_kernels
        else []
    )
    return [*_graph_phases(dispatch, layout), ("schedule", [cpu_default_schedule])]


def cuda_phases(precision: str = "fp32") -> list[Phase]:
    """The CUDA pipeline: graph phases, then every kernel bound to blocks and threads.

    `precision` "fp16" computes matmuls and convolutions in fp16 (`mixed_precision`).
    """
    return [*_graph_phases([], precision=precision), ("schedule", [gpu_schedule()])]


def phases_for(
    target: Target,
    tuning: list[Any] | None = None,
    layout: str = "nchw",
    choice: KernelChoice | None = None,
    precision: str = "fp32",
    winograd: bool = True,
) -> list[Phase]:
    """The phases for `target`; `tuning` passes (applying records) run just before "schedule".

    `layout` ("nchw" or "nhwc") applies to CPU targets; CUDA keeps the model's NCHW. `choice`
    decides, per library-eligible call, between the library and a generated kernel (see
    `dispatch_cpu_kernels`); without one every eligible call goes to the library.

    Tuning tasks are the kernels as they are before "schedule", so the records of `ember
    tune` (which stops there) match the kernels a compile schedules.
    """
    if target.device == "cpu":
        x86 = target.arch == "x86_64"
        bf16 = x86 and has_bf16_instructions(target)
        phases = cpu_phases(x86, layout, choice, precision, winograd, bf16)
    elif target.device == "cuda":
        phases = cuda_phases(precision)
    else:
        raise TargetError(f"target '{target.name}': device '{target.device}' is not supported yet")
    if tuning:
        phases.insert(len(phases) - 1, ("tuning", tuning))
    return phases


def run_pipeline(
    mod: tvm.IRModule,
    target: Target,
    dump_ir: Path | None = None,
    on_phase: Callable[[str], None] | None = None,
    tuning: list[Any] | None = None,
    until: str | None = None,
    layout: str = "nchw",
    choice: KernelChoice | None = None,
    precision: str = "fp32",
    winograd: bool = True,
) -> tvm.IRModule:
    """Apply the target's phases to `mod` under the TVM target; optionally dump the IR.

    `tuning` passes run before the "schedule" phase; `until` stops before the named phase
    (the tuner extracts its tasks with ``until="schedule"``); `layout` is the convolutions'
    layout on CPU targets ("nchw" or "nhwc"); `precision` is checked by `check_precision`;
    `winograd` as in `cpu_phases`.
    """
    if dump_ir is not None:
        dump_ir.mkdir(parents=True, exist_ok=True)
        (dump_ir / "00_imported.py").write_text(ir_text(mod), encoding="utf-8")
    with target.tvm_target():
        phases = phases_for(target, tuning, layout, choice, precision, winograd)
        for index, (name, passes) in enumerate(phases, start=1):
            if name == until:
                break
            if on_phase is not None:
                on_phase(name)
            mod = _run_phase(mod, name, passes)
            if dump_ir is not None:
                (dump_ir / f"{index:02d}_{name}.py").write_text(ir_text(mod), encoding="utf-8")
    return mod


def ir_text(mod: tvm.IRModule) -> str:
    """TVMScript of `mod`, or of each function where the module's printer gives up.

    The module printer fails on some symbolic shapes after the guard phase ("Variable is not
    defined in the environment: seq", a decoder's length) while each function prints.
    """
    try:
        return str(mod.script())
    except Exception:  # the printer's IndexError crosses TVM's FFI
        parts = [f"# {gv.name_hint}\n{func.script()}" for gv, func in mod.functions.items()]
        return "# the module printer failed: its functions one by one\n\n" + "\n\n".join(parts)


def _run_phase(mod: tvm.IRModule, name: str, passes: list[Any]) -> tvm.IRModule:
    """Apply the phase's passes one by one, keeping ONNX node tags on the bindings they add."""
    try:
        for one in passes:
            mod = propagate_node_tags(tvm.transform.Sequential([one], name=name)(mod))
        return mod
    except Exception as err:  # a pass's error crosses TVM's FFI as a generic error
        raise CompileError(f"pass phase '{name}' failed: {summarize(err)}") from err


def count_kernels(mod: tvm.IRModule) -> int:
    """Number of PrimFuncs (kernels, and tuning tasks) in a lowered module."""
    return sum(1 for f in mod.functions.values() if isinstance(f, tvm.tirx.PrimFunc))


def plugins_of(mod: tvm.IRModule) -> list[str]:
    """Kernel plugins the module calls (the runtime loads them before the model)."""
    attrs = mod.attrs
    if not attrs or "ember_plugins" not in attrs:
        return []
    return sorted(str(p) for p in attrs["ember_plugins"])

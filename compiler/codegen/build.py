"""Build a scheduled Relax module into a shared library (the artifact's payload).

CPU targets build in this process (cross targets link with their cross compiler); CUDA
targets build in a subprocess that sees a CUDA driver (cuda_build.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tvm
from tvm.relax.backend.cpu_generic import pipeline as cpu_pipeline

from ember.errors import CompileError

from ..passes.size_class_allocations import CLASSES_PER_DOUBLING, size_class_allocations
from ..target import Target
from ..tvm_errors import summarize
from .toolchain import cross_fcompile


def build_library(mod: tvm.IRModule, target: Target, output: Path) -> None:
    """Compile `mod` for `target` and write the shared library to `output`."""
    if target.device == "cuda":
        from .cuda_build import build_cuda_library

        build_cuda_library(mod, target, output)
        return
    fcompile = cross_fcompile(target)  # checked before the (long) compile
    tvm_target = target.tvm_target()
    try:
        with tvm_target:
            executable = tvm.compile(
                mod, target=tvm_target, relax_pipeline=_relax_pipeline(tvm_target)
            )
    except Exception as err:  # TVM raises many types; one line with the cause.
        raise CompileError(f"code generation failed: {summarize(err)}") from err
    _export(executable, output, fcompile)


def memory_manifest(target: Target) -> dict[str, Any] | None:
    """What the artifact's manifest says of its allocations (`memory`), for the runtime.

    CPU builds round run-time-sized allocations to size classes (`_relax_pipeline`), and the
    runtime keeps its pooled blocks while a run's dimensions stay in the same classes.
    """
    if target.device == "cuda":
        return None
    return {"size_classes_per_doubling": CLASSES_PER_DOUBLING}


def _relax_pipeline(target: Any) -> tvm.transform.Pass:
    """TVM's CPU pipeline, with run-time-sized allocations rounded to size classes."""
    finalize = []
    for step in cpu_pipeline.finalize_passes(target):
        finalize.append(step)
        # After LowerAllocTensor every allocation is an alloc_storage of a byte size.
        if step.info.name == "LowerAllocTensor":
            finalize.append(size_class_allocations)
    if size_class_allocations not in finalize:
        raise CompileError("TVM's CPU pipeline has no LowerAllocTensor pass to follow")
    return tvm.transform.Sequential(
        cpu_pipeline.library_dispatch_passes(target)
        + cpu_pipeline.legalize_passes(target)
        + cpu_pipeline.dataflow_lower_passes(target)
        + finalize
    )


def _export(executable: Any, output: Path, fcompile: Any) -> None:
    try:
        if fcompile is None:
            executable.export_library(str(output))
        else:
            executable.export_library(str(output), fcompile=fcompile)
    except Exception as err:
        raise CompileError(f"linking the shared library failed: {summarize(err)}") from err

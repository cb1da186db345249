"""Build a scheduled Relax module into a shared library (the artifact's payload).

CPU targets build in this process (cross targets link with their cross compiler); CUDA
targets build in a subprocess that sees a CUDA driver (cuda_build.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tvm

from ember.errors import CompileError

from ..target import Target
from ..tvm_errors import summarize
from .relax_pipeline import relax_pipeline
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
                mod, target=tvm_target, relax_pipeline=relax_pipeline(tvm_target)
            )
    except Exception as err:  # TVM raises many types; one line with the cause.
        raise CompileError(f"code generation failed: {summarize(err)}") from err
    _export(executable, output, fcompile)


def _export(executable: Any, output: Path, fcompile: Any) -> None:
    try:
        if fcompile is None:
            executable.export_library(str(output))
        else:
            executable.export_library(str(output), fcompile=fcompile)
    except Exception as err:
        raise CompileError(f"linking the shared library failed: {summarize(err)}") from err

"""Build a scheduled Relax module into a shared library (the artifact's payload)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tvm

from ember.errors import CompileError

from ..target import Target
from ..tvm_errors import summarize


def build_library(mod: tvm.IRModule, target: Target, output: Path) -> None:
    """Compile `mod` for `target` and write the shared library to `output`."""
    tvm_target = target.tvm_target()
    try:
        with tvm_target:
            executable = tvm.compile(mod, target=tvm_target)
    except Exception as err:  # TVM raises many types; one line with the cause.
        raise CompileError(f"code generation failed: {summarize(err)}") from err
    _export(executable, output)


def _export(executable: Any, output: Path) -> None:
    try:
        executable.export_library(str(output))
    except Exception as err:
        raise CompileError(f"linking the shared library failed: {summarize(err)}") from err

"""External compilers a build needs: the aarch64 cross compiler and CUDA's nvcc.

Each is looked up once per build; a missing one is one line that names the Debian package
(or toolkit) to install, before any time is spent compiling.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from typing import Any

from ember.errors import ToolchainError

from ..target import Target

#: Debian's package for the C compiler that builds the stub driver (cuda_driver.py).
HOST_CC = "gcc"


def require(program: str, package: str, purpose: str) -> str:
    """The full path of `program`, or a ToolchainError naming `package`."""
    path = shutil.which(program)
    if path is None:
        raise ToolchainError(
            f"'{program}' not found: {purpose} needs it; install it with "
            f"`apt-get install {package}`"
        )
    return path


def cross_fcompile(target: Target) -> Callable[..., Any] | None:
    """The `export_library` link function for a cross target, or None for the host's."""
    program = target.cross_compiler
    if program is None:
        return None
    package = str(target.defaults.get("cross_compiler_package", program))
    path = require(program, package, f"target '{target.name}'")
    from tvm.support import cc

    return cc.cross_compiler(path)


def require_nvcc(target: Target) -> str:
    """nvcc, which turns the generated CUDA C++ into a fatbin at compile time."""
    path = shutil.which("nvcc")
    if path is None:
        raise ToolchainError(
            f"'nvcc' not found: target '{target.name}' compiles GPU code with it; install the "
            "CUDA toolkit (e.g. Debian's nvidia-cuda-toolkit) and put nvcc on PATH"
        )
    return path

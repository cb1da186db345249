"""`ember config`: where the C++ headers, library and CMake package are installed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .console import out

_ROOT = Path(__file__).resolve().parent.parent


def config_command(
    cmakedir: Annotated[
        bool, typer.Option("--cmakedir", help="Folder to pass as -Dember_DIR=.")
    ] = False,
    includedir: Annotated[bool, typer.Option("--includedir", help="C/C++ headers.")] = False,
    libdir: Annotated[bool, typer.Option("--libdir", help="libember_runtime.so.")] = False,
) -> None:
    """Print install locations for building C++ programs against Ember."""
    paths = {
        "cmakedir": _ROOT / "lib" / "cmake" / "ember",
        "includedir": _ROOT / "include",
        "libdir": _ROOT / "lib",
    }
    chosen = [
        k
        for k, flag in (("cmakedir", cmakedir), ("includedir", includedir), ("libdir", libdir))
        if flag
    ]
    for key in chosen or list(paths):
        out.print(str(paths[key]) if chosen else f"{key:<11} {paths[key]}", markup=False)


def register(app: typer.Typer) -> None:
    """Add the command to the app."""
    app.command("config")(config_command)

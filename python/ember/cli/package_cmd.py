"""`ember package`: a folder that runs artifacts with Ember's runtime alone (no compiler)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .console import out


def package_command(
    artifacts: Annotated[list[Path], typer.Argument(help="The compiled models (.so) to ship.")],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="The folder to write (new or empty).")
    ],
) -> None:
    """Write a folder with ARTIFACTS and the runtime that runs them, without TVM's compiler.

    The folder holds Ember's runtime for this Python, the kernel plugins the artifacts use and
    the libraries those load; on the target machine, Python of the same version with NumPy
    runs it (README.txt in the folder says how).
    """
    from ..packaging import package

    report = package(artifacts, output)
    for line in report.lines():
        out.print(line, markup=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add the command to the app."""
    app.command("package")(package_command)

"""`ember verify`: an artifact's outputs against ONNX Runtime, and the first node that differs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from .console import err, out

#: Exit status when an output is outside the tolerance (1 stays "the command itself failed").
OUTSIDE_TOLERANCE_EXIT_CODE = 3


def verify_command(
    model: Annotated[Path, typer.Argument(help="The ONNX model the artifact was compiled from.")],
    artifact: Annotated[Path, typer.Argument(help="The compiled model (.so).")],
    inputs: Annotated[
        Path | None,
        typer.Option("--inputs", help=".npz with one array per input (default: random)."),
    ] = None,
    rtol: Annotated[
        float | None,
        typer.Option("--rtol", help="Relative tolerance, of max |ref| (default: per precision)."),
    ] = None,
    atol: Annotated[
        float | None, typer.Option("--atol", help="Absolute tolerance (default: per precision).")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed for random inputs.")] = 0,
    threads: Annotated[
        int | None, typer.Option("--threads", help="Worker threads (default: all cores).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Compare ARTIFACT with ONNX Runtime (fp32) on MODEL; outside tolerance, name the node.

    Exit 0 when every output is within tolerance, 3 when not (after naming the first ONNX
    node whose result is outside it), 1 when the check itself cannot run.
    """
    from ..verification import verify

    result = verify(
        model,
        artifact,
        inputs,
        rtol,
        atol,
        seed,
        threads,
        say=lambda line: err.print(line, markup=False),
    )
    if as_json:
        out.print_json(json.dumps(result.as_dict()))
    else:
        for line in result.lines():
            out.print(line, markup=False)
    if not result.passed:
        raise typer.Exit(OUTSIDE_TOLERANCE_EXIT_CODE)


def register(app: typer.Typer) -> None:
    """Add the command to the app."""
    app.command("verify")(verify_command)

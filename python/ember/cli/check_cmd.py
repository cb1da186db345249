"""`ember check`: list every node Ember cannot compile for a target, without building.

The rule table and a dry run of the import and passes through legalization (`dry_run`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from .console import out

#: Exit status when the model has problems (1 stays "the command itself failed").
PROBLEMS_EXIT_CODE = 3


def check_command(
    model: Annotated[Path, typer.Argument(help="The ONNX model to check.")],
    target: Annotated[
        str, typer.Option("--target", "-t", help="Preset name (see `ember targets`) or .toml.")
    ] = "x86",
    as_json: Annotated[bool, typer.Option("--json", help="Print the problems as JSON.")] = False,
) -> None:
    """List every node of MODEL that Ember cannot compile for a target; exit 3 if any."""
    from ember.compiler.frontend.dry_run import check_model
    from ember.compiler.frontend.loader import load_model
    from ember.compiler.target import resolve

    resolved = resolve(target)
    problems, notes = check_model(load_model(model), resolved)
    if as_json:
        report = {
            "model": str(model),
            "target": resolved.name,
            "problems": [p.as_dict() for p in problems],
            "notes": notes,
        }
        out.print_json(json.dumps(report))
    elif problems:
        for problem in problems:
            out.print(problem.line(), markup=False)
        out.print(f"{len(problems)} problem(s) for target {resolved.name}", markup=False)
    else:
        out.print(f"{model}: no problems for target {resolved.name}", markup=False)
    if not as_json:
        for note in notes:
            out.print(f"note: {note}", markup=False)
    if problems:
        raise typer.Exit(PROBLEMS_EXIT_CODE)


def register(app: typer.Typer) -> None:
    """Add the command to the app."""
    app.command("check")(check_command)

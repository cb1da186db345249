"""`ember targets`: list the target presets."""

from __future__ import annotations

import typer

from .console import out


def targets_command() -> None:
    """List the target presets with a one-line description each."""
    import tomllib

    from ember.compiler.target import preset_names, presets_dir

    for name in preset_names():
        table = tomllib.loads((presets_dir() / f"{name}.toml").read_text(encoding="utf-8"))
        out.print(f"{name:<12} {table.get('description', '')}", markup=False)


def register(app: typer.Typer) -> None:
    """Add the command to the app."""
    app.command("targets")(targets_command)

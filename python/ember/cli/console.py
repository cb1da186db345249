"""Consoles shared by the commands: results go to stdout, progress and errors to stderr."""

from __future__ import annotations

from rich.console import Console

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def error_line(message: str) -> None:
    """Print the one-line `error: ...` a failed command ends with."""
    err.print(f"[bold red]error:[/] {message}", markup=True, highlight=False)

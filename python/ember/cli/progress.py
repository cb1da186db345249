"""Compile progress on the terminal: a spinner per stage, then its time."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from rich.markup import escape

from .console import err


class TerminalProgress:
    """Shows each compile stage (import, passes, build, export) and how long it took."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._notes: list[str] = []

    @contextlib.contextmanager
    def stage(self, name: str, detail: str = "") -> Iterator[None]:
        """Spinner while the stage runs, a checked line with its time when it ends."""
        start = time.perf_counter()
        label = f"{name:<8} {escape(detail)}"
        with err.status(f"{label} ...", spinner="dots"):
            yield
        self.timings[name] = time.perf_counter() - start
        notes = f" ({escape(', '.join(self._notes))})" if self._notes else ""
        self._notes.clear()
        err.print(f"[green]✓[/] {label}{notes} [dim]{self.timings[name]:.2f} s[/]")

    def note(self, message: str) -> None:
        """A fact shown on the current stage's line when it ends."""
        self._notes.append(message)

    def warn(self, message: str) -> None:
        """A problem that does not stop the command, on its own line."""
        err.print(f"[yellow]warning:[/] {escape(message)}")

"""How compile stages report progress: a tiny protocol the CLI implements with rich."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Protocol


class Progress(Protocol):
    """Receives stage starts and ends; `ember.compile` uses a silent one by default."""

    def stage(self, name: str, detail: str = "") -> contextlib.AbstractContextManager[None]:
        """Context manager around one stage (import, passes, build, export)."""
        ...

    def note(self, message: str) -> None:
        """A one-line fact worth showing (e.g. kernel count)."""
        ...

    def warn(self, message: str) -> None:
        """A one-line problem that does not stop the compile (e.g. a corrupt tuning record)."""
        ...


class SilentProgress:
    """Records stage times and prints nothing."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self.warnings: list[str] = []

    @contextlib.contextmanager
    def stage(self, name: str, detail: str = "") -> Iterator[None]:
        """Time the stage."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = time.perf_counter() - start

    def note(self, message: str) -> None:
        """Ignore the note."""

    def warn(self, message: str) -> None:
        """Keep the warning (callers read `warnings`)."""
        self.warnings.append(message)

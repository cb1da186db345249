"""Ember's cache folder and the one way to fill an entry in it safely."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from ._env import CACHE_DIR


def cache_root() -> Path:
    """``$EMBER_CACHE_DIR``, else ``$XDG_CACHE_HOME/ember``, else ``~/.cache/ember``."""
    if os.environ.get(CACHE_DIR):
        return Path(os.environ[CACHE_DIR])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ember"


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    # Test workers and parallel builds share the cache: one fills an entry, the others wait.
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def cached_entry(folder: Path, name: str, fill: Callable[[Path], None]) -> Path:
    """``folder/name``, created by ``fill(tmp)`` on first use and published atomically.

    `fill` writes into an empty temporary folder; a failed fill leaves nothing behind.
    """
    entry = folder / name
    if entry.is_dir():
        return entry
    with _locked(folder):
        if entry.is_dir():
            return entry
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=folder))
        try:
            fill(tmp)
            os.replace(tmp, entry)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return entry

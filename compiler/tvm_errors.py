"""Turn a TVM exception into the one line a user reads."""

from __future__ import annotations


def summarize(err: BaseException) -> str:
    """The message of `err` without the C++ traceback TVM puts before it."""
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    return lines[-1] if lines else type(err).__name__

"""Keep TVM's own diagnostics out of what a user reads.

TVM's ONNX importer prints the inputs of an operator it failed to convert (Python `print`), and
its C++ side logs warnings about its own source files straight to file descriptor 2
(`[05:22:40] /project/src/relax/ir/block_builder.cc:67: Warning: ...`). Neither helps a user,
and both break the one `error:` line a failed compile prints. `quiet_tvm` swallows the first
and filters the second; anything else written to standard error meanwhile (Ember's own
progress) is passed on when the block ends.

TVM also warns when an object it half-built is freed (a BlockBuilder left by a failed import),
which happens when the exception's traceback lets go of it: after the block, unless the
block frees it first. So an exception leaving the block has its frames' locals cleared and is
collected inside (its traceback still says where it was raised).
"""

from __future__ import annotations

import contextlib
import gc
import io
import os
import re
import sys
import tempfile
import traceback
from collections.abc import Iterator

#: A line of TVM's C++ logging: time stamp, then a path into TVM's sources.
_TVM_LOG_LINE = re.compile(r"^\[\d{2}:\d{2}:\d{2}\] /\S+:\d+: ")


@contextlib.contextmanager
def quiet_tvm() -> Iterator[None]:
    """Run the block with TVM's prints and C++ log lines kept from the user."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                yield
        except BaseException as err:
            _release_frames(err)
            raise
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [
                line
                for line in captured.read().decode(errors="replace").splitlines(keepends=True)
                if not _TVM_LOG_LINE.match(line)
            ]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


def _release_frames(err: BaseException) -> None:
    """Clear the locals of every frame `err` and its causes hold, then collect them."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [err]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if current.__traceback__ is not None:
            traceback.clear_frames(current.__traceback__)
        cause = getattr(current, "cause", None)  # Ember's ConversionError keeps TVM's error
        pending += [current.__cause__, current.__context__]
        if isinstance(cause, BaseException):
            pending.append(cause)
    gc.collect()

"""The tuning worker process: ``python -m ember.compiler.tuning.worker CONFIG_JSON EVENTS_FD``.

`ember tune` runs MetaSchedule here, in its own session, so that Ctrl-C can stop it within
seconds by killing the worker's process group: MetaSchedule's C++ loop does not return to
Python for minutes at a time and ignores KeyboardInterrupt. Records are already on disk
(appended per measurement), so killing loses at most the batch being measured. Events go to
EVENTS_FD as JSON lines; TVM's own logging goes to stdout/stderr (a log file).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, TextIO

from ember.errors import EmberError

from .tuner import TuneConfig, run_tune


def _emitter(stream: TextIO) -> Any:
    def emit(event: dict[str, Any]) -> None:
        stream.write(json.dumps(event) + "\n")
        stream.flush()

    return emit


def main(argv: list[str]) -> int:
    """Run one tune; failures become an ``error`` event (the parent raises the same class)."""
    config = TuneConfig(**json.loads(argv[0]))
    with os.fdopen(int(argv[1]), "w", encoding="utf-8") as stream:
        emit = _emitter(stream)
        try:
            run_tune(config, emit)
        except EmberError as err:
            emit({"event": "error", "kind": type(err).__name__, "message": str(err)})
            return 1
        except Exception as err:  # shown as one line by the parent; the log has the rest
            emit({"event": "error", "kind": "InternalError", "message": f"{err}"})
            raise
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The `ember` command: typer app, one error boundary, and the command registry."""

from __future__ import annotations

import os
import sys

import typer

from .._env import VERBOSE
from ..errors import EmberError
from . import (
    bench_cmd,
    check_cmd,
    compile_cmd,
    config_cmd,
    demo_cmd,
    inspect_cmd,
    package_cmd,
    profile_cmd,
    quantize_cmd,
    records_cmd,
    run_cmd,
    targets_cmd,
    tune_cmd,
    verify_cmd,
)
from .console import error_line

app = typer.Typer(
    name="ember",
    help="Compile ONNX models ahead of time into one shared library, and run them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
for module in (
    compile_cmd,
    tune_cmd,
    records_cmd,
    check_cmd,
    quantize_cmd,
    run_cmd,
    bench_cmd,
    profile_cmd,
    inspect_cmd,
    package_cmd,
    verify_cmd,
    targets_cmd,
    config_cmd,
    demo_cmd,
):
    module.register(app)


def _verbose(argv: list[str]) -> bool:
    return "--verbose" in argv or os.environ.get(VERBOSE, "") not in ("", "0")


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app; Ember errors become one `error:` line and exit code 1."""
    args = list(sys.argv[1:] if argv is None else argv)
    verbose = _verbose(args)
    args = [a for a in args if a != "--verbose"]
    try:
        status = app(args=args, prog_name="ember", standalone_mode=False)
        # Outside standalone mode click returns a command's `typer.Exit(code)` code.
        if isinstance(status, int) and status:
            sys.exit(status)
    except EmberError as exc:
        if verbose:
            raise
        error_line(str(exc))
        sys.exit(1)
    except KeyboardInterrupt:
        error_line("interrupted")
        sys.exit(130)
    except (typer.Exit, SystemExit) as exc:
        sys.exit(exc.exit_code if isinstance(exc, typer.Exit) else exc.code)
    except typer.TyperException as exc:  # usage errors: typer prints them with the usage line
        exc.show()  # type: ignore[attr-defined]
        sys.exit(getattr(exc, "exit_code", 2))
    except Exception as exc:  # the boundary: a bug still ends in one line, never a traceback
        if verbose:
            raise
        error_line(f"internal error: {type(exc).__name__}: {exc} (rerun with --verbose)")
        sys.exit(1)

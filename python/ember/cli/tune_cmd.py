"""`ember tune`: search schedules for a model's kernels and keep the best in a record store."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import OptionError
from .console import err, out
from .tune_view import TuneView


def tune_command(
    model: Annotated[Path, typer.Argument(help="The ONNX model to tune.")],
    target: Annotated[
        str, typer.Option("--target", "-t", help="Preset name (see `ember targets`) or .toml.")
    ] = "x86",
    trials: Annotated[
        int, typer.Option("--trials", "-n", help="Total trials, counting those already stored.")
    ] = 64,
    budget: Annotated[
        str | None, typer.Option("--budget", help="Stop after this long: 90s, 30m, 2h.")
    ] = None,
    records: Annotated[
        Path | None, typer.Option("--records", help="Record store (default: Ember's cache).")
    ] = None,
    input_shape: Annotated[
        list[str] | None,
        typer.Option("--input-shape", help="Fix an input's shape: NAME=1x3x224x224 (repeatable)."),
    ] = None,
    rpc_tracker: Annotated[
        str | None, typer.Option("--rpc-tracker", help="Measure on RPC devices: HOST:PORT.")
    ] = None,
    rpc_key: Annotated[
        str | None, typer.Option("--rpc-key", help="The device key at the RPC tracker.")
    ] = None,
    no_warm_start: Annotated[
        bool, typer.Option("--no-warm-start", help="Do not load the store's saved cost model.")
    ] = False,
    no_library_race: Annotated[
        bool,
        typer.Option(
            "--no-library-race",
            help="Tune only the kernels around library calls (x86: do not race OpenBLAS).",
        ),
    ] = False,
    per_batch: Annotated[
        int, typer.Option("--per-batch", help="Candidates measured per batch.")
    ] = 8,
    population: Annotated[
        int, typer.Option("--population", hidden=True, help="Evolutionary search population.")
    ] = 512,
    layout: Annotated[
        str,
        typer.Option(
            "--layout",
            help="Conv layout to tune in, nchw or nhwc: the one `ember compile` reports.",
        ),
    ] = "nchw",
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Tune MODEL's kernels for a target; records are kept as they are measured."""
    from ember.compiler.options import parse_duration, parse_input_shapes
    from ember.compiler.tuning.session import tune
    from ember.compiler.tuning.tuner import TuneConfig

    _check(trials, rpc_tracker, rpc_key, layout)
    budget_s = parse_duration(budget) if budget else None
    shapes = {k: list(v) for k, v in parse_input_shapes(input_shape).items()}
    config = TuneConfig(
        model=str(model),
        target=target,
        trials=trials,
        records=str(records) if records else None,
        budget_s=budget_s,
        input_shapes=shapes,
        rpc_tracker=rpc_tracker,
        rpc_key=rpc_key,
        warm_start=not no_warm_start,
        race_library=not no_library_race,
        trials_per_batch=per_batch,
        population=population,
        layout=layout.lower(),
    )
    with TuneView(budget_s) as view:
        result = tune(config, None if as_json else view)
    _report(result, view, as_json)


def _check(trials: int, rpc_tracker: str | None, rpc_key: str | None, layout: str) -> None:
    if layout.lower() not in ("nchw", "nhwc"):
        raise OptionError(f"invalid --layout '{layout}': expected nchw or nhwc")
    if trials < 1:
        raise OptionError(f"--trials must be at least 1, got {trials}")
    if bool(rpc_tracker) != bool(rpc_key):
        raise OptionError("--rpc-tracker and --rpc-key go together")
    if rpc_tracker and not rpc_tracker.rpartition(":")[2].isdigit():
        raise OptionError(f"invalid --rpc-tracker '{rpc_tracker}': expected HOST:PORT")


def _report(result: Any, view: TuneView, as_json: bool) -> None:
    tasks, estimate = result.tasks, result.estimate_ms
    if as_json:
        summary = {
            "store": str(result.store),
            "interrupted": result.interrupted,
            "reason": result.reason,
            "elapsed_s": round(result.elapsed_s, 1),
            "tasks": tasks,
            "estimate_ms": estimate,
        }
        out.print_json(json.dumps(summary))
    else:
        view.final(tasks, estimate)
    if result.interrupted:
        again = shlex.join(["ember", *sys.argv[1:]])
        err.print(
            f"interrupted: every measured record is kept in {result.store}; "
            f"run the same command again to continue:\n  {again}",
            highlight=False,
            markup=False,
        )
        raise typer.Exit(130)
    err.print(f"done ({result.reason}) in {result.elapsed_s:.0f} s; records in {result.store}")


def register(app: typer.Typer) -> None:
    """Add the command to the app."""
    app.command("tune")(tune_command)

"""`ember bench`: latency percentiles and throughput, optionally beside ONNX Runtime."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from ..runtime import load
from ..timing import interleaved
from .console import out
from .run_cmd import read_inputs


def _ort_runner(source: Path, feed: dict[str, Any], threads: int) -> Any:
    from ember.compiler.examples.reference import ort_session

    session = ort_session(str(source), threads=threads)
    return lambda: session.run(None, feed)


def bench_command(
    artifact: Annotated[Path, typer.Argument(help="The compiled model (.so).")],
    vs: Annotated[
        Path | None, typer.Option("--vs", help="Also time this ONNX model in ONNX Runtime.")
    ] = None,
    inputs: Annotated[Path | None, typer.Option("--inputs", help=".npz of inputs.")] = None,
    threads: Annotated[int | None, typer.Option("--threads", help="Worker threads.")] = None,
    blocks: Annotated[int, typer.Option("--blocks", help="Alternating blocks.")] = 10,
    runs: Annotated[int, typer.Option("--runs", help="Runs per block.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Time ARTIFACT: median, p90, p99 latency and throughput (ONNX Runtime beside it with --vs)."""
    model = load(artifact, threads=threads)
    feed = read_inputs(model.inputs, inputs, seed=0)
    runners = [lambda: model.run(feed)]
    if vs is not None:
        runners.append(_ort_runner(vs, feed, model.threads))
    stats = interleaved(runners, blocks=blocks, runs_per_block=runs)
    result: dict[str, Any] = {"threads": model.threads, "ember": stats[0].summary()}
    if vs is not None:
        result["onnxruntime"] = stats[1].summary()
        result["ratio_ort_over_ember"] = stats[1].median / stats[0].median
    if as_json:
        out.print_json(json.dumps(result))
        return
    for name in ("ember", "onnxruntime"):
        if name in result:
            s = result[name]
            out.print(
                f"{name:<12} median {s['median_ms']:.3f} ms  p90 {s['p90_ms']:.3f} ms  "
                f"p99 {s['p99_ms']:.3f} ms  {s['runs_per_s']:.1f} runs/s",
                markup=False,
            )
    if vs is not None:
        out.print(
            f"ONNX Runtime / Ember median: {result['ratio_ort_over_ember']:.2f} "
            f"(above 1: Ember is faster), {model.threads} threads",
            markup=False,
        )


def register(app: typer.Typer) -> None:
    """Add the command to the app."""
    app.command("bench")(bench_command)

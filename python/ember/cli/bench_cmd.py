"""`ember bench`: latency percentiles and throughput, optionally beside ONNX Runtime, OpenVINO."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from ..feeds import read_inputs
from ..peers import (
    OPENVINO_PRECISIONS,
    Runner,
    failure_line,
    onnxruntime_runner,
    openvino_available,
    openvino_runner,
)
from ..runtime import load
from ..timing import interleaved
from .console import err, out
from .run_shapes import input_shapes, parse_shape_specs

#: Peer name in the output and JSON -> its name in sentences, and its ratio's JSON key.
_PEERS = {
    "onnxruntime": ("ONNX Runtime", "ratio_ort_over_ember"),
    "openvino": ("OpenVINO", "ratio_openvino_over_ember"),
}


def bench_command(
    artifact: Annotated[Path, typer.Argument(help="The compiled model (.so).")],
    vs: Annotated[
        Path | None,
        typer.Option("--vs", help="Also time this ONNX model in ONNX Runtime and OpenVINO."),
    ] = None,
    inputs: Annotated[Path | None, typer.Option("--inputs", help=".npz of inputs.")] = None,
    threads: Annotated[int | None, typer.Option("--threads", help="Worker threads.")] = None,
    blocks: Annotated[int, typer.Option("--blocks", help="Alternating blocks.")] = 10,
    runs: Annotated[int, typer.Option("--runs", help="Runs per block.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    shape: Annotated[
        list[str] | None,
        typer.Option(
            "--shape", help="NAME=DxD...: shape of a random input (symbolic models); repeatable."
        ),
    ] = None,
) -> None:
    """Time ARTIFACT: median, p90, p99 latency, throughput (ONNX Runtime, OpenVINO with --vs)."""
    model = load(artifact, threads=threads)
    shapes = input_shapes(model.inputs, parse_shape_specs(shape))
    feed = read_inputs(model.inputs, inputs, seed=0, shapes=shapes)
    runners: dict[str, Runner] = {"ember": lambda: model.run(feed)}
    if vs is not None:
        runners["onnxruntime"] = onnxruntime_runner(vs, feed, model.threads)
        if openvino_available():
            # OpenVINO in the artifact's precision (bf16 against bf16); ONNX Runtime stays fp32.
            precision = model.manifest.get("options", {}).get("precision", "fp32")
            ov_precision = precision if precision in OPENVINO_PRECISIONS else "fp32"
            try:
                runners["openvino"] = openvino_runner(vs, feed, model.threads, ov_precision)
            except RuntimeError as error:  # a peer that cannot take the model is not timed
                if not as_json:
                    err.print(
                        f"OpenVINO cannot run {vs}: {failure_line(error)}: not timed", markup=False
                    )
        elif not as_json:
            err.print("OpenVINO is not installed (pip install openvino): not timed", markup=False)
    stats = dict(zip(runners, interleaved(list(runners.values()), blocks, runs), strict=True))
    result: dict[str, Any] = {"threads": model.threads}
    result.update({name: latency.summary() for name, latency in stats.items()})
    for name, (_, key) in _PEERS.items():
        if name in stats:
            result[key] = stats[name].median / stats["ember"].median
    if as_json:
        out.print_json(json.dumps(result))
        return
    for name, latency in stats.items():
        s = latency.summary()
        out.print(
            f"{name:<12} median {s['median_ms']:.3f} ms  p90 {s['p90_ms']:.3f} ms  "
            f"p99 {s['p99_ms']:.3f} ms  {s['runs_per_s']:.1f} runs/s",
            markup=False,
        )
    for name, (label, key) in _PEERS.items():
        if name in stats:
            out.print(
                f"{label} / Ember median: {result[key]:.2f} "
                f"(above 1: Ember is faster), {model.threads} threads",
                markup=False,
            )


def register(app: typer.Typer) -> None:
    """Add the command to the app."""
    app.command("bench")(bench_command)

"""`ember profile`: time per kernel, sorted, with its share and the ONNX nodes it computes."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from ..feeds import read_inputs
from ..runtime import manifest_inputs, read_manifest
from .console import out
from .run_shapes import input_shapes, parse_shape_specs


def profile_command(
    artifact: Annotated[Path, typer.Argument(help="The compiled model (.so).")],
    runs: Annotated[int, typer.Option("--runs", help="Inferences to take the median of.")] = 10,
    threads: Annotated[int, typer.Option("--threads", help="Worker threads.")] = 2,
    top: Annotated[int, typer.Option("--top", help="Show this many kernels.")] = 25,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    inputs: Annotated[Path | None, typer.Option("--inputs", help=".npz of inputs.")] = None,
    shape: Annotated[
        list[str] | None,
        typer.Option(
            "--shape", help="NAME=DxD...: shape of a random input (symbolic models); repeatable."
        ),
    ] = None,
) -> None:
    """Time each kernel of ARTIFACT (random inputs); list them slowest first, with ONNX nodes."""
    from ember.profiling import blas_core, describe_nodes, onednn_isa, profile

    specs = manifest_inputs(read_manifest(artifact))
    feed = read_inputs(specs, inputs, seed=0, shapes=input_shapes(specs, parse_shape_specs(shape)))
    rows = profile(artifact, runs=runs, threads=threads, feed=feed)
    if as_json:
        out.print_json(json.dumps([{**asdict(r), "ops": r.ops} for r in rows]))
        return
    total = sum(r.ms for r in rows)
    out.print(
        f"{'ms':>9} {'share':>6} {'calls':>5}  kernel (operators)  <- ONNX nodes", markup=False
    )
    for r in rows[:top]:
        nodes = f"  <- {describe_nodes(r.nodes)}" if r.nodes else ""
        out.print(
            f"{r.ms:9.3f} {100 * r.share:5.1f}% {r.calls:5d}  {r.name} ({r.ops}){nodes}",
            markup=False,
        )
    out.print(
        f"{total:9.3f} ms in {len(rows)} kernels per inference, {threads} threads", markup=False
    )
    core = blas_core()
    if core is not None:
        out.print(f"OpenBLAS kernels: {core} (EMBER_BLAS_CORETYPE chooses)", markup=False)
    isa = onednn_isa()
    if isa is not None:
        out.print(f"oneDNN kernels: {isa} (chosen from this CPU's features)", markup=False)


def register(app: typer.Typer) -> None:
    """Add the command to the app."""
    app.command("profile")(profile_command)

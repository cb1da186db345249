"""`ember run`: run an artifact on given or random inputs and summarize the outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from ..feeds import read_inputs
from ..runtime import load, manifest_inputs, read_manifest
from .console import err, out


def summarize(name: str, array: np.ndarray) -> str:
    """One line: name, shape, dtype, range, mean and the first values."""
    flat = array.reshape(-1)
    head = np.array2string(flat[:4], precision=4, separator=", ")
    if flat.size == 0:
        return f"{name}: {array.dtype}{list(array.shape)} (empty)"
    stats = f"min {flat.min():.4g} max {flat.max():.4g} mean {flat.astype(np.float64).mean():.4g}"
    return f"{name}: {array.dtype}{list(array.shape)} {stats} first {head}"


def run_command(
    artifact: Annotated[Path, typer.Argument(help="The compiled model (.so).")],
    inputs: Annotated[
        Path | None, typer.Option("--inputs", help=".npz with one array per input name.")
    ] = None,
    outputs: Annotated[
        Path | None, typer.Option("--outputs", help="Write the outputs to this .npz file.")
    ] = None,
    threads: Annotated[
        int | None, typer.Option("--threads", help="Worker threads (default: all cores).")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed for random inputs.")] = 0,
    device: Annotated[
        str | None,
        typer.Option("--device", help="cpu, cuda or cuda:N (default: the artifact's device)."),
    ] = None,
    emulate: Annotated[
        bool,
        typer.Option("--emulate", help="Run an aarch64 artifact on this x86 machine (qemu)."),
    ] = False,
) -> None:
    """Run ARTIFACT once and print a summary of each output."""
    if emulate:
        named = _run_emulated(artifact, inputs, threads, seed)
    else:
        device = device or str(read_manifest(artifact)["target"]["device"])
        model = load(artifact, device=device, threads=threads)
        results = model.run(read_inputs(model.inputs, inputs, seed))
        named = {info.name: array for info, array in zip(model.outputs, results, strict=True)}
    for name, array in named.items():
        out.print(summarize(name, array))
    if outputs is not None:
        save: Any = np.savez  # numpy's stub types **kwds as the allow_pickle flag
        save(outputs, **named)
        out.print(f"wrote {outputs}")


def _run_emulated(
    artifact: Path, inputs: Path | None, threads: int | None, seed: int
) -> dict[str, np.ndarray]:
    from ..emulation.qemu import run_emulated

    manifest = read_manifest(artifact)
    specs = manifest_inputs(manifest)
    feed = read_inputs(specs, inputs, seed)
    return run_emulated(artifact, feed, threads, say=lambda line: err.print(line, markup=False))


def register(app: typer.Typer) -> None:
    """Add the command to the app."""
    app.command("run")(run_command)

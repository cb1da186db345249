"""`ember demo`: compile a built-in example model, run it, check it against ONNX Runtime."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from ..errors import EmberError
from ..feeds import random_input
from ..runtime import load
from .console import out
from .progress import TerminalProgress

_TOLERANCE = 1e-4


def demo_command(
    model: Annotated[str, typer.Option("--model", help="cnn, transformer or mlp.")] = "cnn",
    target: Annotated[str, typer.Option("--target", "-t", help="Target preset.")] = "x86",
    workdir: Annotated[
        Path | None, typer.Option("--dir", help="Keep the .onnx and .so here (default: temp).")
    ] = None,
) -> None:
    """Build an example model, compile it, load and run it, and compare with ONNX Runtime."""
    with tempfile.TemporaryDirectory(prefix="ember-demo-") as tmp:
        folder = workdir or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        source = _write_example(model, folder)
        from ember.compiler.api import compile_model

        options = None
        artifact = compile_model(
            source, target, folder / f"{model}.so", options, TerminalProgress()
        )
        _run_and_check(artifact, source)


def _write_example(name: str, folder: Path) -> Path:
    import onnx

    from ember.compiler.examples.models import EXAMPLES

    if name not in EXAMPLES:
        raise EmberError(f"unknown example model '{name}' (choose from {', '.join(EXAMPLES)})")
    proto = EXAMPLES[name]()
    source = folder / f"{name}.onnx"
    onnx.save(proto, source)
    out.print(f"example model '{name}': {len(proto.graph.node)} nodes -> {source}")
    return source


def _run_and_check(artifact: Path, source: Path) -> None:
    from ember.compiler.examples.reference import ort_outputs, relative_error

    compiled = load(artifact)
    rng = np.random.default_rng(0)
    feed = {i.name: random_input(i, rng) for i in compiled.inputs}
    start = time.perf_counter()
    results = compiled.run(feed)
    first = (time.perf_counter() - start) * 1e3
    # The first run also makes the library kernels for these shapes (oneDNN compiles them
    # just in time) and packs the weights; the runs after it show the steady speed.
    steady = float(np.median([_time_ms(compiled, feed) for _ in range(5)]))
    expected = ort_outputs(str(source), feed)
    worst = max(relative_error(a, e) for a, e in zip(results, expected, strict=True))
    out.print(
        f"ran in {steady:.2f} ms on {compiled.threads} threads (first run {first:.2f} ms); "
        f"max relative error vs ONNX Runtime {worst:.2e} (tolerance {_TOLERANCE:.0e})"
    )
    if not worst <= _TOLERANCE:
        raise EmberError(f"outputs differ from ONNX Runtime by {worst:.2e}")
    out.print("[green]OK[/]: Ember matches ONNX Runtime")


def _time_ms(compiled: Any, feed: dict[str, np.ndarray]) -> float:
    start = time.perf_counter()
    compiled.run(feed)
    return (time.perf_counter() - start) * 1e3


def register(app: typer.Typer) -> None:
    """Add the command to the app."""
    app.command("demo")(demo_command)

"""`ember compile`: ONNX file in, one-file artifact out."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .console import err, out
from .progress import TerminalProgress


def compile_command(
    model: Annotated[Path, typer.Argument(help="The ONNX model to compile.")],
    target: Annotated[
        str, typer.Option("--target", "-t", help="Preset name (see `ember targets`) or .toml.")
    ] = "x86",
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Artifact path (default: next to the model, .so)."),
    ] = None,
    input_shape: Annotated[
        list[str] | None,
        typer.Option("--input-shape", help="Fix an input's shape: NAME=1x3x224x224 (repeatable)."),
    ] = None,
    bind: Annotated[
        list[str] | None,
        typer.Option(
            "--bind",
            help="Compile an input as a constant: NAME=VALUES, comma-separated, e.g. "
            "axes=0,2 (for inputs that set shapes, axes, k, pads, scales; repeatable).",
        ),
    ] = None,
    dump_ir: Annotated[
        Path | None, typer.Option("--dump-ir", help="Write the IR after each pass phase here.")
    ] = None,
    records: Annotated[
        Path | None,
        typer.Option("--records", help="Your tuning record store (default: Ember's cache)."),
    ] = None,
    no_tuning_logs: Annotated[
        bool,
        typer.Option("--no-tuning-logs", help="Use no tuning record, yours or shipped."),
    ] = False,
    layout: Annotated[
        str,
        typer.Option(
            "--layout",
            help="Convolution layout: auto (timed on this machine, x86), nchw or nhwc.",
        ),
    ] = "auto",
    precision: Annotated[
        str,
        typer.Option(
            "--precision",
            help="fp32, bf16, fp16 or int8: what matmuls and convolutions compute in "
            "(fp16: CUDA targets; see docs/precision.md).",
        ),
    ] = "fp32",
    no_winograd: Annotated[
        bool,
        typer.Option(
            "--no-winograd",
            help="Compute every convolution directly: no Winograd for 3x3 ones (their outputs "
            "then differ from ONNX Runtime's by ~1e-6 of their magnitude, not up to ~4e-6).",
        ),
    ] = False,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="Compare with ONNX Runtime on random inputs before writing the artifact; "
            "record the errors in the manifest (as `ember verify`).",
        ),
    ] = False,
) -> None:
    """Compile MODEL for a target into one shared library."""
    from ember.compiler.api import compile_model
    from ember.compiler.frontend.bind import parse_binds
    from ember.compiler.options import CompileOptions, parse_input_shapes

    options = CompileOptions(
        input_shapes=parse_input_shapes(input_shape),
        bind_inputs=parse_binds(bind),
        dump_ir=dump_ir,
        tuning_logs=not no_tuning_logs,
        records=records,
        layout=layout,
        precision=precision,
        winograd=not no_winograd,
    )
    progress = TerminalProgress()
    check = None
    if verify:
        from ..verification import compile_check

        check = compile_check(model, say=lambda line: err.print(line, markup=False))
    path = compile_model(model, target, output, options, progress, check)
    total = sum(progress.timings.values())
    out.print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB) in {total:.1f} s")


def register(app: typer.Typer) -> None:
    """Add the command to the app."""
    app.command("compile")(compile_command)

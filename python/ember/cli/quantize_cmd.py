"""`ember quantize`: a float32 ONNX model to a QDQ int8 one that Ember compiles to int8 kernels."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .console import out


def quantize_command(
    model: Annotated[Path, typer.Argument(help="The float32 ONNX model.")],
    calibration: Annotated[
        Path,
        typer.Option(
            "--calibration",
            help=".npz with one array per input: one sample, or samples stacked on a new "
            "first axis (a few real inputs; their ranges set the activations' scales).",
        ),
    ],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Where to write (default: MODEL_int8.onnx)."),
    ] = None,
) -> None:
    """Quantize MODEL to int8 (QDQ) and print the error it costs on the calibration inputs.

    Weights become int8 with a scale per output channel, activations uint8; compile the result
    as usual and its convolutions and matmuls run in int8 kernels.
    """
    from ember.compiler.quantize import quantize_model

    target = output or model.with_name(f"{model.stem}_int8.onnx")
    report = quantize_model(model, calibration, target)
    out.print(
        f"wrote {report.output} (QDQ int8, {report.samples} calibration samples)", markup=False
    )
    for error in report.errors:
        out.print(
            f"output {error.name}: max abs error {error.max_abs:.3g}, "
            f"max rel error {error.max_rel:.3g} against float32 (ONNX Runtime, calibration inputs)",
            markup=False,
        )


def register(app: typer.Typer) -> None:
    """Add the command to the app."""
    app.command("quantize")(quantize_command)

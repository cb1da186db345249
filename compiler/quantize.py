"""`ember quantize`: a float32 ONNX model to a QDQ int8 one, from a few calibration inputs.

ONNX Runtime's static quantization does the work (`onnxruntime.quantization.quantize_static`,
QDQ format): int8 weights with a scale per output channel, uint8 activations whose ranges come
from the calibration inputs (min/max). Ember compiles the result's convolutions and matmuls
into int8 kernels (`passes/quantized_library_calls.py`). What this module adds: calibration
samples from an .npz file checked against the model's inputs, the output written only once it
is complete, and the error the quantization costs, measured by running both models in ONNX
Runtime on the calibration inputs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from ember.errors import InputError, ModelError
from ember.feeds import check_feed, read_npz

from .frontend.loader import load_model
from .frontend.signature import TensorSignature, graph_inputs

#: Operators that quantize activations. A model with one is quantized already (weights alone
#: stored as int8 behind a DequantizeLinear compute as their float32 values do).
ACTIVATION_QUANTIZERS = ("QuantizeLinear", "QLinearConv", "QLinearMatMul")


def quantizes_activations(model: onnx.ModelProto) -> bool:
    """Whether `model` is quantized (QDQ or QLinear): it rounds activations to 8 bits."""
    return any(n.op_type in ACTIVATION_QUANTIZERS for n in model.graph.node)


@dataclass(frozen=True)
class OutputError:
    """How far the quantized model's output is from the float32 model's, over the samples."""

    name: str
    max_abs: float
    #: max_abs over the largest float32 magnitude.
    max_rel: float


@dataclass(frozen=True)
class QuantizeReport:
    """What `quantize_model` wrote and what it costs in accuracy."""

    output: Path
    samples: int
    errors: list[OutputError]


def calibration_samples(specs: list[TensorSignature], path: Path) -> list[dict[str, np.ndarray]]:
    """The calibration samples in the .npz file `path`, checked against the model's inputs.

    Per input, an array of the input's shape (one sample) or with one more leading dimension
    (a stack of samples); every input the same number of samples.
    """
    arrays = read_npz(specs, path, f"calibration data '{path}'")
    ranks = {spec.name: len(spec.shape) for spec in specs}
    # One more dimension than the input: samples stacked on a new first axis.
    stacks = {
        name: array if array.ndim == ranks.get(name, -1) + 1 else array[None]
        for name, array in arrays.items()
    }
    counts = {name: len(stack) for name, stack in stacks.items()}
    if len(set(counts.values())) > 1:
        described = ", ".join(f"{n}: {c}" for n, c in counts.items())
        raise InputError(f"calibration data '{path}': inputs differ in sample counts ({described})")
    count = next(iter(counts.values()), 1)
    samples = [{name: stack[i] for name, stack in stacks.items()} for i in range(count)]
    for sample in samples:
        check_feed(specs, sample, f"calibration data '{path}'")
    return samples


def quantize_model(model_path: Path, calibration: Path, output: Path) -> QuantizeReport:
    """Write the QDQ int8 version of `model_path` to `output`; report its error.

    `output` is replaced only once the quantized model is complete.
    """
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    model = load_model(model_path)
    if quantizes_activations(model):
        raise ModelError(f"model '{model_path}' is already quantized")
    samples = calibration_samples(graph_inputs(model), calibration)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.left = iter(samples)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.left, None)

    with _written_at(output) as partial, _quiet():
        quantize_static(
            str(model_path),
            str(partial),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
        )
        errors = _errors(model_path, partial, samples)
    return QuantizeReport(output, len(samples), errors)


def _errors(
    reference: Path, quantized: Path, samples: list[dict[str, np.ndarray]]
) -> list[OutputError]:
    import onnxruntime

    def outputs(path: Path) -> tuple[list[str], list[list[np.ndarray]]]:
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        names = [o.name for o in session.get_outputs()]
        return names, [session.run(None, sample) for sample in samples]

    names, want = outputs(reference)
    _, got = outputs(quantized)
    errors = []
    for i, name in enumerate(names):
        expected = np.concatenate([np.ravel(run[i]).astype(np.float64) for run in want])
        actual = np.concatenate([np.ravel(run[i]).astype(np.float64) for run in got])
        max_abs = float(np.max(np.abs(actual - expected))) if expected.size else 0.0
        scale = float(np.max(np.abs(expected))) if expected.size else 0.0
        errors.append(OutputError(name, max_abs, max_abs / scale if scale > 0 else max_abs))
    return errors


@contextlib.contextmanager
def _written_at(output: Path) -> Iterator[Path]:
    """A temporary path beside `output`, moved onto it when the block succeeds."""
    output.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".onnx", dir=output.parent)
    os.close(handle)
    partial = Path(name)
    try:
        yield partial
        os.replace(partial, output)
    finally:
        partial.unlink(missing_ok=True)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Keep ONNX Runtime's advice out of the command's output.

    Its quantizer logs on the root logger at WARNING, and its sessions on stderr (the unused
    initializers they remove).
    """
    import onnxruntime

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    onnxruntime.set_default_logger_severity(3)  # errors only
    try:
        yield
    finally:
        root.setLevel(level)
        onnxruntime.set_default_logger_severity(2)  # ONNX Runtime's default, warnings

"""Verify an artifact against ONNX Runtime on the same inputs; on failure, find the node.

The runtime is not imported here (the compiler does not depend on it): the caller passes a
`Runner` that loads and runs an artifact.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from ember.errors import InputError, ModelError
from ember.feeds import check_feed, fixed_shapes_or_error, read_inputs

from ..examples.reference import ort_outputs
from ..frontend import bind, loader
from ..frontend.signature import TensorSignature
from ..options import CompileOptions
from ..quantize import quantizes_activations
from .result import VerifyResult
from .search import NodeSearch, Runner
from .tolerance import tensor_error, tolerance_for

#: Inputs: a mapping of arrays, an .npz file, or None for random seeded ones.
Inputs = dict[str, np.ndarray] | Path | None


def verify_artifact(
    model_path: Path,
    artifact: Path,
    manifest: dict[str, Any],
    run: Runner,
    inputs: Inputs = None,
    rtol: float | None = None,
    atol: float | None = None,
    seed: int = 0,
    search: bool = True,
    say: Callable[[str], None] = lambda _: None,
) -> VerifyResult:
    """Compare `artifact` (compiled from `model_path`) with ONNX Runtime's fp32 run.

    With `search`, an output outside the tolerance starts the search for the first diverging
    node, which compiles truncated copies of the model with the artifact's options.
    """
    options = manifest.get("options", {})
    precision = str(options.get("precision", "fp32"))
    model = loader.load_model(model_path)
    # A quantized (QDQ) model is its own reference's precision: a value on a rounding
    # boundary may land one quantization step away in any two implementations.
    quantized = quantizes_activations(model)
    tolerance = tolerance_for("int8" if quantized else precision, rtol, atol)
    _require_same_model(model_path, artifact, manifest)
    bound = {k: np.asarray(v) for k, v in options.get("bind_inputs", {}).items()}
    bind.bind_inputs(model, bound)
    specs = [TensorSignature(i["name"], tuple(i["shape"]), i["dtype"]) for i in manifest["inputs"]]
    feed, described = _feed(specs, inputs, seed)
    expected = _reference(model, model_path, feed)
    actual = run(artifact, feed)
    names = [o["name"] for o in manifest["outputs"]]
    errors = [tensor_error(n, a, e) for n, a, e in zip(names, actual, expected, strict=True)]
    import onnxruntime

    result = VerifyResult(
        precision, tolerance, described, f"ONNX Runtime {onnxruntime.__version__}", errors
    )
    failing = [e for e in errors if not tolerance.allows(e)]
    if not failing or not search:
        return result
    finder = NodeSearch(model, feed, tolerance, _compile_as(manifest), run, say)
    node = finder.first(failing)
    return dataclasses.replace(
        result, first_divergent=node, probes=finder.probes, unprobed=finder.unprobed
    )


def _require_same_model(model_path: Path, artifact: Path, manifest: dict[str, Any]) -> None:
    recorded = manifest.get("model", {})
    digest = hashlib.sha256(model_path.read_bytes()).hexdigest()
    if recorded.get("sha256") != digest:
        raise InputError(
            f"artifact '{artifact}' was not compiled from '{model_path}' (the manifest records "
            f"model '{recorded.get('file', '?')}' with another SHA-256)"
        )


def _feed(
    specs: list[TensorSignature], inputs: Inputs, seed: int
) -> tuple[dict[str, np.ndarray], str]:
    if isinstance(inputs, Path):
        if not inputs.is_file():
            raise InputError(f"inputs file '{inputs}' does not exist")
        feed = read_inputs(specs, inputs, seed)
        check_feed(specs, feed, f"inputs file '{inputs}'")
        return feed, inputs.name
    if inputs is not None:
        feed = {k: np.asarray(v) for k, v in inputs.items()}
        check_feed(specs, feed, "inputs")
        return feed, "given"
    fixed_shapes_or_error(specs, "pass inputs (--inputs in.npz) with the shapes to verify")
    return read_inputs(specs, None, seed), f"random, seed {seed}"


def _reference(model: onnx.ModelProto, path: Path, feed: dict[str, np.ndarray]) -> list[Any]:
    try:
        return ort_outputs(model, feed)
    except Exception as err:  # ONNX Runtime raises its own exception types
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelError(f"ONNX Runtime cannot run model '{path}': {first}") from None


def _compile_as(manifest: dict[str, Any]) -> tuple[str, CompileOptions]:
    """The artifact's target and compile options, for compiling truncated copies.

    Inputs are bound in the model already. The convolution layout is the one the artifact
    uses (timing it again would take long and could choose the other one).
    """
    options = manifest.get("options", {})
    layout = manifest.get("layout", {}).get("conv") or options.get("layout", "auto")
    shapes = {k: tuple(v) for k, v in options.get("input_shapes", {}).items()}
    return str(manifest["target"]["name"]), CompileOptions(
        input_shapes=shapes,
        tuning_logs=bool(options.get("tuning_logs", True)),
        layout=str(layout),
        precision=str(options.get("precision", "fp32")),
    )

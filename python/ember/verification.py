"""`ember.verify`: an artifact's outputs against ONNX Runtime, and where they start to differ.

The comparison and the node search live in the compiler (`ember.compiler.verify`), imported
lazily; this module gives them the runtime, which the compiler does not import.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import VerificationError
from .feeds import fixed_shapes_or_error
from .runtime import load, manifest_inputs, read_manifest

if TYPE_CHECKING:
    from ember.compiler.verify.result import VerifyResult


def verify(
    model: str | os.PathLike[str],
    artifact: str | os.PathLike[str],
    inputs: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    seed: int = 0,
    threads: int | None = None,
    search: bool = True,
    say: Callable[[str], None] | None = None,
) -> VerifyResult:
    """Run `artifact` and ONNX Runtime (fp32) on the same inputs and compare the outputs.

    Parameters
    ----------
    model
        The ONNX file the artifact was compiled from (checked by its SHA-256).
    artifact
        The compiled model (``.so``).
    inputs
        An ``.npz`` file or a mapping of input name to array; by default random arrays drawn
        with `seed` (inputs with symbolic dimensions then need given arrays).
    rtol, atol
        The tolerance: an output passes when max |ember - ort| <= atol + rtol * max |ort|.
        By default the figures of the artifact's precision (``fp32``: 1e-4 and 1e-6).
    threads
        Worker threads for the artifact's runs.
    search
        When an output is outside the tolerance, find the first ONNX node whose result is,
        by compiling truncated copies of the model with the artifact's options (bisection).
    say
        Called with a line for each step of the search.

    Returns
    -------
    VerifyResult
        ``passed``, the error of each output, and ``first_divergent`` (the node) on failure.
    """
    from ember.compiler.verify.check import verify_artifact

    manifest = read_manifest(artifact)
    given: Any = inputs
    if isinstance(inputs, (str, os.PathLike)):
        given = Path(inputs)
    elif inputs is not None:
        given = dict(inputs)
    return verify_artifact(
        Path(model),
        Path(artifact),
        manifest,
        _runner(str(manifest["target"]["device"]), threads),
        given,
        rtol,
        atol,
        seed,
        search,
        say or (lambda _: None),
    )


def compile_check(
    model: str | os.PathLike[str], say: Callable[[str], None] | None = None
) -> Callable[[Path], dict[str, Any]]:
    """The `ember compile --verify` gate: verify the staged artifact, or raise.

    Returns what the manifest's `numerics` records: the verification's figures.
    """

    def check(staged: Path) -> dict[str, Any]:
        specs = manifest_inputs(read_manifest(staged))
        fixed_shapes_or_error(specs, "pin it with --input-shape to verify at compile time")
        result = verify(model, staged, say=say)
        for line in result.lines()[:-1]:
            (say or (lambda _: None))(line)
        if not result.passed:
            node = result.first_divergent
            where = f"; first diverging node {node.describe()}" if node else ""
            raise VerificationError(
                f"verification failed: {result.verdict()}, {result.tolerance.describe()}"
                f"{where}; no artifact written"
            )
        return result.as_dict()

    return check


def _runner(device: str, threads: int | None) -> Callable[[Path, dict[str, np.ndarray]], list[Any]]:
    def run(path: Path, feed: dict[str, np.ndarray]) -> list[Any]:
        compiled = load(path, device=device, threads=threads)
        # A truncated copy may no longer take every input of the model.
        taken = {i.name for i in compiled.inputs}
        return [np.asarray(o) for o in compiled.run({k: v for k, v in feed.items() if k in taken})]

    return run

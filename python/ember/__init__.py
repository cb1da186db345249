"""Ember: compile ONNX models ahead of time into one shared library, load and run them.

Deploy path::

    import ember
    model = ember.load("model.so")
    outputs = model.run({"input": x})

`import ember` and `ember.load` never import TVM, ONNX or XGBoost; `ember.compile` does, lazily.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import errors
from ._version import __version__
from .errors import EmberError
from .runtime import Model, TensorInfo, load, read_manifest
from .session import InferenceSession
from .verification import verify

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = [
    "EmberError",
    "InferenceSession",
    "Model",
    "TensorInfo",
    "__version__",
    "compile",
    "errors",
    "load",
    "read_manifest",
    "verify",
]


def compile(
    model: str | os.PathLike[str],
    target: str = "x86",
    output: str | os.PathLike[str] | None = None,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    bind_inputs: Mapping[str, Any] | None = None,
    layout: str = "auto",
    tuning_logs: bool = True,
    records: str | os.PathLike[str] | None = None,
    precision: str = "fp32",
    verify: bool = False,
    winograd: bool = True,
) -> Path:
    """Compile an ONNX file for `target` and return the path of the artifact.

    Parameters
    ----------
    model
        Path of the ``.onnx`` file.
    target
        A preset name (``ember targets`` lists them) or a path to a target ``.toml``.
    output
        Where to write the artifact; by default next to the model with the ``.so`` suffix.
    input_shapes
        Fixed shapes for inputs with symbolic dimensions, e.g. ``{"input": (1, 3, 224, 224)}``.
    bind_inputs
        Inputs to compile as constants, e.g. ``{"axes": [0, 2]}``: for inputs that set shapes,
        axes, ``k``, pads or scales, which the compiler needs to know. They leave the
        artifact's inputs.
    layout
        Convolution layout: ``"auto"`` (on x86, the faster of NCHW and NHWC, timed on this
        machine), ``"nchw"`` or ``"nhwc"``.
    tuning_logs
        Use tuning records (the user's store for the target, then Ember's shipped
        ``tuning_logs/``); False compiles with the default schedules, as ``--no-tuning-logs``.
    records
        The user's record store to read instead of the default one, as ``--records``.
    precision
        ``"fp32"`` (the default), or ``"fp16"`` on CUDA targets: matmuls and convolutions on
        fp16 operands with float32 accumulation, numerically sensitive operators in float32
        (``docs/precision.md``). ``"bf16"`` and ``"int8"`` are refused with the reason.
    winograd
        Run the 3 x 3 convolutions that suit it by Winograd's algorithm (x86), 2-4 times
        fewer multiplications for outputs within ~4e-6 (of their magnitude) of ONNX Runtime's
        (``docs/precision.md``); False keeps every convolution direct, as ``--no-winograd``.
    verify
        Compare the compiled model with ONNX Runtime on random inputs before writing it, as
        ``--verify``: the errors go into the manifest's ``numerics``; outside the tolerance
        (see `verify`) nothing is written and `ember.errors.VerificationError` is raised.
    """
    from ember.compiler.api import compile_model
    from ember.compiler.options import CompileOptions

    shapes = {name: tuple(int(d) for d in dims) for name, dims in (input_shapes or {}).items()}
    import numpy as np

    bound = {name: np.asarray(value) for name, value in (bind_inputs or {}).items()}
    options = CompileOptions(
        input_shapes=shapes,
        bind_inputs=bound,
        layout=layout,
        tuning_logs=tuning_logs,
        records=None if records is None else Path(records),
        precision=precision,
        winograd=winograd,
    )
    from .verification import compile_check

    return compile_model(
        model, target, output, options, check=compile_check(model) if verify else None
    )

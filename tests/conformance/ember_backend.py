"""An `onnx.backend.base.Backend` for Ember: compile in process, load, run.

The model is compiled on the first `run`: graph inputs that feed operand slots an
ahead-of-time compiler needs as constants (axes, shapes, k, pads, scales; see
`ember.compiler.frontend.bind.operand_inputs`) are bound to the values of that run, as a user
pins them with `--bind`. Data inputs are never bound. A later run with other operand values
compiles again. Each compile writes the model to a temporary folder and compiles it with
`ember.compiler.api.compile_model` into a uniquely named `.so` (glibc's `dlopen` hands back
the library already loaded from a reused path), then loads it with `ember.load`.
"""

from __future__ import annotations

import itertools
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx.backend.base import Backend, BackendRep

import ember
from ember.compiler.api import compile_model
from ember.compiler.frontend.bind import operand_inputs
from ember.compiler.options import CompileOptions

_counter = itertools.count()


class EmberRep(BackendRep):
    """A model compiled on first use; `run` takes inputs in graph order (initializers excluded)."""

    def __init__(self, model: onnx.ModelProto, target: str) -> None:
        self.source = model
        self.target = target
        inits = {t.name for t in model.graph.initializer}
        self.names = [v.name for v in model.graph.input if v.name not in inits]
        self.operands = set(operand_inputs(model))
        self._compiled: dict[bytes, ember.Model] = {}
        self._tmp = tempfile.TemporaryDirectory(prefix="ember_conf_")  # lives with the models

    def run(self, inputs: Any, **kwargs: Any) -> tuple[np.ndarray, ...]:
        """Run with a list of arrays (graph order) or one array; return the outputs."""
        if isinstance(inputs, np.ndarray):
            inputs = [inputs]
        feed = {n: np.asarray(x) for n, x in zip(self.names, inputs, strict=False)}
        bound = {n: v for n, v in feed.items() if n in self.operands}
        model = self._model(bound)
        return tuple(model.run({n: v for n, v in feed.items() if n not in bound}))

    def _model(self, bound: dict[str, np.ndarray]) -> ember.Model:
        key = b"".join(n.encode() + v.dtype.str.encode() + v.tobytes() for n, v in bound.items())
        if key not in self._compiled:
            index = next(_counter)
            source = Path(self._tmp.name) / f"model_{os.getpid()}_{index}.onnx"
            onnx.save(self.source, source)
            out = Path(self._tmp.name) / f"m_{os.getpid()}_{index}.so"
            options = CompileOptions(bind_inputs=bound)
            self._compiled[key] = ember.load(
                compile_model(source, self.target, out, options), threads=1
            )
        return self._compiled[key]


class EmberBackend(Backend):
    """Ember on the x86 target."""

    target = "x86"

    @classmethod
    def prepare(cls, model: onnx.ModelProto, device: str = "CPU", **kwargs: Any) -> EmberRep:
        """Prepare `model` for x86; it compiles on the first `run`."""
        return EmberRep(model, cls.target)

    @classmethod
    def run_model(
        cls, model: onnx.ModelProto, inputs: Any, device: str = "CPU", **kwargs: Any
    ) -> tuple[np.ndarray, ...]:
        """Compile and run once."""
        return cls.prepare(model, device, **kwargs).run(inputs)

    @classmethod
    def supports_device(cls, device: str) -> bool:
        """Only the CPU."""
        return device == "CPU"

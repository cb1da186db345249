"""An `onnx.backend.base.Backend` for Ember: compile in process, load, run.

Each model is compiled as the file is: every graph input stays an input of the artifact,
operand inputs (axes, shapes, k, pads, scales) included, as a user without `--bind` meets
it. The model is compiled on the first `run`, written to a temporary folder and compiled with
`ember.compiler.api.compile_model` into a uniquely named `.so` (glibc's `dlopen` hands back
the library already loaded from a reused path), then loaded with `ember.load`.
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

_counter = itertools.count()


class EmberRep(BackendRep):
    """A model compiled on first use; `run` takes inputs in graph order (initializers excluded)."""

    def __init__(self, model: onnx.ModelProto, target: str) -> None:
        self.source = model
        self.target = target
        inits = {t.name for t in model.graph.initializer}
        self.names = [v.name for v in model.graph.input if v.name not in inits]
        self._compiled: ember.Model | None = None
        self._tmp = tempfile.TemporaryDirectory(prefix="ember_conf_")  # lives with the model

    def run(self, inputs: Any, **kwargs: Any) -> tuple[np.ndarray, ...]:
        """Run with a list of arrays (graph order) or one array; return the outputs."""
        if isinstance(inputs, np.ndarray):
            inputs = [inputs]
        feed = {n: np.asarray(x) for n, x in zip(self.names, inputs, strict=False)}
        return tuple(self._model().run(feed))

    def _model(self) -> ember.Model:
        if self._compiled is None:
            index = next(_counter)
            source = Path(self._tmp.name) / f"model_{os.getpid()}_{index}.onnx"
            onnx.save(self.source, source)
            out = Path(self._tmp.name) / f"m_{os.getpid()}_{index}.so"
            self._compiled = ember.load(compile_model(source, self.target, out), threads=1)
        return self._compiled


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

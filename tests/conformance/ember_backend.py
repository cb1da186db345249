"""An `onnx.backend.base.Backend` for Ember: compile in process, load, run.

Each `prepare` writes the model to a temporary folder and compiles it with
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

_counter = itertools.count()


class EmberRep(BackendRep):
    """A compiled model; `run` takes inputs in graph order (initializers excluded)."""

    def __init__(self, model: ember.Model, tmp: tempfile.TemporaryDirectory[str]) -> None:
        self.model = model
        self._tmp = tmp  # keeps the artifact alive as long as the model

    def run(self, inputs: Any, **kwargs: Any) -> tuple[np.ndarray, ...]:
        """Run with a list of arrays (graph order) or one array; return the outputs."""
        if isinstance(inputs, np.ndarray):
            inputs = [inputs]
        names = [spec.name for spec in self.model.inputs]
        feed = {n: np.asarray(x) for n, x in zip(names, inputs, strict=False)}
        return tuple(self.model.run(feed))


class EmberBackend(Backend):
    """Ember on the x86 target."""

    target = "x86"

    @classmethod
    def prepare(cls, model: onnx.ModelProto, device: str = "CPU", **kwargs: Any) -> EmberRep:
        """Compile `model` for x86 and load it."""
        tmp = tempfile.TemporaryDirectory(prefix="ember_conf_")
        index = next(_counter)
        source = Path(tmp.name) / f"model_{os.getpid()}_{index}.onnx"
        onnx.save(model, source)
        out = compile_model(source, cls.target, Path(tmp.name) / f"m_{os.getpid()}_{index}.so")
        return EmberRep(ember.load(out, threads=1), tmp)

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

"""`InferenceSession`: ONNX Runtime's call shape over an Ember model, to switch in one line."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import InputError
from .runtime import Dim, TensorInfo, load

# ONNX Runtime's type strings for the NumPy dtypes Ember uses.
_ORT_TYPES = {
    "float32": "tensor(float)",
    "float16": "tensor(float16)",
    "float64": "tensor(double)",
    "bfloat16": "tensor(bfloat16)",
    "int8": "tensor(int8)",
    "int16": "tensor(int16)",
    "int32": "tensor(int32)",
    "int64": "tensor(int64)",
    "uint8": "tensor(uint8)",
    "uint16": "tensor(uint16)",
    "uint32": "tensor(uint32)",
    "uint64": "tensor(uint64)",
    "bool": "tensor(bool)",
}


@dataclass(frozen=True)
class NodeArg:
    """What `get_inputs()` / `get_outputs()` return, as in ONNX Runtime."""

    name: str
    shape: list[Dim]
    type: str


def _node_arg(info: TensorInfo) -> NodeArg:
    return NodeArg(info.name, list(info.shape), _ORT_TYPES.get(info.dtype, info.dtype))


class InferenceSession:
    """ONNX Runtime's `InferenceSession` API over a compiled Ember artifact.

    ``providers`` and ``sess_options`` are accepted and ignored (the artifact fixes the target);
    use ``device`` and ``threads`` to choose where and how wide it runs.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        sess_options: Any = None,
        providers: Sequence[Any] | None = None,
        device: str = "cpu",
        threads: int | None = None,
    ) -> None:
        self._model = load(path, device=device, threads=threads)

    def get_inputs(self) -> list[NodeArg]:
        """The inputs, in order."""
        return [_node_arg(i) for i in self._model.inputs]

    def get_outputs(self) -> list[NodeArg]:
        """The outputs, in order."""
        return [_node_arg(o) for o in self._model.outputs]

    def run(
        self,
        output_names: Sequence[str] | None,
        input_feed: Mapping[str, Any],
        run_options: Any = None,
    ) -> list[np.ndarray]:
        """Run and return the outputs named in `output_names` (all outputs when None)."""
        outputs = self._model.run(input_feed)
        if output_names is None:
            return outputs
        index = {o.name: i for i, o in enumerate(self._model.outputs)}
        unknown = [n for n in output_names if n not in index]
        if unknown:
            known = ", ".join(f"'{n}'" for n in index)
            raise InputError(f"unknown output '{unknown[0]}' (outputs: {known})")
        return [outputs[index[n]] for n in output_names]

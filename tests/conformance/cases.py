"""The ONNX conformance cases: node tests (built in memory) and the `light_*` models.

`check_case` runs one case on a backend and compares with the expected outputs using the
backend tests' own comparison (`BackendTest.assert_similar_outputs`) and tolerances.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper
from onnx.backend.test.loader import load_model_tests
from onnx.backend.test.runner import Runner as BackendTest

LIGHT_DIR = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"


@dataclass(frozen=True)
class Case:
    """One conformance case: a model and its input/output data sets."""

    name: str
    model: onnx.ModelProto
    data_sets: list[tuple[list[Any], list[Any]]]
    rtol: float
    atol: float


def node_case_names() -> list[str]:
    """Names of every node case, sorted (cheap: the models are built lazily by onnx)."""
    return sorted(c.name for c in load_model_tests(kind="node"))


def node_cases() -> dict[str, Case]:
    """Every node case by name."""
    cases = {}
    for c in load_model_tests(kind="node"):
        cases[c.name] = Case(c.name, c.model, list(c.data_sets), c.rtol, c.atol)
    return cases


def light_case_names() -> list[str]:
    """`light_alexnet`, ...: the light models shipped in the onnx wheel."""
    return sorted(p.stem for p in LIGHT_DIR.glob("light_*.onnx"))


def light_case(name: str) -> Case:
    """A light model with the backend tests' dummy input (arange / n) and stored output."""
    model = onnx.load(LIGHT_DIR / f"{name}.onnx")
    inits = {t.name for t in model.graph.initializer}
    inputs = []
    for value in model.graph.input:
        if value.name in inits:
            continue
        # The same deterministic input BackendTest.generate_dummy_data(random=False) makes.
        inputs.append(BackendTest.generate_dummy_data(value, seed=0, name=name, random=False))
    outputs = []
    for i in range(len(model.graph.output)):
        outputs.append(numpy_helper.to_array(onnx.load_tensor(LIGHT_DIR / f"{name}_output_{i}.pb")))
    return Case(name, model, [(inputs, outputs)], rtol=1e-3, atol=1e-7)


def _normalize(item: Any) -> Any:
    if isinstance(item, onnx.TensorProto):
        return numpy_helper.to_array(item)
    return item


def check_case(backend: Any, case: Case) -> None:
    """Compile `case` with `backend`, run every data set, assert the outputs match."""
    rep = backend.prepare(case.model, "CPU")
    for inputs, expected in case.data_sets:
        got = rep.run([_normalize(x) for x in inputs])
        BackendTest.assert_similar_outputs(
            [_normalize(x) for x in expected],
            [np.asarray(x) for x in got],
            rtol=case.rtol,
            atol=case.atol,
        )


def conformance_mode() -> str:
    """`EMBER_CONFORMANCE`: `sample` (default, CI), `all`, or `off`."""
    return os.environ.get("EMBER_CONFORMANCE", "sample")

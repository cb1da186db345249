"""Search for the first diverging node: compile truncated copies of the model and compare.

Each probe exposes one node's results as the graph outputs of a pruned copy, runs the copy in
ONNX Runtime and, compiled by Ember with the artifact's options, in Ember's runtime, and
compares. `bisect.first_diverging` chooses which node to probe next.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx

from ember.errors import EmberError

from ..api import compile_model
from ..examples.reference import ort_outputs
from ..frontend.node_tags import node_label
from ..options import CompileOptions
from . import surgery
from .bisect import first_diverging
from .result import DivergentNode
from .tolerance import TensorError, Tolerance, tensor_error

#: Runs a compiled artifact on a feed (it ignores inputs the artifact does not take).
Runner = Callable[[Path, dict[str, np.ndarray]], list[np.ndarray]]


class NodeSearch:
    """Probes nodes of `model` (inputs bound as the artifact's were) on one feed."""

    def __init__(
        self,
        model: onnx.ModelProto,
        feed: dict[str, np.ndarray],
        tolerance: Tolerance,
        compile_as: tuple[str, CompileOptions],
        run: Runner,
        say: Callable[[str], None],
    ) -> None:
        self._model = model
        self._feed = feed
        self._tolerance = tolerance
        self._target, self._options = compile_as
        self._run = run
        self._say = say
        self._types = surgery.tensor_types(model)
        self._errors: dict[int, list[TensorError]] = {}
        self.probes = 0
        #: Nodes whose probe failed (labels): the answer is less certain near them.
        self.unprobed: list[str] = []

    def first(self, failing: list[TensorError]) -> DivergentNode | None:
        """The first node whose result diverges, given the graph outputs outside tolerance."""
        names = {e.name for e in failing}
        nodes = self._model.graph.node
        order = surgery.ancestors(self._model, names)
        # A Constant's value is in the model: nothing to compare.
        candidates = [
            i
            for i in order
            if nodes[i].op_type != "Constant"
            and (surgery.float_outputs(nodes[i], self._types) or names & set(nodes[i].output))
        ]
        if not candidates:
            return None
        # The last candidate computes a failing output: its figures are already known.
        last = candidates[-1]
        self._errors[last] = [e for e in failing if e.name in set(nodes[last].output)]
        self._say(f"searching {len(candidates)} nodes for the first that diverges")
        found = first_diverging(candidates, self._probe)
        if found is None:
            return None
        worst = max(self._errors[found], key=self._excess)
        return DivergentNode(node_label(nodes[found], found), nodes[found].op_type, found, worst)

    def _excess(self, error: TensorError) -> float:
        """How far past the tolerance (> 1 outside), to pick a node's worst result."""
        allowed = self._tolerance.atol + self._tolerance.rtol * error.scale
        return error.max_abs / allowed if allowed > 0 else error.max_abs

    def _probe(self, index: int) -> bool | None:
        node = self._model.graph.node[index]
        label = f"'{node_label(node, index)}' ({node.op_type})"
        try:
            errors = self._measure(surgery.float_outputs(node, self._types))
        except EmberError as err:
            self._say(f"  node {label}: cannot be probed, skipped ({err})")
            self.unprobed.append(node_label(node, index))
            return None
        self.probes += 1
        self._errors[index] = errors
        diverges = not all(self._tolerance.allows(e) for e in errors)
        worst = max(errors, key=self._excess)
        self._say(f"  node {label}: {worst.describe()}" + (" (diverges)" if diverges else ""))
        return diverges

    def _measure(self, outputs: list[str]) -> list[TensorError]:
        probe = surgery.exposed(self._model, outputs, self._types)
        with tempfile.TemporaryDirectory(prefix="ember-verify-") as folder:
            source = Path(folder) / "probe.onnx"
            onnx.save(probe, source)
            expected = ort_outputs(probe, self._feed)
            artifact = compile_model(source, self._target, Path(folder) / "probe.so", self._options)
            actual = self._run(artifact, self._feed)
        return [
            tensor_error(name, a, e) for name, a, e in zip(outputs, actual, expected, strict=True)
        ]

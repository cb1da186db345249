"""What `ember verify` found: errors per output, the tolerance, the first diverging node."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .tolerance import TensorError, Tolerance


@dataclass(frozen=True)
class DivergentNode:
    """The first ONNX node (in topological order) whose result is outside the tolerance."""

    #: The node's name, or ``OpType_index`` for an unnamed node.
    name: str
    op_type: str
    #: Position in the model's node list.
    index: int
    #: The node's result furthest outside the tolerance.
    error: TensorError

    def describe(self) -> str:
        """``'mul_3' (Mul), output 'h': max abs error 0.02, max rel error 0.01``."""
        where = f"'{self.name}' ({self.op_type}), output '{self.error.name}'"
        return f"{where}: {self.error.describe()}"


@dataclass(frozen=True)
class VerifyResult:
    """The artifact's outputs against ONNX Runtime (fp32) on the same inputs."""

    precision: str
    tolerance: Tolerance
    #: ``"random, seed 0"`` or the inputs file's name.
    inputs: str
    #: ONNX Runtime's version, the reference.
    reference: str
    outputs: list[TensorError]
    #: Set when an output is outside the tolerance and the search ran.
    first_divergent: DivergentNode | None = None
    #: How many truncated models the search compiled.
    probes: int = 0
    #: Nodes the search skipped because their probe failed: a skipped node just before the
    #: named one could be where the divergence starts.
    unprobed: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Every output within the tolerance."""
        return all(self.tolerance.allows(e) for e in self.outputs)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: `ember verify --json` prints it and the manifest's `numerics` holds it."""
        node = self.first_divergent
        return {
            "passed": self.passed,
            "precision": self.precision,
            "reference": self.reference,
            "inputs": self.inputs,
            "rtol": self.tolerance.rtol,
            "atol": self.tolerance.atol,
            "tolerance_source": self.tolerance.source,
            "outputs": [self._output(e) for e in self.outputs],
            "first_divergent_node": None
            if node is None
            else {
                "name": node.name,
                "op_type": node.op_type,
                "index": node.index,
                "output": node.error.name,
                "max_abs_error": _finite(node.error.max_abs),
                "max_rel_error": _finite(node.error.max_rel),
            },
            "probes": self.probes,
            "unprobed_nodes": list(self.unprobed),
        }

    def _output(self, error: TensorError) -> dict[str, Any]:
        return {
            "name": error.name,
            "max_abs_error": _finite(error.max_abs),
            "max_rel_error": _finite(error.max_rel),
            "within_tolerance": self.tolerance.allows(error),
        }

    def lines(self) -> list[str]:
        """The report a person reads."""
        lines = [
            f"reference  {self.reference} (fp32), inputs: {self.inputs}",
            f"tolerance  {self.tolerance.describe()}: max abs error <= atol + rtol * max |ref|",
        ]
        width = max((len(e.name) for e in self.outputs), default=0)
        for error in self.outputs:
            verdict = "ok" if self.tolerance.allows(error) else "OUTSIDE TOLERANCE"
            lines.append(f"output     {error.name:<{width}}  {error.describe()}  {verdict}")
        if self.first_divergent is not None:
            lines.append(f"first diverging node {self.first_divergent.describe()}")
        if self.unprobed:
            names = ", ".join(f"'{n}'" for n in self.unprobed)
            lines.append(f"not probed (their truncated model failed to compile or run): {names}")
        lines.append(self.verdict())
        return lines

    def verdict(self) -> str:
        """The last line: within tolerance, or how many outputs are outside it."""
        if self.passed:
            return f"{self.precision}: all {len(self.outputs)} outputs within tolerance"
        bad = [e.name for e in self.outputs if not self.tolerance.allows(e)]
        names = ", ".join(f"'{n}'" for n in bad)
        count = f"{len(bad)} of {len(self.outputs)}"
        return f"{self.precision}: {count} outputs outside tolerance ({names})"


def _finite(value: float) -> float | str:
    """JSON has no infinity: a shape mismatch or stray NaN is the string "inf"."""
    return value if value != float("inf") else "inf"

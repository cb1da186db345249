"""ONNX `Scan` (opset 8 and 9+), unrolled over a static scan length.

TVM 0.27's importer has no Scan. The scan length is a static dimension of the first scan
input in every model Ember compiles (preflight refuses a symbolic one), so the body is
imported once per step with that step's slices and the carried states; scan outputs are the
per-step elements stacked along their output axis. Opset 8's batched form runs the same
recurrence for each batch entry and stacks the results along axis 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from tvm import relax

from ember.errors import UnsupportedModelError

from .common import static_shape_dim, take
from .subgraph import Body, BodyConverter, constant_value

op = relax.op


@dataclass
class _Recurrence:
    """What one (unbatched) scan needs: the body, the inputs' axes and directions."""

    body: Body
    num_scan_inputs: int
    input_axes: list[int]
    input_reverse: list[bool]
    output_axes: list[int]
    output_reverse: list[bool]


def _per_item(attr: dict[str, Any], name: str, count: int) -> list[int]:
    values = [int(v) for v in attr.get(name, ())]
    return values + [0] * (count - len(values))


def _recurrence(attr: dict[str, Any], opset: int, num_states: int) -> _Recurrence:
    body = Body(attr["body"], opset, "Scan")
    m = int(attr["num_scan_inputs"])
    k = len(body.output_names) - num_states
    directions = "directions" if opset < 9 else "scan_input_directions"
    return _Recurrence(
        body,
        m,
        _per_item(attr, "scan_input_axes", m),
        [d == 1 for d in _per_item(attr, directions, m)],
        _per_item(attr, "scan_output_axes", k),
        [d == 1 for d in _per_item(attr, "scan_output_directions", k)],
    )


def _run(bb: Any, rec: _Recurrence, states: list[Any], scans: list[Any], params: Any) -> list[Any]:
    """Final states then stacked scan outputs of one unbatched scan."""
    axes = [
        a + len(s.ty.shape.values) if a < 0 else a
        for a, s in zip(rec.input_axes, scans, strict=True)
    ]
    steps = static_shape_dim(scans[0], axes[0], "the scan length of Scan")
    if steps == 0:
        raise UnsupportedModelError("Scan over zero steps is not supported")
    elements: list[list[Any]] = [[] for _ in rec.output_axes]
    for t in range(steps):
        slices = [
            take(bb, s, steps - 1 - t if rev else t, axis)
            for s, axis, rev in zip(scans, axes, rec.input_reverse, strict=True)
        ]
        outs = rec.body.run(bb, [*states, *slices], params[0], params)
        states = outs[: len(states)]
        for i, element in enumerate(outs[len(states) :]):
            elements[i].append(element)
    stacked = []
    for items, axis, rev in zip(elements, rec.output_axes, rec.output_reverse, strict=True):
        ordered = items[::-1] if rev else items
        rank = len(ordered[0].ty.shape.values) + 1
        stacked.append(bb.emit(op.stack(ordered, axis=axis + rank if axis < 0 else axis)))
    return [*states, *stacked]


def _batched(
    bb: Any, rec: _Recurrence, states: list[Any], scans: list[Any], params: Any
) -> list[Any]:
    """Opset 8: every input has a leading batch axis; scan each entry and stack them."""
    batch = static_shape_dim(scans[0], 0, "the batch size of Scan")
    per_entry = []
    for b in range(batch):
        entry_states = [take(bb, s, b, 0) for s in states]
        entry_scans = [take(bb, s, b, 0) for s in scans]
        per_entry.append(_run(bb, rec, entry_states, entry_scans, params))
    return [bb.emit(op.stack(list(values), axis=0)) for values in zip(*per_entry, strict=True)]


def _check_full_lengths(lens: Any, scans: list[Any]) -> None:
    """Opset 8's `sequence_lens` is supported when every entry scans the whole input."""
    value = constant_value(lens)
    full = static_shape_dim(scans[0], 1, "the scan length of Scan")
    if value is None or not np.all(value == full):
        raise UnsupportedModelError("Scan with sequence_lens shorter than the input")


class Scan(BodyConverter):
    """Outputs: the final state variables, then the scan outputs."""

    @classmethod
    def _convert(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any, opset: int) -> Any:
        values = list(inputs)
        if opset < 9:
            lens, values = values[0], values[1:]
        num_states = len(values) - int(attr["num_scan_inputs"])
        rec = _recurrence(attr, opset, num_states)
        states, scans = values[:num_states], values[num_states:]
        if opset >= 9:
            return relax.Tuple(_run(bb, rec, states, scans, params))
        if lens is not None:
            _check_full_lengths(lens, scans)
        return relax.Tuple(_batched(bb, rec, states, scans, params))

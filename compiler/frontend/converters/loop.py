"""ONNX `Loop`, unrolled when its trip count and conditions are known at import time.

TVM 0.27's importer has no Loop. A Loop whose trip count `M` is a constant (an initializer,
a folded computation, or a graph input pinned with `--bind`) and whose condition stays a
constant through the iterations is a fixed sequence of body instances: Ember imports the
body once per iteration and stacks the scan outputs along a new axis 0. A loop that runs a
data-dependent number of times has no static shape and is refused with the reason.
"""

from __future__ import annotations

from typing import Any

from tvm import relax

from ember.errors import UnsupportedModelError

from .subgraph import Body, BodyConverter, constant_value

op = relax.op

#: More iterations than this would bloat the program; such loops are refused.
MAX_UNROLL = 4096


def _trip_count(m: Any) -> int:
    if m is None:
        raise UnsupportedModelError("Loop without a trip count M cannot be unrolled")
    value = constant_value(m)
    if value is None:
        raise UnsupportedModelError("Loop trip count M is computed at run time")
    count = int(value.reshape(-1)[0])
    if count > MAX_UNROLL:
        raise UnsupportedModelError(f"Loop trip count {count} is above {MAX_UNROLL}")
    return max(count, 0)


def _keep_going(cond: Any) -> bool:
    if cond is None:
        return True
    value = constant_value(cond)
    if value is None:
        raise UnsupportedModelError("Loop condition is computed at run time")
    return bool(value.reshape(-1)[0])


class Loop(BodyConverter):
    """Outputs: the final loop-carried values, then the scan outputs."""

    @classmethod
    def _convert(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any, opset: int) -> Any:
        body = Body(attr["body"], opset, "Loop")
        trips, cond = _trip_count(inputs[0]), inputs[1]
        carried = list(inputs[2:])
        num_scan = len(body.output_names) - 1 - len(carried)
        elements: list[list[Any]] = [[] for _ in range(num_scan)]
        cond_value = cond if cond is not None else relax.const(True, "bool")
        for i in range(trips):
            if not _keep_going(cond_value):
                break
            outs = body.run(bb, [relax.const(i, "int64"), cond_value, *carried], params[0], params)
            cond_value, carried = outs[0], outs[1 : 1 + len(carried)]
            for j, element in enumerate(outs[1 + len(carried) :]):
                elements[j].append(element)
        if num_scan and not elements[0]:
            raise UnsupportedModelError("Loop that runs zero iterations with scan outputs")
        stacked = [bb.emit(op.stack(items, axis=0)) for items in elements]
        return relax.Tuple([*carried, *stacked])

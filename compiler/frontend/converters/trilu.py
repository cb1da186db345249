"""Trilu whose diagonal offset `k` is a graph input, known only at run time.

A constant (or absent) `k` keeps TVM's converter (`relax.op.triu`/`tril`). TVM's own path
for a run-time `k` feeds unnormalized expressions into `where` and fails to import ("The
type is not populated"), so here one kernel reads `k` as a 0-d tensor and keeps element
`[..., i, j]` where `j - i >= k` (upper) or `j - i <= k` (lower), zeroing the rest. `k`
decides only values, never an extent, so the output has the input's shape.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tvm import relax, te, tirx
from tvm.relax.frontend.onnx import onnx_frontend

from .subgraph import constant_value

op = relax.op


def _kernel(upper: bool) -> Callable[[te.Tensor, te.Tensor], te.Tensor]:
    """`x` with the elements outside the band selected by the run-time `k` set to 0."""

    def compute(x: te.Tensor, k: te.Tensor) -> te.Tensor:
        def body(*index: Any) -> Any:
            offset = index[-1].astype("int64") - index[-2].astype("int64")
            keep = offset >= k[()] if upper else offset <= k[()]
            return tirx.Select(keep, x[index], tirx.const(0, x.dtype))

        return te.compute(x.shape, body, name="trilu")

    return compute


class Trilu(onnx_frontend.Trilu):
    """Inputs x (rank >= 2) and optional k (int64 scalar); attribute upper (default 1)."""

    @classmethod
    def _impl_v14(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        k = inputs[1] if len(inputs) > 1 else None
        if k is None or constant_value(k) is not None:
            return super()._impl_v14(bb, inputs, attr, params)
        # ONNX types k as an int64 scalar; a [1]-shaped k is accepted the same way.
        scalar = bb.emit(op.reshape(bb.emit(op.astype(k, "int64")), []))
        return bb.emit_te(_kernel(bool(attr.get("upper", 1))), inputs[0], scalar)

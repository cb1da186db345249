"""Dropout at inference: the data passes through and the optional mask is all true.

TVM 0.27's converter returns a mask of the data's type; since opset 10 ONNX types it bool.
A graph that asks for training mode with a nonzero ratio samples random numbers, which a
compiled inference artifact does not reproduce, so it is refused; training mode with ratio
0 (a common export of a disabled dropout) is the identity and compiles.
"""

from __future__ import annotations

from typing import Any

from tvm import relax
from tvm.relax.frontend.onnx import onnx_frontend

from ember.errors import UnsupportedModelError

from .common import constant_values

op = relax.op


def _passthrough(bb: Any, data: Any) -> Any:
    return relax.Tuple([data, bb.emit(op.ones_like(data, "bool"))])


def _scalar(inputs: Any, index: int, what: str, default: float) -> float:
    if len(inputs) <= index or inputs[index] is None:
        return default
    return float(constant_values(inputs[index], what).reshape(()))


class Dropout(onnx_frontend.Dropout):
    """Opsets before 10 keep TVM's converter (their mask has the data's type)."""

    @classmethod
    def _impl_v10(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        return _passthrough(bb, inputs[0])

    @classmethod
    def _impl_v12(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        ratio = _scalar(inputs, 1, "Dropout ratio", 0.5)
        training = _scalar(inputs, 2, "Dropout training_mode", 0.0)
        if training and ratio != 0.0:
            raise UnsupportedModelError(
                f"Dropout in training mode with ratio {ratio:g} is random; "
                "Ember compiles inference (training_mode false or ratio 0)"
            )
        return _passthrough(bb, inputs[0])

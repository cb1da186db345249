"""Dropout at inference: the data passes through and the optional mask is all true.

TVM 0.27's converter returns a mask of the data's type; since opset 10 ONNX types it bool.
A graph that asks for training mode with a nonzero ratio samples random numbers, which a
compiled inference artifact does not reproduce, so it is refused; training mode with ratio
0 (a common export of a disabled dropout) is the identity and compiles.

The ratio and training_mode may be graph inputs. Without a training_mode, or with a
constant false one, the ratio is irrelevant. Otherwise the choice between "identity" and
"random" is made by run-time values, so the artifact computes the identity and checks at
run time (the runtime's `ember.guard.shape`, raising a one-line error) that it is not asked
for training mode with a nonzero ratio.
"""

from __future__ import annotations

from typing import Any

import tvm
from tvm import relax, tirx
from tvm.relax.frontend.onnx import onnx_frontend

from ember.errors import UnsupportedModelError

from .common import constant_values, symbolic_values
from .subgraph import constant_value

op = relax.op


#: The runtime's check of a symbolic condition; it returns its first argument.
_GUARD = "ember.guard.shape"


def _passthrough(bb: Any, data: Any) -> Any:
    return relax.Tuple([data, bb.emit(op.ones_like(data, "bool"))])


def _given(inputs: Any, index: int) -> bool:
    return len(inputs) > index and inputs[index] is not None


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
        if not _given(inputs, 2) or _is_constant_false(inputs[2]):
            return _passthrough(bb, inputs[0])  # inference: the ratio does not matter
        if constant_value(inputs[2]) is None or (
            _given(inputs, 1) and constant_value(inputs[1]) is None
        ):
            return _passthrough(bb, _checked_at_run_time(bb, inputs))
        ratio = _scalar(inputs, 1, "Dropout ratio", 0.5)
        training = _scalar(inputs, 2, "Dropout training_mode", 0.0)
        if training and ratio != 0.0:
            raise UnsupportedModelError(
                f"Dropout in training mode with ratio {ratio:g} is random; "
                "Ember compiles inference (training_mode false or ratio 0)"
            )
        return _passthrough(bb, inputs[0])


def _is_constant_false(expr: Any) -> bool:
    value = constant_value(expr)
    return value is not None and not bool(value.reshape(-1)[0])


def _checked_at_run_time(bb: Any, inputs: Any) -> Any:
    """The data, behind a run-time check that training_mode and a nonzero ratio are not both set.

    The check's condition is a symbolic int matched from a flag tensor, since the runtime's
    guard takes a TIR condition; guarding the data orders the check before its uses.
    """
    data, training = inputs[0], inputs[2]
    if _given(inputs, 1):
        ratio = inputs[1]
        nonzero = op.not_equal(ratio, relax.const(0, str(ratio.ty.dtype)))
    else:
        nonzero = relax.const(True, "bool")  # the default ratio is 0.5
    random = op.logical_and(op.astype(training, "bool"), nonzero)
    (random_var,) = symbolic_values(bb, bb.emit(random), 1, "dropout_random")
    condition = random_var == tirx.const(0, "int64")
    message = (
        "Dropout in training mode with a nonzero ratio is random; "
        "Ember compiles inference (training_mode false or ratio 0)"
    )
    return bb.emit(
        op.call_pure_packed(
            _GUARD,
            data,
            relax.prim_value(condition),
            tvm.ir.StringImm(message),
            ty_args=data.ty,
        )
    )

"""Loss operators: NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss.

TVM 0.27's importer has neither. Models exported with their loss attached (for evaluation
or distillation) carry them in inference graphs, so both are lowered to plain Relax ops.

The target class of each element picks one log-probability along axis 1; a target equal to
`ignore_index` contributes zero and, for `mean`, no weight. Such a target may lie outside
`[0, C)` (ignore_index is often -1 or -100), so it is replaced by class 0 before any lookup:
the gather never reads outside the input, and the zero weight masks the value it read.
"""

from __future__ import annotations

from typing import Any

from tvm import relax
from tvm.relax.frontend.onnx.onnx_frontend import OnnxOpConverter

from ember.errors import UnsupportedModelError

from .common import const, dtype_of, text

op = relax.op

_REDUCTIONS = ("none", "sum", "mean")


def _reduction(attr: dict[str, Any]) -> str:
    reduction = text(attr.get("reduction", "mean"))
    if reduction not in _REDUCTIONS:
        raise UnsupportedModelError(f"unsupported attribute value reduction='{reduction}'")
    return reduction


def nll_loss(
    bb: Any,
    log_prob: Any,
    target: Any,
    weight: Any | None,
    reduction: str,
    ignore_index: int | None,
) -> Any:
    """ONNX NegativeLogLikelihoodLoss of `log_prob` (N, C, d...) at `target` (N, d...)."""
    dtype = dtype_of(log_prob)
    index = target
    keep = None
    if ignore_index is not None:
        keep = bb.emit(op.not_equal(target, const(ignore_index, dtype_of(target))))
        index = bb.emit(op.where(keep, target, op.zeros_like(target)))
    picked = op.gather_elements(log_prob, op.expand_dims(index, 1), axis=1)
    picked = bb.emit(op.squeeze(picked, [1]))
    if weight is not None:
        per_element = bb.emit(op.take(weight, index, axis=0))
    else:
        per_element = bb.emit(op.ones_like(picked))
    if keep is not None:
        per_element = bb.emit(op.where(keep, per_element, op.zeros_like(per_element)))
    loss = bb.emit(op.negative(op.multiply(picked, per_element)))
    if reduction == "none":
        return loss
    total = bb.emit(op.sum(loss))
    if reduction == "sum":
        return total
    return bb.emit(op.divide(total, op.astype(op.sum(per_element), dtype)))


def _ignore_index(attr: dict[str, Any]) -> int | None:
    value = attr.get("ignore_index")
    return None if value is None else int(value)


def _optional(inputs: Any, index: int) -> Any | None:
    return inputs[index] if len(inputs) > index else None


class NegativeLogLikelihoodLoss(OnnxOpConverter):
    """Inputs input (N, C, d...), target (N, d...), optional weight (C,)."""

    @classmethod
    def _impl_v12(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        return nll_loss(
            bb,
            inputs[0],
            inputs[1],
            _optional(inputs, 2),
            _reduction(attr),
            _ignore_index(attr),
        )


class SoftmaxCrossEntropyLoss(OnnxOpConverter):
    """NLL of log_softmax(scores, axis=1); outputs the loss and, optionally, the log_prob."""

    @classmethod
    def _impl_v12(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        log_prob = bb.emit(op.nn.log_softmax(inputs[0], axis=1))
        loss = nll_loss(
            bb,
            log_prob,
            inputs[1],
            _optional(inputs, 2),
            _reduction(attr),
            _ignore_index(attr),
        )
        return relax.Tuple([loss, log_prob])

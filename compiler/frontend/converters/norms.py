"""Normalizations TVM 0.27 gets wrong in some modes: LayerNorm, RMSNorm, BatchNorm.

TVM 0.27's LayerNormalization returns placeholder zeros for the optional `Mean` and
`InvStdDev` outputs, and its RMSNormalization fails to compile when the normalized axes
cover the whole tensor (axis 0: the legalized `rms_norm` reads its weight with the wrong
number of indices). In those cases the statistics are computed with plain reductions;
otherwise TVM's fused `layer_norm` / `rms_norm` are kept. TVM's BatchNormalization in training
mode becomes a `batch_norm` that the inference decomposition normalizes with the running
statistics; Ember computes the batch's own instead.
"""

from __future__ import annotations

from typing import Any

from tvm import relax
from tvm.relax.frontend.onnx import onnx_frontend
from tvm.relax.frontend.onnx.onnx_frontend import OnnxOpConverter

from ember.errors import UnsupportedModelError

from .common import const, dtype_of

op = relax.op


def _axes(data: Any, axis: int, what: str) -> list[int]:
    """The normalized axes `axis .. rank-1` of `data`."""
    rank = int(data.ty.ndim)  # -1 when unknown
    if rank <= 0:
        raise UnsupportedModelError(f"{what} needs an input of known rank")
    if not -rank <= axis < rank:
        raise UnsupportedModelError(f"{what}: axis {axis} is out of range for rank {rank}")
    return list(range(axis % rank, rank))


def _num_outputs(attr: dict[str, Any]) -> int:
    return int(attr.get("tvm_custom", {}).get("num_outputs", 1))


def _stash(bb: Any, value: Any | None, attr: dict[str, Any]) -> Any | None:
    """`value` in the computation type: float32 when stash_type is 1 (the default)."""
    if value is None or int(attr.get("stash_type", 1)) != 1 or dtype_of(value) == "float32":
        return value
    return bb.emit(op.astype(value, "float32"))


class LayerNormalization(OnnxOpConverter):
    """Y = (X - mean) * InvStdDev * scale + bias over axes `axis..`; Mean, InvStdDev kept."""

    @classmethod
    def _impl_v17(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        if _num_outputs(attr) == 1:  # only Y: TVM's fused layer_norm
            return onnx_frontend.LayerNormalization._impl_v17(bb, inputs, attr, params)
        data, scale = inputs[0], inputs[1]
        bias = inputs[2] if len(inputs) > 2 else None
        axes = _axes(data, int(attr.get("axis", -1)), "LayerNormalization")
        x = _stash(bb, data, attr)
        compute = dtype_of(x)
        eps = const(float(attr.get("epsilon", 1e-5)), compute)
        mean = bb.emit(op.mean(x, axes, keepdims=True))
        centered = bb.emit(op.subtract(x, mean))
        variance = bb.emit(op.mean(op.multiply(centered, centered), axes, keepdims=True))
        inv_std = bb.emit(op.rsqrt(op.add(variance, eps)))
        y = op.multiply(op.multiply(centered, inv_std), _stash(bb, scale, attr))
        if bias is not None:
            y = op.add(y, _stash(bb, bias, attr))
        y = bb.emit(op.astype(y, dtype_of(data)) if compute != dtype_of(data) else y)
        return relax.Tuple([y, mean, inv_std])


class BatchNormalization(OnnxOpConverter):
    """Training mode: Y normalized by the batch's own statistics, and the running ones updated.

    Mean and population variance over every axis but 1; running_mean / running_var = input *
    momentum + batch statistic * (1 - momentum).
    """

    @classmethod
    def _impl_v15(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        if not int(attr.get("training_mode", 0)):
            return onnx_frontend.BatchNormalization._impl_v15(bb, inputs, attr, params)
        data, scale, bias, running_mean, running_var = inputs[:5]
        rank = int(data.ty.ndim)
        if rank < 2:
            raise UnsupportedModelError("BatchNormalization needs an input of known rank >= 2")
        # float16 statistics are computed in float32, as ONNX asks, to avoid overflow.
        compute = "float32" if dtype_of(data) == "float16" else dtype_of(data)

        def widened(value: Any) -> Any:
            return value if dtype_of(value) == compute else op.astype(value, compute)

        def per_channel(value: Any) -> Any:  # [C] -> [C, 1, ...] against [N, C, ...]
            return op.reshape(widened(value), [-1] + [1] * (rank - 2))

        axes = [0, *range(2, rank)]
        x = bb.emit(widened(data))
        mean = bb.emit(op.mean(x, axes))
        centered = bb.emit(op.subtract(x, per_channel(mean)))
        var = bb.emit(op.mean(op.multiply(centered, centered), axes))
        eps = const(float(attr.get("epsilon", 1e-5)), compute)
        y = op.multiply(centered, per_channel(bb.emit(op.rsqrt(op.add(var, eps)))))
        y = bb.emit(op.add(op.multiply(y, per_channel(scale)), per_channel(bias)))
        momentum = float(attr.get("momentum", 0.9))

        def updated(previous: Any, batch: Any) -> Any:
            blend = op.add(
                op.multiply(widened(previous), const(momentum, compute)),
                op.multiply(batch, const(1.0 - momentum, compute)),
            )
            return bb.emit(op.astype(blend, dtype_of(previous)))

        out_y = bb.emit(op.astype(y, dtype_of(data)))
        return relax.Tuple([out_y, updated(running_mean, mean), updated(running_var, var)])


class RMSNormalization(OnnxOpConverter):
    """Y = X / sqrt(mean(X^2) + epsilon) * scale over axes `axis..`."""

    @classmethod
    def _impl_v23(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        data, scale = inputs[0], inputs[1]
        axes = _axes(data, int(attr.get("axis", -1)), "RMSNormalization")
        if axes[0] != 0:  # TVM's fused rms_norm handles every axis but the whole tensor
            return onnx_frontend.RMSNormalization._impl_v23(bb, inputs, attr, params)
        x = _stash(bb, data, attr)
        eps = const(float(attr.get("epsilon", 1e-5)), dtype_of(x))
        mean_square = bb.emit(op.mean(op.multiply(x, x), axes, keepdims=True))
        y = op.multiply(op.multiply(x, op.rsqrt(op.add(mean_square, eps))), _stash(bb, scale, attr))
        return bb.emit(op.astype(y, dtype_of(data)) if dtype_of(x) != dtype_of(data) else y)


class LpNormalization(OnnxOpConverter):
    """x / ||x||_p along `axis` (p is 1 or 2); a zero norm gives zero, as ONNX Runtime does."""

    @classmethod
    def _impl_v1(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        x = inputs[0]
        axis = _axes(x, int(attr.get("axis", -1)), "LpNormalization")[0]
        p = int(attr.get("p", 2))
        if p == 1:
            norm = op.sum(op.abs(x), [axis], keepdims=True)
        elif p == 2:
            norm = op.sqrt(op.sum(op.multiply(x, x), [axis], keepdims=True))
        else:
            raise UnsupportedModelError(f"unsupported attribute value p={p} (1 or 2)")
        norm = bb.emit(norm)
        zero = const(0, dtype_of(x))
        return bb.emit(op.where(op.equal(norm, zero), op.zeros_like(x), op.divide(x, norm)))

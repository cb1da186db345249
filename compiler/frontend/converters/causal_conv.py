"""ONNX `CausalConvWithState` (opset 27): a depthwise causal Conv1d that carries its state.

The input is left-padded with the carried state (or zeros) of k-1 positions, convolved with
each channel's own kernel (valid padding), optionally followed by SiLU; the new state is the
last k-1 positions of the padded input. As in ONNX's reference, the convolution
accumulates and SiLU runs in float32.
"""

from __future__ import annotations

from typing import Any

from tvm import relax
from tvm.relax.frontend.onnx.onnx_frontend import OnnxOpConverter

from ember.errors import UnsupportedModelError

from .common import dtype_of, static_shape, text

op = relax.op


def _input(inputs: Any, index: int) -> Any | None:
    return inputs[index] if len(inputs) > index else None


class CausalConvWithState(OnnxOpConverter):
    """Outputs (output, present_state)."""

    @classmethod
    def _impl_v27(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        x, weight = inputs[0], inputs[1]
        bias, past = _input(inputs, 2), _input(inputs, 3)
        activation = text(attr.get("activation", b"none"))
        if activation not in ("none", "silu", "swish"):
            raise UnsupportedModelError(f"CausalConvWithState activation '{activation}'")
        batch, channels, length = static_shape(x, "CausalConvWithState input")
        k = static_shape(weight, "CausalConvWithState weight")[-1]
        dtype = dtype_of(x)
        padded = x
        if k > 1:  # a kernel of one tap carries no state
            state = past if past is not None else op.zeros([batch, channels, k - 1], dtype)
            padded = bb.emit(op.concat([state, x], axis=2))
        # Accumulate in float32 whatever the input dtype (as the reference does), then round.
        wide_in, wide_w = op.astype(padded, "float32"), op.astype(weight, "float32")
        y = bb.emit(op.nn.conv1d(wide_in, wide_w, groups=channels, out_dtype="float32"))
        if bias is not None:
            y = bb.emit(op.add(y, op.reshape(op.astype(bias, "float32"), [1, channels, 1])))
        y = bb.emit(op.astype(y, dtype))
        if activation != "none":
            wide = bb.emit(op.astype(y, "float32"))
            y = bb.emit(op.astype(op.multiply(wide, op.sigmoid(wide)), dtype))
        present = bb.emit(op.strided_slice(padded, [2], [length], [length + k - 1]))
        return relax.Tuple([y, present])

"""fp16 with float32 accumulation for CUDA targets: TVM's ToMixedPrecision, with Ember's policy.

TVM's pass computes matmuls and convolutions on fp16 operands with float32 results (the
weights, constants, are folded to fp16 afterwards), makes element-wise operators follow their
inputs' type and leaves the others (softmax, log_softmax, reductions) in float32. Ember's
policy keeps more in float32, where fp16's 11 bits and 65504 range lose results:
normalizations (LayerNorm, RMSNorm, GroupNorm, BatchNorm), exp, log and power. The graph's
inputs and outputs keep their types; casts sit at the edges.
"""

from __future__ import annotations

import tvm
from tvm import relax

from ..provenance.node_sources import keeping_tags_by_order

#: TVM's TMixedPrecisionPolicy values (relax/transform/infer_amp_utils.h).
_NEVER = 2
#: Operators TVM lets follow an fp16 input that Ember keeps in float32.
FLOAT32_OPS = (
    "relax.nn.layer_norm",
    "relax.nn.rms_norm",
    "relax.nn.group_norm",
    "relax.nn.batch_norm",
    "relax.exp",
    "relax.log",
    "relax.power",
)
#: Above TVM's own registrations (level 10), so Ember's policy wins.
_LEVEL = 11
_applied = False


def _apply_policy() -> None:
    """Register Ember's float32 operators once per process (op attributes are global)."""
    global _applied
    if _applied:
        return
    for name in FLOAT32_OPS:
        tvm.ir.register_op_attr(name, "TMixedPrecisionPolicy", _NEVER, level=_LEVEL)
    _applied = True


def mixed_precision_passes(precision: str) -> list[tvm.transform.Pass]:
    """Passes that make the module compute in `precision` ("fp32" needs none)."""
    if precision == "fp32":
        return []
    if precision != "fp16":
        raise ValueError(f"no mixed-precision passes for {precision}")
    _apply_policy()
    return [
        keeping_tags_by_order(relax.transform.ToMixedPrecision(out_dtype="float32")),
        # The casts of constant weights to fp16 become fp16 weights.
        relax.transform.FoldConstant(),
    ]

"""Fold the bias and activations after a oneDNN call into the call itself.

Precondition: `dispatch_cpu_kernels` has run (calls of `ember.dnnl.conv_nhwc` and
`ember.dnnl.matmul`), before LegalizeOps, constants folded. A chain

    y = conv_nhwc(x, w, attrs); z = add(y, bias); a = clip(z, 0, 6)

where each link's value has no other use becomes one call of the `_epilogue` variant, which
adds the bias and applies the activations to each tile of the output while it is in cache:
one pass over memory instead of three. Links: an add of a per-output-channel constant (first
only: it becomes the kernel's bias), an add of another tensor of the output's shape (a residual
connection; one per chain, then the `_residual` variant), ReLU, Clip (as `clip` or max/min with
scalar constants), GELU (erf or tanh), sigmoid and SiLU; after a matmul, also a softmax over the
last axis (`relax.nn.softmax` or its `ember.dnnl.softmax` call), which ends the chain: the
plugin runs it on each tile of whole rows while the tile is in cache, so attention's score
matrix is written once instead of written, read and written again. After a convolution,
also a QDQ rounding as `fake_quantize` writes it: `divide` by a scalar constant then `round`
(one step: round half to even of x / s), the clip to the grid's integers, and `multiply` by
a scalar constant (a linear step): a QDQ model's convolution then writes its output on its
grid, adds its residual and rounds again in one pass, instead of a kernel of its own
reading both tensors back (`quantized_library_calls` reads such an output as an int8
source). The chain's ONNX node tags move to the fused call. Postcondition: the chain's
inner bindings are gone; other calls are untouched.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import tvm
from tvm import relax

from ..ir.bindings import function_bindings, readers
from ..ir.constants import scalar_constant
from ..libraries import onednn
from ..libraries.onednn_calls import float_bits
from ..provenance.node_sources import TAGS_ATTR

_CALL_PACKED = tvm.ir.Op.get("relax.call_dps_packed")
_ADD = tvm.ir.Op.get("relax.add")
_MAXIMUM = tvm.ir.Op.get("relax.maximum")
_MINIMUM = tvm.ir.Op.get("relax.minimum")
_DIVIDE = tvm.ir.Op.get("relax.divide")
_ROUND = tvm.ir.Op.get("relax.round")
_MULTIPLY = tvm.ir.Op.get("relax.multiply")
_CLIP = tvm.ir.Op.get("relax.clip")
#: Activations without parameters -> the plugins' epilogue kind (plugins/common/epilogue.h).
_ACTIVATIONS = {
    tvm.ir.Op.get("relax.nn.gelu"): 1,
    tvm.ir.Op.get("relax.nn.gelu_tanh"): 2,
    tvm.ir.Op.get("relax.sigmoid"): 3,
    tvm.ir.Op.get("relax.nn.silu"): 4,
}
_RELU = tvm.ir.Op.get("relax.nn.relu")
_SOFTMAX = tvm.ir.Op.get("relax.nn.softmax")
_CLIP_KIND, _RESIDUAL_KIND = onednn.CLIP_STEP, onednn.RESIDUAL_STEP
_SOFTMAX_KIND = onednn.SOFTMAX_STEP
_FUSED = {onednn.CONV_NHWC: onednn.CONV_NHWC_EPILOGUE, onednn.MATMUL: onednn.MATMUL_EPILOGUE}
_WITH_RESIDUAL = {
    onednn.CONV_NHWC: onednn.CONV_NHWC_RESIDUAL,
    onednn.MATMUL: onednn.MATMUL_RESIDUAL,
}


@dataclass
class _Chain:
    """A library call and the epilogue links that follow it."""

    call: relax.Call
    vars: list[relax.Var]
    bias: np.ndarray | None = None
    #: The tensor a residual link adds, if the chain has one.
    residual: relax.Expr | None = None
    #: (kind, alpha, beta) per link after the bias, in order.
    steps: list[tuple[int, float, float]] = field(default_factory=list)

    @property
    def library_function(self) -> str:
        """The plugin function the chain starts with (`ember.dnnl.conv_nhwc` or `...matmul`)."""
        return str(self.call.args[0].global_symbol)


@tvm.transform.module_pass(opt_level=0, name="EmberFuseLibraryEpilogues")
def fuse_library_epilogues(mod: tvm.IRModule, _ctx: Any) -> tvm.IRModule:
    """Fold epilogue chains into the oneDNN calls of every Relax function (see the docstring)."""
    attrs = mod.attrs
    tags = dict(attrs[TAGS_ATTR].items()) if attrs and TAGS_ATTR in attrs else None
    changed = False
    for gvar, func in list(mod.functions.items()):
        if not isinstance(func, relax.Function) or not isinstance(func.body, relax.SeqExpr):
            continue
        chains = _chains(func)
        if not chains:
            continue
        replacements = {chain.vars[-1]: _fused_call(chain) for chain in chains}
        mod[gvar] = relax.analysis.remove_all_unused(_replace_values(func, replacements))
        changed = True
        if tags is not None:
            for chain in chains:
                names = [n for var in chain.vars for n in tags.get(var, [])]
                tags[chain.vars[-1]] = list(dict.fromkeys(names))
    if changed and tags is not None:
        mod = mod.with_attr(TAGS_ATTR, tags)
    return mod


def _chains(func: relax.Function) -> list[_Chain]:
    """Every oneDNN call in `func` with a non-empty epilogue chain after it."""
    read_by = readers(func)
    chains = []
    # Two calls can reach the same add: a ResNet block's shortcut conv and its last conv meet
    # in `add(conv_a + bias_a, conv_b + bias_b)`. The first chain takes the add (the other
    # call's output as its residual); the second stops before it, with its bias still fused.
    claimed: set[relax.Var] = set()
    for binding in function_bindings(func):
        if not _fusible_call(binding.value):
            continue
        chain = _Chain(binding.value, [binding.var])
        # Extended while the last value has one reader, a binding (not the function's result).
        while len(users := read_by.get(chain.vars[-1], [])) == 1 and users[0] is not None:
            user = users[0]
            if user.var in claimed:
                break
            rounded = _round_link(chain, user, read_by)
            if rounded is not None:
                chain.vars.extend([user.var, rounded])
                continue
            if not _extend(chain, user.value):
                break
            chain.vars.append(user.var)
        if len(chain.vars) > 1:
            chains.append(chain)
            claimed.update(chain.vars)
    return chains


def _fusible_call(value: Any) -> bool:
    if not (isinstance(value, relax.Call) and value.op.same_as(_CALL_PACKED)):
        return False
    name = str(value.args[0].global_symbol)
    return name in _FUSED and isinstance(value.ty, relax.TensorType)


def _extend(chain: _Chain, value: Any) -> bool:
    """Add `value` (an op applied to the chain's last var) to the chain, if it is a link."""
    if not isinstance(value, relax.Call) or not isinstance(value.op, tvm.ir.Op):
        return False
    last = chain.vars[-1]
    args = list(value.args)
    if not _continues(chain):
        return False
    if _is_row_softmax(value, last):
        if chain.library_function != onednn.MATMUL:
            return False
        chain.steps.append((_SOFTMAX_KIND, 0.0, 0.0))
        return True
    if value.op.same_as(_ADD) and any(a.same_as(last) for a in args):
        other = args[1] if args[0].same_as(last) else args[0]
        bias = _channel_constant(other, chain.call)
        if bias is not None and not chain.steps and chain.bias is None:
            chain.bias = bias
            return True
        if chain.residual is None and _same_shape(other, chain.call) and not other.same_as(last):
            chain.residual = other
            chain.steps.append((_RESIDUAL_KIND, 0.0, 0.0))
            return True
        return False
    if not args or not args[0].same_as(last):
        return False
    if value.op.same_as(_RELU):
        return _add_clip(chain, 0.0, math.inf)
    if value.op.same_as(_MULTIPLY) and chain.library_function == onednn.CONV_NHWC:
        factor = scalar_constant(args[1])
        if factor is None or not _keeps_shape(value):
            return False
        chain.steps.append((onednn.LINEAR_STEP, factor, 0.0))
        return True
    if value.op.same_as(_CLIP):
        bounds = [scalar_constant(a) for a in args[1:3]]
        return None not in bounds and _add_clip(chain, *bounds)  # type: ignore[arg-type]
    if value.op.same_as(_MAXIMUM) or value.op.same_as(_MINIMUM):
        bound = scalar_constant(args[1])
        if bound is None:
            return False
        if value.op.same_as(_MAXIMUM):
            return _add_clip(chain, bound, math.inf)
        return _add_clip(chain, -math.inf, bound)
    for op, kind in _ACTIVATIONS.items():
        if value.op.same_as(op):
            chain.steps.append((kind, 0.0, 0.0))
            return True
    return False


def _round_link(
    chain: _Chain, user: relax.Binding, read_by: dict[relax.Var, list[relax.Binding | None]]
) -> relax.Var | None:
    """After a convolution, `round(divide(last, s))` as one step: the round's variable."""
    if chain.library_function != onednn.CONV_NHWC or not _continues(chain):
        return None
    value = user.value
    if not (isinstance(value, relax.Call) and value.op.same_as(_DIVIDE)):
        return None
    scale = scalar_constant(value.args[1])
    if not value.args[0].same_as(chain.vars[-1]) or scale is None or not _keeps_shape(value):
        return None
    if not (np.isfinite(scale) and scale > 0):
        return None
    rounds = read_by.get(user.var, [])
    if len(rounds) != 1 or rounds[0] is None or not isinstance(rounds[0].value, relax.Call):
        return None
    if not rounds[0].value.op.same_as(_ROUND):
        return None
    chain.steps.append((onednn.ROUND_STEP, scale, 0.0))
    return rounds[0].var


def _continues(chain: _Chain) -> bool:
    """Whether a step may follow the chain's last one (nothing follows a softmax)."""
    return not (chain.steps and chain.steps[-1][0] == _SOFTMAX_KIND)


def _keeps_shape(value: relax.Call) -> bool:
    """Whether `value` (an op with a scalar constant) has its first operand's shape."""
    ty, first = value.ty, value.args[0].ty
    return (
        isinstance(ty, relax.TensorType)
        and isinstance(first, relax.TensorType)
        and (ty.ndim == first.ndim and ty.dtype == first.dtype)
    )


def _is_row_softmax(value: relax.Call, last: relax.Var) -> bool:
    """Whether `value` is a softmax of `last` over its last axis (Relax's op or the plugin's)."""
    if value.op.same_as(_SOFTMAX):
        ndim = last.ty.ndim if isinstance(last.ty, relax.TensorType) else -1
        axis = int(value.attrs.axis)
        return value.args[0].same_as(last) and ndim >= 1 and axis in (-1, ndim - 1)
    if not value.op.same_as(_CALL_PACKED):
        return False
    callee = getattr(value.args[0], "global_symbol", None)
    operands = list(value.args[1].fields)
    return str(callee) == onednn.SOFTMAX and len(operands) == 1 and operands[0].same_as(last)


def _add_clip(chain: _Chain, low: float, high: float) -> bool:
    """Append a clip, merged with a clip just before it (max then min is one clip)."""
    if chain.steps and chain.steps[-1][0] == _CLIP_KIND:
        _, prev_low, prev_high = chain.steps[-1]
        low, high = max(low, prev_low), min(high, prev_high)
        if low > high:
            return False
        chain.steps[-1] = (_CLIP_KIND, low, high)
        return True
    chain.steps.append((_CLIP_KIND, low, high))
    return True


def _channel_constant(expr: Any, call: relax.Call) -> np.ndarray | None:
    """`expr` as a float32 vector over the call's last (channel) axis, if it is one."""
    if not isinstance(expr, tvm.ir.GenericConst):
        return None
    data = expr.value.numpy()
    channels = call.ty.shape.values[-1]
    if data.dtype != np.float32 or not isinstance(channels, tvm.tirx.IntImm):
        return None
    if data.ndim > len(call.ty.shape.values) or data.size != int(channels):
        return None
    if data.ndim and data.shape[-1] != int(channels):
        return None
    return np.ascontiguousarray(data.reshape(-1))


def _same_shape(expr: Any, call: relax.Call) -> bool:
    """Whether `expr` is a float32 tensor variable of the call's shape, symbolic dims included.

    A decoder's residual adds are [1, seq, hidden] on both sides: provably equal, so they join
    the matmul before them like a fixed-shape model's.
    """
    ty = getattr(expr, "ty", None)
    if not isinstance(expr, relax.Var) or not isinstance(ty, relax.TensorType):
        return False
    if ty.dtype != "float32" or ty.shape is None or call.ty.shape is None:
        return False
    if not all(isinstance(t.shape, relax.ShapeExpr) for t in (ty, call.ty)):
        return False
    dims = [list(t.shape.values) for t in (ty, call.ty)]
    analyzer = tvm.sym.Analyzer()
    return len(dims[0]) == len(dims[1]) and all(
        analyzer.can_prove_equal(a, b) for a, b in zip(dims[0], dims[1], strict=True)
    )


def _fused_call(chain: _Chain) -> relax.Call:
    call = chain.call
    name = chain.library_function
    operands = list(call.args[1].fields)
    *tensors, attrs = operands
    channels = int(call.ty.shape.values[-1])
    bias = chain.bias if chain.bias is not None else np.zeros(channels, np.float32)
    codes = [v for kind, a, b in chain.steps for v in (kind, float_bits(a), float_bits(b))]
    values = [*attrs.values, 1, len(chain.steps), *codes]
    extra = [] if chain.residual is None else [chain.residual]
    args = [*tensors, relax.const(bias), *extra, relax.ShapeExpr(values)]
    fused = _FUSED[name] if chain.residual is None else _WITH_RESIDUAL[name]
    return relax.op.call_dps_packed(fused, args, call.ty)


def _replace_values(func: relax.Function, values: dict[relax.Var, relax.Expr]) -> relax.Function:
    blocks = []
    for block in func.body.blocks:
        bindings = [
            relax.VarBinding(b.var, values[b.var]) if b.var in values else b for b in block.bindings
        ]
        kind = relax.DataflowBlock if isinstance(block, relax.DataflowBlock) else relax.BindingBlock
        blocks.append(kind(bindings))
    body = relax.SeqExpr(blocks, func.body.body)
    return relax.Function(func.params, body, func.ret_ty, func.is_pure, func.attrs)

"""The elementwise arithmetic that feeds a softmax, computed inside the softmax's kernel.

Attention scales its scores and adds a mask before the softmax: `softmax(scores * c + mask)`.
FuseOps does not fuse elementwise producers into a softmax kernel (TVM gives it the pattern of
a convolution, whose inputs stay separate kernels), so the scaled, masked scores were written
out in full by one kernel and read back by the softmax: BERT-base spent 0.11 ms per layer on
that pass over its [12, 128, 128] scores (2 threads, AMD Zen 4). `softmax_input` finds the
producers that can be computed where the softmax reads its input instead, and builds their
TE expression.

A producer is taken when it is a float32 add, subtract, multiply or divide, produces the
softmax's full input shape (smaller operands, a [1, 1, 1, 128] mask, are read as they are)
and nothing else reads it: its buffer then disappears with it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import tvm
import tvm_ffi
from tvm import relax, te, topi

_ARITHMETIC: dict[str, Callable[[Any, Any], te.Tensor]] = {
    "relax.add": topi.add,
    "relax.subtract": topi.subtract,
    "relax.multiply": topi.multiply,
    "relax.divide": topi.divide,
}
# More than a scale and a mask, and one kernel would be recomputing a long chain twice per
# element (a softmax reads its input once for the maximum and once for the exponentials).
_MOST_FOLDED = 4


@dataclass
class SoftmaxInput:
    """A softmax's input as an expression of `leaves` (the call_te arguments)."""

    leaves: list[relax.Expr] = field(default_factory=list)
    folded: list[relax.Var] = field(default_factory=list)
    tree: Any = None

    def build(self, tensors: list[te.Tensor]) -> te.Tensor:
        """The input as a TE tensor of the leaves' placeholders, in `leaves`' order."""
        return _evaluate(self.tree, tensors)


def softmax_input(
    source: relax.Expr,
    lookup: Callable[[relax.Var], relax.Expr | None],
    readers: Counter[relax.Var],
) -> SoftmaxInput:
    """`source` (a softmax's argument) with the producers it can take in folded.

    `lookup` gives a bound variable's value (a mutator's `lookup_binding`) and `readers`
    counts each variable's readers. With nothing to fold the result is `source` as its only
    leaf.
    """
    found = SoftmaxInput()
    found.tree = _fold(source, _shape(source), lookup, readers, found)
    return found


def _fold(
    expr: relax.Expr,
    shape: relax.Expr | None,
    lookup: Callable[[relax.Var], relax.Expr | None],
    readers: Counter[relax.Var],
    found: SoftmaxInput,
) -> Any:
    value = lookup(expr) if isinstance(expr, relax.Var) else None
    if (
        shape is not None
        and isinstance(value, relax.Call)
        and isinstance(value.op, tvm.ir.Op)
        and value.op.name in _ARITHMETIC
        and getattr(value.ty, "dtype", None) == "float32"
        and tvm_ffi.structural_equal(_shape(expr), shape)
        and readers[expr] == 1
        and len(found.folded) < _MOST_FOLDED
    ):
        found.folded.append(expr)
        left, right = (_fold(arg, shape, lookup, readers, found) for arg in value.args)
        return (value.op.name, left, right)
    if isinstance(expr, tvm.ir.GenericConst) and not expr.value.shape:
        return ("scalar", expr.value.numpy().item())
    if expr not in found.leaves:
        found.leaves.append(expr)
    return ("leaf", found.leaves.index(expr))


def _evaluate(tree: Any, tensors: list[te.Tensor]) -> Any:
    kind, *parts = tree
    if kind == "leaf":
        return tensors[parts[0]]
    if kind == "scalar":
        return tvm.tirx.const(parts[0], "float32")
    left, right = (_evaluate(part, tensors) for part in parts)
    return _ARITHMETIC[kind](left, right)


def _shape(expr: relax.Expr) -> relax.Expr | None:
    """The shape of a tensor expression (symbolic dimensions included), None where unknown."""
    ty = getattr(expr, "ty", None)
    return ty.shape if isinstance(ty, relax.TensorType) else None

"""Reading the oneDNN matmul and convolution calls the dispatch pass writes, in Relax.

Their attributes are the function's leading ones (`onednn.LEADING_ATTRS`), then the fused
epilogue [has_bias, count, (kind, alpha, beta) x count], then optionally a compute type and
its values (runtime_cpp/plugins/common/epilogue.h).
"""

from __future__ import annotations

from dataclasses import dataclass

import tvm
from tvm import relax

from . import onednn

_CALL_PACKED = tvm.ir.Op.get("relax.call_dps_packed")


@dataclass(frozen=True)
class LibraryCall:
    """A oneDNN matmul or convolution call, taken apart."""

    #: The packed function, e.g. "ember.dnnl.conv_nhwc_epilogue".
    name: str
    #: Its tensor operands (source, weights, then bias and residual where it has them).
    tensors: list[relax.Expr]
    #: Its attributes as integers.
    values: list[int]

    @property
    def leading(self) -> int:
        """How many attributes come before the epilogue (the last: the weights' hash)."""
        return onednn.LEADING_ATTRS[self.name]

    @property
    def epilogue_end(self) -> int:
        """Where the epilogue ends in `values` (`leading` when the call has none)."""
        if len(self.values) == self.leading:
            return self.leading
        return self.leading + 2 + 3 * self.values[self.leading + 1]

    @property
    def compute_type(self) -> int | None:
        """The compute type after the epilogue, or None where the call has none (fp32)."""
        end = self.epilogue_end
        return self.values[end] if len(self.values) > end else None


def library_call(expr: relax.Expr) -> LibraryCall | None:
    """`expr` taken apart if it is a oneDNN matmul or convolution call, else None."""
    if not (isinstance(expr, relax.Call) and expr.op.same_as(_CALL_PACKED)):
        return None
    name = str(expr.args[0].global_symbol)
    if name not in onednn.LEADING_ATTRS:
        return None
    *tensors, attrs = list(expr.args[1].fields)
    return LibraryCall(name, tensors, [int(v) for v in attrs.values])

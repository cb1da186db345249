"""CumSum and CumProd whose axis is a graph input, known only at run time.

TVM's scans (and Ember's CumProd) need a constant axis. Here the axis becomes a 0/1 flag per
dimension (`s_d`, as for reductions with run-time axes), and one kernel serves every axis:
element `i` combines `x[i_d + s_d * (k - i_d)]` over `k` in `[0, L)`, `L = sum_d s_d * n_d`
(the scanned axis' length), keeping the `k` on the scanned side of `p = sum_d s_d * i_d`
(`k <= p`; `k < p` when exclusive; `>=`/`>` when reversed). The output has the input's shape
whatever the axis, so nothing about typing the graph waits for run time. Each element reads
the whole scanned line, which is quadratic in its length: a model whose axis is a constant
keeps TVM's linear scan.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tvm import te, tirx

from .run_time_axes import axis_flags
from .subgraph import constant_value


def _kernel(product: bool, exclusive: bool, reverse: bool) -> Callable[..., Any]:
    def compute(x: te.Tensor, flags: list[Any]) -> te.Tensor:
        n = list(x.shape)
        length = sum((flags[d] * n[d] for d in range(len(n))), tirx.const(0, "int64"))
        identity = tirx.const(1 if product else 0, x.dtype)
        combine = te.comm_reducer(
            (lambda a, b: a * b) if product else (lambda a, b: a + b),
            lambda dtype: tirx.const(1 if product else 0, dtype),
            name="prod" if product else "sum",
        )

        def body(*index: Any) -> Any:
            k = te.reduce_axis((0, length), "k")
            position = sum((flags[d] * index[d] for d in range(len(n))), tirx.const(0, "int64"))
            if reverse:
                inside = k > position if exclusive else k >= position
            else:
                inside = k < position if exclusive else k <= position
            source = tuple(index[d] + flags[d] * (k - index[d]) for d in range(len(n)))
            return combine(tirx.Select(inside, x[source], identity), axis=k)

        return te.compute(n, body, name="cumprod" if product else "cumsum")

    return compute


def scan_run_time_axis(bb: Any, name: str, data: Any, axis: Any, attr: dict[str, Any]) -> Any:
    """`name` (CumSum or CumProd) of `data` along the run-time scalar `axis`."""
    flags = axis_flags(bb, axis, len(data.ty.shape.values), "scanned")
    kernel = _kernel(
        name == "CumProd", int(attr.get("exclusive", 0)) != 0, int(attr.get("reverse", 0)) != 0
    )
    # The flags appear in no tensor's shape, so they are passed to the kernel as scalars.
    return bb.emit_te(kernel, data, flags)


def with_run_time_scan_axis(name: str, base: Any, since: int) -> Any:
    """`base`'s converter for the scan `name`, taking a run-time axis where it cannot."""

    def convert(cls: Any, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        if constant_value(inputs[1]) is None:
            return scan_run_time_axis(bb, name, inputs[0], inputs[1], attr)
        return getattr(base, f"_impl_v{since}")(bb, inputs, attr, params)

    return type(name, (base,), {f"_impl_v{since}": classmethod(convert), "__doc__": base.__doc__})

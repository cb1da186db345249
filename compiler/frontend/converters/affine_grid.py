"""AffineGrid whose `size` is a graph input, known only at run time.

TVM's converter needs `size` as a constant. Here the spatial extents become symbolic
dimensions (matched from the input's values) and one kernel computes each grid point as
`theta[n] @ (x, y[, z], 1)`, with the base coordinates ONNX defines: `-1 + 2i / (S - 1)` with
align_corners (`-1` when `S` is 1, as ONNX's reference computes it; ONNX Runtime gives 1 and
PyTorch 0 there), else `(2i + 1) / S - 1`. The coordinate axis is last and
lists x (the last spatial axis) first, as in ONNX. Constant sizes keep TVM's converter.
"""

from __future__ import annotations

from typing import Any

from tvm import relax, te, tirx
from tvm.relax.frontend.onnx import onnx_frontend

from ember.errors import UnsupportedModelError

from .common import static_shape, symbolic_values
from .subgraph import constant_value

op = relax.op


def _base(index: Any, extent: Any, align_corners: bool, dtype: str) -> Any:
    """The normalized coordinate in [-1, 1] of position `index` along an axis of `extent`."""
    i, n = index.astype(dtype), extent.astype(dtype)
    one, two = tirx.const(1, dtype), tirx.const(2, dtype)
    if align_corners:
        return tirx.Select(extent > 1, -one + two * i / (n - one), -one)
    return (two * i + one) / n - one


def _kernel(align_corners: bool) -> Any:
    def compute(theta: te.Tensor, spatial: list[Any]) -> te.Tensor:
        batch, rank = theta.shape[0], len(spatial)
        dtype = str(theta.dtype)

        def body(n: Any, *rest: Any) -> Any:
            index, coordinate = rest[:rank], rest[rank]
            # base[j]: x, y[, z] from the last spatial axis back, then the homogeneous 1.
            base = [
                _base(index[rank - 1 - j], spatial[rank - 1 - j], align_corners, dtype)
                for j in range(rank)
            ]
            total = theta[n, coordinate, rank]
            for j in range(rank):
                total = total + theta[n, coordinate, j] * base[j]
            return total

        return te.compute([batch, *spatial, rank], body, name="affine_grid")

    return compute


class AffineGrid(onnx_frontend.AffineGrid):
    """Inputs theta (N, r, r + 1) and size (N, C, *spatial), r = 2 or 3."""

    @classmethod
    def _impl_v20(cls, bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
        theta, size = inputs[0], inputs[1]
        if constant_value(size) is not None or isinstance(size, relax.ShapeExpr):
            return super()._impl_v20(bb, inputs, attr, params)
        theta_shape = static_shape(theta, "AffineGrid theta")
        rank = theta_shape[1]
        if rank not in (2, 3) or theta_shape[2] != rank + 1:
            raise UnsupportedModelError(f"AffineGrid theta of shape {theta_shape}")
        dims = symbolic_values(bb, size, rank + 2, "grid")
        kernel = _kernel(bool(attr.get("align_corners", 0)))
        return bb.emit_te(kernel, theta, dims[2:])

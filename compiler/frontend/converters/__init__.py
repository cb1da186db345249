"""Ember's ONNX converters, layered over TVM's importer without editing installed files.

TVM's `from_onnx` looks every operator up through the module-level function
`onnx_frontend._get_convert_map()` (in its unsupported-operator check and in
`_convert_operator`). `installed()` replaces that function for the duration of one import
with one returning TVM's map updated with Ember's converters, then restores it; a lock keeps
two imports in one process from interleaving. An Ember converter is an `OnnxOpConverter`
subclass (`_impl_vN(bb, inputs, attr, params)` picked by opset, as in TVM).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

_LOCK = threading.Lock()


def ember_converters() -> dict[str, Any]:
    """Operator name -> converter class, for what Ember adds or replaces."""
    from .affine_grid import AffineGrid
    from .arithmetic import BitShift, IsInf, Mod, Pow
    from .attention import Attention
    from .bitcast import BitCast
    from .causal_conv import CausalConvWithState
    from .clip import Clip
    from .conv_transpose import ConvTranspose
    from .cumulative import CumProd
    from .deform_conv import DeformConv
    from .dropout import Dropout
    from .eye_like import EyeLike
    from .gru import GRU
    from .half_precision import Conv, Gemm, LogSoftmax, MatMul, Softmax
    from .linalg import Det
    from .linear_attention import LinearAttention
    from .loop import Loop
    from .losses import NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss
    from .lstm import LSTM
    from .max_pool_indices import MaxPool
    from .non_max_suppression import NonMaxSuppression
    from .norms import (
        BatchNormalization,
        LayerNormalization,
        LpNormalization,
        RMSNormalization,
    )
    from .one_hot import OneHot
    from .pad import Pad
    from .pointwise import Celu, Elu, Gelu, Swish
    from .quantized import ConvInteger, QLinearConv, QLinearMatMul
    from .recurrent import RNN
    from .reduce_extremes import ReduceMax, ReduceMin
    from .reshape import Reshape
    from .resize import Resize, Upsample
    from .rotary_embedding import RotaryEmbedding
    from .run_time_axes import REDUCTIONS, with_run_time_axes
    from .run_time_scan_axis import with_run_time_scan_axis
    from .scan import Scan
    from .scatter import Col2Im, TensorScatter
    from .shaping import CenterCropPad, ReverseSequence
    from .signal import BlackmanWindow, HammingWindow, HannWindow, MelWeightMatrix
    from .slice import Slice
    from .space_to_depth import SpaceToDepth
    from .split import Split
    from .tfidf_vectorizer import TfIdfVectorizer
    from .top_k import TopK
    from .trilu import Trilu
    from .unsqueeze import Unsqueeze

    own = {
        "AffineGrid": AffineGrid,
        "RNN": RNN,
        "GRU": GRU,
        "LSTM": LSTM,
        "Attention": Attention,
        "Clip": Clip,
        "Gelu": Gelu,
        "QLinearMatMul": QLinearMatMul,
        "QLinearConv": QLinearConv,
        "ConvInteger": ConvInteger,
        "NegativeLogLikelihoodLoss": NegativeLogLikelihoodLoss,
        "SoftmaxCrossEntropyLoss": SoftmaxCrossEntropyLoss,
        "LayerNormalization": LayerNormalization,
        "BatchNormalization": BatchNormalization,
        "RMSNormalization": RMSNormalization,
        "CumProd": CumProd,
        "BitCast": BitCast,
        "LpNormalization": LpNormalization,
        "Celu": Celu,
        "Swish": Swish,
        "Elu": Elu,
        "Dropout": Dropout,
        "ReverseSequence": ReverseSequence,
        "CenterCropPad": CenterCropPad,
        "HannWindow": HannWindow,
        "HammingWindow": HammingWindow,
        "BlackmanWindow": BlackmanWindow,
        "MelWeightMatrix": MelWeightMatrix,
        "Col2Im": Col2Im,
        "TensorScatter": TensorScatter,
        "Det": Det,
        "DeformConv": DeformConv,
        "Scan": Scan,
        "Loop": Loop,
        "LinearAttention": LinearAttention,
        "CausalConvWithState": CausalConvWithState,
        "RotaryEmbedding": RotaryEmbedding,
        "ConvTranspose": ConvTranspose,
        "SpaceToDepth": SpaceToDepth,
        "TfIdfVectorizer": TfIdfVectorizer,
        "NonMaxSuppression": NonMaxSuppression,
        "OneHot": OneHot,
        "Trilu": Trilu,
        "Reshape": Reshape,
        "Pad": Pad,
        "Resize": Resize,
        "Upsample": Upsample,
        "Pow": Pow,
        "Mod": Mod,
        "BitShift": BitShift,
        "IsInf": IsInf,
        "EyeLike": EyeLike,
        "Split": Split,
        "TopK": TopK,
        "Slice": Slice,
        "Unsqueeze": Unsqueeze,
        "ReduceMax": ReduceMax,
        "ReduceMin": ReduceMin,
        "MaxPool": MaxPool,
        "MatMul": MatMul,
        "Softmax": Softmax,
        "LogSoftmax": LogSoftmax,
        "Gemm": Gemm,
        "Conv": Conv,
    }
    tvm = _tvm_map()
    reductions = {name: with_run_time_axes(name, own.get(name, tvm[name])) for name in REDUCTIONS}
    scans = {
        "CumSum": with_run_time_scan_axis("CumSum", tvm["CumSum"], 14),
        "CumProd": with_run_time_scan_axis("CumProd", CumProd, 26),
    }
    return {**own, **reductions, **scans}


def _tvm_map() -> dict[str, Any]:
    from tvm.relax.frontend.onnx import onnx_frontend

    original = getattr(onnx_frontend._get_convert_map, "__wrapped__", None)
    return dict((original or onnx_frontend._get_convert_map)())


def convert_map() -> dict[str, Any]:
    """TVM's converters with Ember's on top: every operator Ember can import."""
    return {**_tvm_map(), **ember_converters()}


def _tensor_results(converter: Any, names: Mapping[str, bool]) -> Any:
    """`converter`, with a shape-expression result of a node in `names` made an int64 tensor.

    A single dimension (a `PrimExpr`) becomes a tensor too where `names` maps the node to True.
    """
    import tvm
    from tvm import relax

    from .shape_arith import as_tensor

    class TensorResults(converter):
        @classmethod
        def get_converter(cls, opset: int) -> Any:
            convert = converter.get_converter(opset)

            def run(bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
                result = convert(bb, inputs, attr, params)
                name = attr["tvm_custom"]["name"]
                if name not in names or not isinstance(result, relax.Expr):
                    return result
                result = bb.normalize(result)
                if isinstance(result.ty, relax.ShapeType):
                    return as_tensor(bb, result)
                if names[name] and tvm.ir.is_prim_expr(result):
                    return as_tensor(bb, result)
                return result

            return run

    return TensorResults


class ConversionError(Exception):
    """A converter failed; names the ONNX node it was converting (TVM's errors do not)."""

    def __init__(self, node: str, op_type: str, cause: BaseException) -> None:
        from ...tvm_errors import summarize

        super().__init__(f"node '{node}' ({op_type}): {summarize(cause)}")
        self.node = node
        self.op_type = op_type
        self.cause = cause


class _NamingFailures:
    """Stands in for a converter class: its conversions raise `ConversionError` on failure."""

    def __init__(self, op: str, cls: Any) -> None:
        self._op = op
        self._cls = cls

    def get_converter(self, opset: int) -> Any:
        impl = self._cls.get_converter(opset)

        def convert(bb: Any, inputs: Any, attr: dict[str, Any], params: Any) -> Any:
            try:
                return impl(bb, inputs, attr, params)
            except ConversionError:
                raise
            except Exception as err:  # converters raise many types; keep the cause
                raise ConversionError(attr["tvm_custom"]["name"], self._op, err) from err

        return convert


def _with_symbolic_shapes(converters: dict[str, Any]) -> dict[str, Any]:
    """`converters` with the shape-arithmetic operators computing on dimensions (`shape_arith`)."""
    from .shape_arith import SYMBOLIC_OPS, symbolic_converter

    return {
        op: symbolic_converter(op, c) if op in SYMBOLIC_OPS else c for op, c in converters.items()
    }


@contextmanager
def installed(
    tensor_nodes: Mapping[str, bool] | None = None,
    wrap: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> Iterator[None]:
    """Make TVM's importer use `convert_map()` inside the `with` block.

    The nodes named in `tensor_nodes` give their readers int64 tensors where TVM's converter
    makes a shape expression (see `shape_values.tensor_result_nodes`). `wrap`, if given,
    replaces the merged map last (the importer tags converters' results with their node names
    through it, see `node_tags.NodeTagger.wrap`).
    """
    from tvm.relax.frontend.onnx import onnx_frontend

    with _LOCK:
        original = onnx_frontend._get_convert_map
        merged = _with_symbolic_shapes(convert_map())
        if tensor_nodes:
            merged = {op: _tensor_results(c, tensor_nodes) for op, c in merged.items()}
        if wrap is not None:
            merged = wrap(merged)
        merged = {op: _NamingFailures(op, c) for op, c in merged.items()}

        def patched() -> dict[str, Any]:
            return merged

        patched.__wrapped__ = original  # type: ignore[attr-defined]
        onnx_frontend._get_convert_map = patched
        try:
            yield
        finally:
            onnx_frontend._get_convert_map = original

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
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_LOCK = threading.Lock()


def ember_converters() -> dict[str, Any]:
    """Operator name -> converter class, for what Ember adds or replaces."""
    from .attention import Attention
    from .bitcast import BitCast
    from .causal_conv import CausalConvWithState
    from .conv_transpose import ConvTranspose
    from .cumulative import CumProd
    from .deform_conv import DeformConv
    from .dropout import Dropout
    from .gru import GRU
    from .linalg import Det
    from .linear_attention import LinearAttention
    from .loop import Loop
    from .losses import NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss
    from .lstm import LSTM
    from .non_max_suppression import NonMaxSuppression
    from .norms import LayerNormalization, LpNormalization, RMSNormalization
    from .pointwise import Celu, Elu, Swish
    from .quantized import ConvInteger, QLinearConv, QLinearMatMul
    from .recurrent import RNN
    from .rotary_embedding import RotaryEmbedding
    from .scan import Scan
    from .scatter import Col2Im, TensorScatter
    from .shaping import CenterCropPad, ReverseSequence
    from .signal import BlackmanWindow, HammingWindow, HannWindow, MelWeightMatrix
    from .space_to_depth import SpaceToDepth
    from .tfidf_vectorizer import TfIdfVectorizer

    return {
        "RNN": RNN,
        "GRU": GRU,
        "LSTM": LSTM,
        "Attention": Attention,
        "QLinearMatMul": QLinearMatMul,
        "QLinearConv": QLinearConv,
        "ConvInteger": ConvInteger,
        "NegativeLogLikelihoodLoss": NegativeLogLikelihoodLoss,
        "SoftmaxCrossEntropyLoss": SoftmaxCrossEntropyLoss,
        "LayerNormalization": LayerNormalization,
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
    }


def _tvm_map() -> dict[str, Any]:
    from tvm.relax.frontend.onnx import onnx_frontend

    original = getattr(onnx_frontend._get_convert_map, "__wrapped__", None)
    return dict((original or onnx_frontend._get_convert_map)())


def convert_map() -> dict[str, Any]:
    """TVM's converters with Ember's on top: every operator Ember can import."""
    return {**_tvm_map(), **ember_converters()}


@contextmanager
def installed() -> Iterator[None]:
    """Make TVM's importer use `convert_map()` inside the `with` block."""
    from tvm.relax.frontend.onnx import onnx_frontend

    with _LOCK:
        original = onnx_frontend._get_convert_map
        merged = convert_map()

        def patched() -> dict[str, Any]:
            return merged

        patched.__wrapped__ = original  # type: ignore[attr-defined]
        onnx_frontend._get_convert_map = patched
        try:
            yield
        finally:
            onnx_frontend._get_convert_map = original

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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

_LOCK = threading.Lock()


def ember_converters() -> dict[str, Any]:
    """Operator name -> converter class, for what Ember adds or replaces."""
    from .attention import Attention
    from .clip import Clip
    from .gru import GRU
    from .lstm import LSTM
    from .quantized import ConvInteger, QLinearConv, QLinearMatMul
    from .recurrent import RNN

    return {
        "RNN": RNN,
        "GRU": GRU,
        "LSTM": LSTM,
        "Attention": Attention,
        "Clip": Clip,
        "QLinearMatMul": QLinearMatMul,
        "QLinearConv": QLinearConv,
        "ConvInteger": ConvInteger,
    }


def _tvm_map() -> dict[str, Any]:
    from tvm.relax.frontend.onnx import onnx_frontend

    original = getattr(onnx_frontend._get_convert_map, "__wrapped__", None)
    return dict((original or onnx_frontend._get_convert_map)())


def convert_map() -> dict[str, Any]:
    """TVM's converters with Ember's on top: every operator Ember can import."""
    return {**_tvm_map(), **ember_converters()}


@contextmanager
def installed(
    wrap: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> Iterator[None]:
    """Make TVM's importer use `convert_map()` inside the `with` block.

    `wrap`, if given, replaces the merged map (the importer tags converters' results with
    their node names through it, see `node_tags.NodeTagger.wrap`).
    """
    from tvm.relax.frontend.onnx import onnx_frontend

    with _LOCK:
        original = onnx_frontend._get_convert_map
        merged = convert_map() if wrap is None else wrap(convert_map())

        def patched() -> dict[str, Any]:
            return merged

        patched.__wrapped__ = original  # type: ignore[attr-defined]
        onnx_frontend._get_convert_map = patched
        try:
            yield
        finally:
            onnx_frontend._get_convert_map = original

"""Read an ONNX file into a checked `ModelProto`, with one-line errors naming the file."""

from __future__ import annotations

from pathlib import Path

import onnx
from google.protobuf.message import DecodeError

from ember.errors import ModelError

#: Oldest opset the importer handles; older models are upgraded with onnx.version_converter.
MIN_OPSET = 7


def load_model(path: str | Path) -> onnx.ModelProto:
    """Load and validate an ONNX model (with its external data files, if any)."""
    path = Path(path)
    if not path.exists():
        raise ModelError(f"model file '{path}' does not exist")
    if path.is_dir():
        raise ModelError(f"model path '{path}' is a directory, not an ONNX file")
    if path.stat().st_size == 0:
        raise ModelError(f"model file '{path}' is empty")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except (DecodeError, RuntimeWarning, ValueError) as err:
        raise ModelError(f"model file '{path}' is not a valid ONNX protobuf ({err})") from None
    if not model.HasField("graph") or not model.graph.node:
        raise ModelError(f"model file '{path}' has no graph (not an ONNX model?)")
    _load_external_data(model, path)
    check_model(model, str(path))
    return model


def _load_external_data(model: onnx.ModelProto, path: Path) -> None:
    try:
        onnx.load_external_data_for_model(model, str(path.parent))
    # A missing or misplaced data file surfaces as the checker's ValidationError.
    except (OSError, ValueError, onnx.checker.ValidationError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelError(f"model file '{path}': cannot read its external data ({reason})") from None


def check_model(model: onnx.ModelProto, name: str) -> None:
    """Run `onnx.checker` and the opset check; the first problem becomes a `ModelError`."""
    opset = default_opset(model)
    newest = onnx.defs.onnx_opset_version()
    if opset is not None and opset > newest:
        raise ModelError(
            f"model '{name}' uses opset {opset}, newer than the newest this onnx package "
            f"knows ({newest}); upgrade onnx (pip install -U onnx) or export with opset {newest}"
        )
    if opset is not None and opset < MIN_OPSET:
        raise ModelError(
            f"model '{name}' uses opset {opset}; Ember needs opset {MIN_OPSET} or newer "
            f"(upgrade it with onnx.version_converter.convert_version(model, 17))"
        )
    try:
        # full_check would also run shape inference, which the importer does itself.
        onnx.checker.check_model(model)
    except (onnx.checker.ValidationError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelError(f"model '{name}' fails ONNX validation: {first}") from None


def default_opset(model: onnx.ModelProto) -> int | None:
    """The version of the default ("" or "ai.onnx") operator set the model imports."""
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return int(entry.version)
    return None

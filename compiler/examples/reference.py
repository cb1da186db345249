"""Reference outputs from ONNX Runtime, for `ember demo`, verification and the tests."""

from __future__ import annotations

from typing import Any

import numpy as np


def ort_session(model: Any, threads: int = 2) -> Any:
    """An ONNX Runtime CPU session on `threads` threads that does not spin between runs.

    A spinning pool would steal the cores Ember's thread pool runs on in the same process.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    data = model if isinstance(model, (str, bytes)) else model.SerializeToString()
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def ort_outputs(model: Any, feed: dict[str, np.ndarray], threads: int = 2) -> list[np.ndarray]:
    """Run `model` (a ModelProto, bytes or a path) once with ONNX Runtime."""
    return list(ort_session(model, threads).run(None, feed))


def relative_error(actual: np.ndarray, expected: np.ndarray) -> float:
    """Max |actual - expected| / max(|expected|), 0 for two empty or all-zero arrays."""
    if actual.shape != expected.shape:
        return float("inf")
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    diff = float(np.max(np.abs(actual.astype(np.float64) - expected))) if expected.size else 0.0
    return diff / scale if scale > 0 else diff

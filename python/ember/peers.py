"""The runtimes Ember is timed against in one process: ONNX Runtime and OpenVINO.

Each builder returns a callable that runs the model once on the given feed. The runtimes are
imported when a builder is called, never by `import ember`. Both are set up as a fair peer on
a shared machine: the given thread count, latency-oriented, float32, and (ONNX Runtime) a pool
that does not spin between runs, so the timings of the other runners in the process are not
taken from them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import OptionError

Runner = Callable[[], object]


def onnxruntime_session(source: Path | str, threads: int) -> Any:
    """ONNX Runtime's CPU provider on `threads` threads, its pool told not to spin."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])


def onnxruntime_runner(source: Path, feed: dict[str, Any], threads: int) -> Runner:
    """ONNX Runtime's CPU provider on `threads` threads."""
    session = onnxruntime_session(source, threads)
    return lambda: session.run(None, feed)


def openvino_available() -> bool:
    """Whether the `openvino` package imports here."""
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


#: Ember's `--precision` -> OpenVINO's inference precision hint.
OPENVINO_PRECISIONS = {"fp32": "f32", "bf16": "bf16", "fp16": "f16"}


def failure_line(error: Exception) -> str:
    """The informative line of a peer's multi-line error (not OpenVINO's "Exception from")."""
    lines = [ln.strip() for ln in str(error).splitlines() if ln.strip()]
    useful = [ln for ln in lines if not ln.startswith("Exception from")]
    return (useful or lines or [type(error).__name__])[0][:200]


def openvino_runner(
    source: Path, feed: dict[str, Any], threads: int, precision: str = "fp32"
) -> Runner:
    """OpenVINO's CPU plugin on `threads` threads, one stream, in `precision`.

    The default is float32: no bf16 downcast, which OpenVINO otherwise makes on CPUs with AMX.
    """
    try:
        import openvino as ov
    except ImportError:
        raise OptionError("OpenVINO is not installed (pip install openvino)") from None
    config = {
        "INFERENCE_NUM_THREADS": threads,
        "NUM_STREAMS": 1,
        "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_PRECISION_HINT": OPENVINO_PRECISIONS[precision],
    }
    compiled = ov.Core().compile_model(str(source), "CPU", config)
    request = compiled.create_infer_request()
    return lambda: request.infer(feed)

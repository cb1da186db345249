"""Fuzz worker: runs cases sent one JSON line at a time on stdin, answers one JSON line each.

Run by `fuzz_pool.Worker` as ``python -m tests.reliability.fuzz_worker``, so that a crash or a
hang inside TVM, the loader or a kernel ends this process and not pytest. Anything the
libraries print goes to stderr; the answers go to the original stdout only.

Each answer is ``{"status": "pass" | "fail", "category": ..., "detail": ...}``. A case passes
when it ends in an `EmberError` with a one-line message, or in an artifact that loads, runs and
matches ONNX Runtime (where ONNX Runtime accepts the model).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

Result = dict[str, str]


def passed(category: str, detail: str = "") -> Result:
    return {"status": "pass", "category": category, "detail": detail}


def failed(category: str, detail: str) -> Result:
    return {"status": "fail", "category": category, "detail": detail}


def ember_error(stage: str, err: BaseException) -> Result:
    """The verdict on an exception: an `EmberError` with one non-empty line passes."""
    from ember.errors import EmberError

    text = str(err)
    if not isinstance(err, EmberError):
        lines = text.strip().splitlines() or [""]
        return failed("non-ember exception", f"{stage}: {type(err).__name__}: {lines[-1][:300]}")
    if "\n" in text or not text.strip() or "Traceback" in text:
        return failed("multi-line message", f"{stage}: {text[:500]!r}")
    return passed(f"{stage} error: {type(err).__name__}", text)


def make_feed(inputs: list[Any], seed: int = 0) -> dict[str, np.ndarray]:
    """Random inputs for a loaded model; symbolic dimensions take the value 2."""
    rng = np.random.default_rng(seed)
    feed = {}
    for spec in inputs:
        shape = [d if isinstance(d, int) else 2 for d in spec.shape]
        dtype = np.dtype(spec.dtype)
        if dtype.kind == "f":
            feed[spec.name] = rng.standard_normal(shape).astype(dtype)
        elif dtype.kind == "b":
            feed[spec.name] = rng.random(shape) < 0.5
        else:
            feed[spec.name] = rng.integers(0, 3, shape).astype(dtype)
    return feed


def ort_run(source: str, feed: dict[str, np.ndarray]) -> list[np.ndarray] | str:
    """ONNX Runtime's outputs, or "model" / "inputs" where it rejects the model or the run."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 4
    try:
        session = ort.InferenceSession(source, opts, providers=["CPUExecutionProvider"])
    except Exception:  # ORT rejecting a mutated model is fine: Ember need only run it
        return "model"
    try:
        return list(session.run(None, feed))
    except Exception:
        return "inputs"


def compare(got: list[np.ndarray], want: list[np.ndarray]) -> str | None:
    """Why `got` differs from ONNX Runtime's `want`, or None when they match."""
    if len(got) != len(want):
        return f"{len(got)} outputs, ONNX Runtime gives {len(want)}"
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        if g.shape != w.shape or g.dtype != w.dtype:
            return f"output {i}: {g.dtype}{list(g.shape)}, ONNX Runtime {w.dtype}{list(w.shape)}"
        if w.dtype.kind != "f":
            if not np.array_equal(g, w):
                return f"output {i}: values differ"
            continue
        scale = float(np.nanmax(np.abs(w), initial=0.0)) if w.size else 0.0
        if not np.allclose(g, w, rtol=1e-4, atol=1e-4 * scale + 1e-6, equal_nan=True):
            return f"output {i}: max difference {np.nanmax(np.abs(g - w))}"
    return None


#: Mutated dimensions can ask for terabytes; such a model compiles but is not run.
MAX_INPUT_ELEMENTS = 1 << 24


def _elements(shape: tuple[Any, ...]) -> int:
    return int(np.prod([d if isinstance(d, int) else 2 for d in shape], dtype=object))


def check_artifact(source: str, artifact: str) -> Result:
    """A compiled case: the artifact must load and run, and match ORT where ORT runs it."""
    import ember
    from ember.errors import EmberError

    try:
        model = ember.load(artifact, threads=1)
    except Exception as err:
        return failed("compiled but does not load", f"{type(err).__name__}: {err}")
    if any(_elements(spec.shape) > MAX_INPUT_ELEMENTS for spec in model.inputs):
        return passed("compiled, inputs too large to run")
    feed = make_feed(model.inputs)
    want = ort_run(source, feed)
    try:
        got = model.run(feed)
    except EmberError as err:
        verdict = ember_error("run", err)
        if isinstance(want, str) or verdict["status"] == "fail":
            return verdict
        return failed("ONNX Runtime runs it, Ember fails", str(err))
    except Exception as err:
        return ember_error("run", err)
    if want == "model":
        return passed("compiled, ONNX Runtime rejects the model; runs")
    if want == "inputs":
        # Known gap (see KNOWN_GAPS in test_fuzz_frontend.py): TVM does not check at run time
        # the constraints an operator puts on symbolic dimensions (MatMul's inner dimension,
        # Reshape's element count), so inputs ONNX Runtime refuses run anyway.
        return passed("compiled, ONNX Runtime refuses the inputs; runs (known gap)")
    why = compare(got, want)
    return failed("wrong answer", why) if why else passed("compiled, matches ONNX Runtime")


def compile_case(source: str, artifact: str) -> Result:
    """`ember.compiler.api.compile_model` on a (mutated) model file."""
    from ember.compiler.api import compile_model

    try:
        compile_model(source, "x86", artifact)
    except Exception as err:
        return ember_error("compile", err)
    return check_artifact(source, artifact)


def cli(args: list[str]) -> tuple[int, str]:
    """`ember ARGS` in this process: the exit code and what it wrote to stderr."""
    from ember.cli.app import main

    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        try:
            main(args)
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, stderr.getvalue()


def cli_error(stage: str, code: int, stderr: str) -> Result:
    """The verdict on a failed command: exit 1 and one last line `error: ...`, not internal."""
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    last = lines[-1] if lines else ""
    if code != 1 or not last.startswith("error: ") or "internal error" in last:
        return failed(f"{stage}: bad failure", f"exit {code}, stderr {stderr[-500:]!r}")
    if "Traceback" in stderr:
        return failed(f"{stage}: traceback", stderr[-500:])
    return passed(f"{stage} error", last)


def cli_compile_case(source: str, artifact: str) -> Result:
    """`ember compile SOURCE -o ARTIFACT`, in process."""
    code, stderr = cli(["compile", source, "-o", artifact])
    if code != 0:
        return cli_error("ember compile", code, stderr)
    return check_artifact(source, artifact)


def load_case(artifact: str) -> Result:
    """A corrupted artifact: `ember.load` and `ember.read_manifest` must refuse it cleanly."""
    import ember
    from ember.errors import ArtifactError

    name = Path(artifact).name
    for what, call in (("load", ember.load), ("read_manifest", ember.read_manifest)):
        try:
            call(artifact)
        except ArtifactError as err:  # IncompatibleArtifactError is a subclass
            verdict = ember_error(what, err)
            if verdict["status"] == "fail":
                return verdict
            if name not in str(err) or "ember compile" not in str(err):
                return failed("unhelpful message", f"{what}: {err}")
        except Exception as err:
            return failed(f"{what}: not an ArtifactError", f"{type(err).__name__}: {err}")
        else:
            return failed("corruption accepted", f"{what} succeeded")
    return passed("refused", "")


def inspect_case(artifact: str) -> Result:
    """`ember inspect ARTIFACT` on a corrupted artifact, in process."""
    code, stderr = cli(["inspect", artifact])
    if code == 0:
        return failed("corruption accepted", "ember inspect succeeded")
    return cli_error("ember inspect", code, stderr)


def handle(case: dict[str, str]) -> Result:
    mode = case["mode"]
    if mode == "compile":
        return compile_case(case["path"], case["out"])
    if mode == "cli_compile":
        return cli_compile_case(case["path"], case["out"])
    if mode == "load":
        return load_case(case["path"])
    if mode == "inspect":
        return inspect_case(case["path"])
    return failed("bad case", f"unknown mode {mode!r}")


def main() -> None:
    # Answers go to a private copy of stdout; whatever the libraries print goes to stderr.
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    for line in sys.stdin:
        case = json.loads(line)
        print(f"case {case['id']}: {case['mode']} {case['path']}", file=sys.stderr, flush=True)
        try:
            result = handle(case)
        except Exception as err:  # a bug in this worker, reported rather than fatal
            result = failed("worker error", f"{type(err).__name__}: {err}")
        answers.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()

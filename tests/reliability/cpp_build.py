"""Build and run the C/C++ tests (tests/cpp) with CMake + ctest, for the reliability tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

REPO = Path(__file__).resolve().parents[2]


def symbolic_model() -> onnx.ModelProto:
    """y = (a + b) @ w: inputs a, b float32[batch, 4], a 64 KiB weight w (4 x 4096), so that a
    model leaked per load shows in resident memory."""
    w = np.linspace(-1, 1, 4 * 4096, dtype=np.float32).reshape(4, 4096)
    f = TensorProto.FLOAT
    graph = helper.make_graph(
        [helper.make_node("Add", ["a", "b"], ["s"]), helper.make_node("MatMul", ["s", "w"], ["y"])],
        "symbolic",
        [helper.make_tensor_value_info(n, f, ["batch", 4]) for n in ("a", "b")],
        [helper.make_tensor_value_info("y", f, ["batch", 4096])],
        [numpy_helper.from_array(w, "w")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def sh(*args: str | Path, timeout: float = 600, env: dict[str, str] | None = None) -> str:
    """Run a command; its stdout and stderr, or an assertion error that shows them."""
    proc = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=timeout, env=env
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return proc.stdout + proc.stderr


def configure_and_build(
    source: Path, build: Path, *defines: str, targets: tuple[str, ...] = ()
) -> None:
    """`cmake -S source -B build` (Ninja when available) and a 2-job build."""
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    sh("cmake", "-S", source, "-B", build, *generator, *defines)
    target_args = [a for t in targets for a in ("--target", t)]
    sh("cmake", "--build", build, "-j", "2", *target_args)


def ctest(build: Path, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    """Run every test of `build`, verbosely; the output (figures included)."""
    out = sh("ctest", "--test-dir", build, "--output-on-failure", "-V", timeout=timeout, env=env)
    assert "100% tests passed" in out, out[-4000:]
    return out

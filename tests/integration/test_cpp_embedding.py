"""C++ users: the installed CMake package builds examples/cpp and the C/C++ tests, which run."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest

from ember.compiler.api import compile_model
from ember.compiler.examples.reference import ort_session
from tests.conftest import assert_close_to_ort, generation_example, random_feed

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def sh(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, cwd=cwd, timeout=600
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def cmake_build(source: Path, build: Path, *defines: str) -> None:
    cmakedir = sh(shutil.which("ember") or "ember", "config", "--cmakedir").stdout.strip()
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    sh("cmake", "-S", source, "-B", build, *generator, f"-Dember_DIR={cmakedir}", *defines)
    sh("cmake", "--build", build, "-j", "2")


@pytest.fixture(scope="module")
def example_programs(tmp_path_factory) -> Path:
    """examples/cpp built once against the installed CMake package."""
    build = tmp_path_factory.mktemp("examples_cpp")
    cmake_build(REPO / "examples" / "cpp", build)
    return build


@pytest.fixture(scope="module")
def two_input_model(compile_example):
    """Two inputs with a shared symbolic batch, two outputs: exercises order and symbols."""
    from onnx import TensorProto, helper

    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, ["batch", 8])
    b = helper.make_tensor_value_info("b", TensorProto.FLOAT, ["batch", 8])
    nodes = [
        helper.make_node("Add", ["a", "b"], ["sum"]),
        helper.make_node("Mul", ["a", "b"], ["prod"]),
    ]
    outs = [
        helper.make_tensor_value_info(n, TensorProto.FLOAT, ["batch", 8]) for n in ("sum", "prod")
    ]
    proto = helper.make_model(
        helper.make_graph(nodes, "two", [a, b], outs), opset_imports=[helper.make_opsetid("", 17)]
    )
    return compile_example("cpp_two", proto)


def test_example_program_matches_onnxruntime(
    compile_example, two_input_model, example_programs, tmp_path
):
    program = example_programs / "ember_run"
    for source, artifact in (compile_example("cnn"), two_input_model):
        feed = random_feed(onnx.load(source), seed=7, batch=3)
        paths = []
        for name, array in feed.items():
            paths.append(tmp_path / f"{name}.npy")
            np.save(paths[-1], array)
        out = tmp_path / f"out_{source.stem}"
        out.mkdir()
        sh(program, artifact, out, *paths)
        count = len(onnx.load(source).graph.output)
        outputs = [np.load(out / f"output_{i}.npy") for i in range(count)]
        assert_close_to_ort(source, feed, outputs)


def test_example_program_reports_errors(compile_example, example_programs, tmp_path):
    _, artifact = compile_example("cnn")
    np.save(tmp_path / "wrong.npy", np.zeros((1, 3, 31, 32), np.float32))
    proc = subprocess.run(
        [example_programs / "ember_run", artifact, tmp_path, tmp_path / "wrong.npy"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: input 'input'")
    assert proc.stderr.count("\n") == 1


def test_generation_program_gives_onnxruntimes_tokens(example_programs, tmp_path):
    """examples/cpp/generate.cc: prefill of 16 tokens with empty caches, then 31 decode steps
    feeding the returned caches back; the 32 greedy tokens are those of the same loop run by
    ONNX Runtime on the ONNX decoder."""
    from ember.compiler.examples.decoder_model import DecoderShape, kv_decoder

    shape = DecoderShape()
    source = tmp_path / "decoder.onnx"
    onnx.save(kv_decoder(shape), source)
    artifact = compile_model(source, "x86", tmp_path / "decoder.so")
    prompt = np.random.default_rng(3).integers(0, shape.vocab, (1, 16)).astype(np.int64)

    reference = ort_session(str(source))
    cache = (shape.layers, 1, shape.kv_heads, 0, shape.head_dim)
    want = generation_example().generate(lambda f: reference.run(None, f), prompt, cache, 32)

    proc = sh(example_programs / "ember_generate", artifact, "32", *prompt[0].tolist())
    assert [int(t) for t in proc.stdout.split()] == want


def test_generation_program_names_a_bad_argument(example_programs, tmp_path):
    # Arguments are read before the model is loaded: no artifact is needed to be told.
    proc = subprocess.run(
        [example_programs / "ember_generate", tmp_path / "d.so", "many", "1"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert proc.stderr == "error: TOKENS 'many' is not a whole number\n"


def test_cpp_thread_safety_and_c_abi(compile_example, tmp_path):
    _, artifact = compile_example("transformer")
    build = tmp_path / "build"
    cmake_build(
        REPO / "tests" / "cpp", build, f"-DEMBER_TEST_MODEL={artifact}", "-DEMBER_TEST_RUNS=50"
    )
    proc = sh("ctest", "--test-dir", build, "--output-on-failure")
    assert "100% tests passed" in proc.stdout

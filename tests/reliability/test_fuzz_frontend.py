"""Fuzzing the front end: random bytes, truncated files and seeded mutations of small valid
models, through `compile_model` and `ember compile`. Every case must end in an `EmberError`
with a one-line message, or in an artifact that runs and matches ONNX Runtime; never a crash,
a hang, a traceback or another exception type.

CI runs a sample; `--fuzz-cases N` runs N cases per chunk, `--fuzz-seed S` another corpus.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import ember
from ember.errors import EmberError
from tests.conftest import FUZZ_SEED, fuzz_setting
from tests.reliability.fuzz_pool import run_cases
from tests.reliability.mutate import Case, bytes_case, structural_case
from tests.reliability.seed_models import SEEDS

#: The cases run in this many test items, which pytest-xdist spreads over its workers.
CHUNKS = 4
#: Cases per chunk in CI (about 0.05 s each on average).
CI_CASES_PER_CHUNK = 250


def make_cases(seed: int, chunk: int, count: int, folder: Path) -> list[tuple[str, dict]]:
    """Chunk `chunk`'s cases: two structural mutations for each byte-level one; every tenth
    case goes through the CLI rather than the API."""
    cases = []
    for n in range(count):
        index = n * CHUNKS + chunk
        case: Case = bytes_case(seed, index) if index % 3 == 0 else structural_case(seed, index)
        path = folder / f"case{index}.onnx"
        path.write_bytes(case.data)
        mode = "cli_compile" if index % 10 == 0 else "compile"
        label = f"seed {seed} case {index} [{mode}] {case.seed_model}: {case.description}"
        cases.append(
            (label, {"mode": mode, "path": str(path), "out": str(path.with_suffix(".so"))})
        )
    return cases


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_mutated_models_fail_cleanly_or_compile_correctly(
    request, tmp_path, record_property, chunk
):
    seed = fuzz_setting(request.config, "--fuzz-seed", "EMBER_FUZZ_SEED", FUZZ_SEED)
    count = fuzz_setting(request.config, "--fuzz-cases", "EMBER_FUZZ_CASES", CI_CASES_PER_CHUNK)
    tally = run_cases(make_cases(seed, chunk, count, tmp_path), tmp_path / "worker.log")
    summary = f"front-end fuzz, seed {seed}, chunk {chunk}/{CHUNKS}: {tally.summary()}"
    record_property("reliability", summary)
    print(summary)
    assert not tally.failures, f"{len(tally.failures)} failing cases:\n" + "\n".join(
        tally.failures[:25]
    )
    # The corpus must reach the compiler, not only the protobuf parser.
    compiled = sum(n for c, n in tally.counts.items() if c.startswith("compiled"))
    assert compiled >= max(1, count // 60), tally.summary()
    assert sum(n for c, n in tally.counts.items() if "error" in c) >= count // 4, tally.summary()


def test_seed_corpus_compiles_and_matches_onnxruntime(tmp_path):
    cases = []
    for name, build in SEEDS.items():
        path = tmp_path / f"{name}.onnx"
        path.write_bytes(build().SerializeToString())
        cases.append(
            (name, {"mode": "compile", "path": str(path), "out": str(tmp_path / f"{name}.so")})
        )
    tally = run_cases(cases, tmp_path / "worker.log")
    assert tally.counts == {"compiled, matches ONNX Runtime": len(SEEDS)}, tally.failures


@pytest.mark.parametrize(
    "content",
    [b"\x00" * 100, b"\xff" * 7, b"\x08\x07\x12\x04junk", "truncated", "flipped"],
    ids=["zeros", "ones", "junk", "truncated", "flipped"],
)
def test_ember_compile_command_prints_one_error_line(tmp_path, content):
    data = SEEDS["conv"]().SerializeToString()
    if content == "truncated":
        content = data[: len(data) // 2]
    elif content == "flipped":
        content = bytearray(data)
        content[0] ^= 0xFF
        content = bytes(content)
    source = tmp_path / "fuzzed.onnx"
    source.write_bytes(content)
    proc = subprocess.run(
        [shutil.which("ember") or "ember", "compile", source, "-o", tmp_path / "out.so"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert "fuzzed.onnx" in proc.stderr and "internal error" not in proc.stderr
    assert not (tmp_path / "out.so").exists()


def _matmul_with_symbolic_inner_dim() -> onnx.ModelProto:
    f = TensorProto.FLOAT
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["a", "b"], ["y"], name="matmul")],
        "g",
        [helper.make_tensor_value_info(n, f, ["batch", 4]) for n in ("a", "b")],
        [helper.make_tensor_value_info("y", f, ["batch", 4])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_symbolic_dimension_constraints_are_checked_at_run_time(compile_example):
    _, artifact = compile_example("fuzz_matmul_gap", _matmul_with_symbolic_inner_dim())
    x = np.ones((2, 4), np.float32)
    with pytest.raises(EmberError):
        ember.load(artifact).run({"a": x, "b": x})

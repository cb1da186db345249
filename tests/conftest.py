"""Shared fixtures: example models built in code, compiled once per test session."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import onnx
import pytest

from ember.compiler.api import compile_model
from ember.compiler.examples import models
from ember.compiler.examples.reference import ort_outputs
from ember.compiler.options import CompileOptions

#: Outputs must match ONNX Runtime within this relative error (issue: 1e-4).
RTOL = 1e-4


@pytest.fixture(scope="session")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


def save_model(proto: onnx.ModelProto, folder: Path, name: str) -> Path:
    path = folder / f"{name}.onnx"
    onnx.save(proto, path)
    return path


@pytest.fixture(scope="session")
def compile_example(build_dir: Path) -> Callable[..., tuple[Path, Path]]:
    """Compile a model once per session; returns (onnx path, artifact path)."""
    cache: dict[str, tuple[Path, Path]] = {}

    def get(name: str, proto: onnx.ModelProto | None = None, **shapes: tuple[int, ...]):
        key = name + repr(sorted(shapes.items()))
        if key not in cache:
            source = save_model(proto or models.EXAMPLES[name](), build_dir, name)
            out = build_dir / f"{name}_{len(cache)}.so"
            # NCHW, not auto: auto times both layouts, and on a loaded machine its pick (hence
            # the kernels these tests name) could change between runs.
            options = CompileOptions(input_shapes=dict(shapes), layout="nchw")
            compile_model(source, "x86", out, options)
            cache[key] = (source, out)
        return cache[key]

    return get


def random_feed(proto: onnx.ModelProto, seed: int = 0, **dims: int) -> dict[str, np.ndarray]:
    """Random float32 inputs for `proto`; symbolic dimensions take values from `dims` or 2."""
    rng = np.random.default_rng(seed)
    feed = {}
    init = {t.name for t in proto.graph.initializer}
    for value in proto.graph.input:
        if value.name in init:
            continue
        shape = [
            d.dim_value if d.HasField("dim_value") else dims.get(d.dim_param, 2)
            for d in value.type.tensor_type.shape.dim
        ]
        feed[value.name] = rng.standard_normal(shape).astype(np.float32)
    return feed


def assert_close_to_ort(source: Path, feed: dict[str, np.ndarray], outputs: list[np.ndarray]):
    expected = ort_outputs(str(source), feed)
    assert len(outputs) == len(expected)
    for got, want in zip(outputs, expected, strict=True):
        assert got.shape == want.shape
        assert got.dtype == want.dtype
        scale = float(np.max(np.abs(want)))
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=RTOL * scale)


# Fuzzing (tests/reliability): `--fuzz-cases N` / EMBER_FUZZ_CASES runs more cases than CI's
# sample, `--fuzz-seed S` / EMBER_FUZZ_SEED another corpus; each fuzz test records its tally.
FUZZ_SEED = 20261123


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ember fuzzing")
    group.addoption(
        "--fuzz-cases", type=int, default=None, help="cases per fuzz test (CI: a sample)"
    )
    group.addoption("--fuzz-seed", type=int, default=None, help=f"fuzz seed (default {FUZZ_SEED})")


def fuzz_setting(config: pytest.Config, option: str, env: str, default: int) -> int:
    """A fuzz setting: the command-line option, else the environment variable, else `default`."""
    import os

    value = config.getoption(option)
    return int(value if value is not None else os.environ.get(env, default))


def pytest_report_header(config: pytest.Config) -> str:
    seed = fuzz_setting(config, "--fuzz-seed", "EMBER_FUZZ_SEED", FUZZ_SEED)
    cases = config.getoption("--fuzz-cases") or "CI sample"
    return f"ember fuzz: seed {seed}, cases per fuzz test: {cases} (--fuzz-cases N for more)"


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    lines = [
        str(value)
        for key in ("passed", "failed")
        for report in terminalreporter.stats.get(key, [])
        if report.when == "call"
        for name, value in report.user_properties
        if name == "reliability"
    ]
    if lines:
        terminalreporter.section("reliability figures")
        for line in sorted(lines):
            terminalreporter.write_line(line)


def generation_example() -> ModuleType:
    """`examples/generate.py`, the generation loop users copy (not a package: loaded by path)."""
    path = Path(__file__).parents[1] / "examples" / "generate.py"
    spec = importlib.util.spec_from_file_location("ember_generate_example", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

"""Concurrency and memory: the C++ tests (8 threads x 500 runs against the single-threaded
result, input validation through the C++ API and the C ABI, a 10,000-run soak and 1,000
load/unload cycles) via ctest, and the same soak through the Python binding."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from tests.reliability.cpp_build import REPO, configure_and_build, ctest, symbolic_model

#: TVM's pool workers spin (sched_yield) before they sleep; with 8 caller threads, each with
#: its own pool, on 2 cores the spinning dominates. Not spinning changes no result.
NO_SPIN = {"TVM_THREAD_POOL_SPIN_COUNT": "0"}


@pytest.fixture(scope="module")
def symbolic_artifact(compile_example):
    return compile_example("reliability_symbolic", symbolic_model())[1]


@pytest.mark.slow
def test_cpp_threads_validation_soak(symbolic_artifact, tmp_path, record_property):
    ember_cli = shutil.which("ember") or "ember"
    cmakedir = subprocess.run([ember_cli, "config", "--cmakedir"], capture_output=True, text=True)
    configure_and_build(
        REPO / "tests" / "cpp",
        tmp_path / "build",
        f"-Dember_DIR={cmakedir.stdout.strip()}",
        f"-DEMBER_TEST_MODEL={symbolic_artifact}",
        f"-DEMBER_TEST_SYMBOLIC_MODEL={symbolic_artifact}",
    )
    out = ctest(tmp_path / "build", env={**os.environ, **NO_SPIN})
    threads = re.search(r"(\d+) runs on (\d+) threads .*, (\d+) mismatching", out)
    soak = re.search(r"soak: (\d+) runs, .* growth ([\d.]+)%, (\d+) mismatches", out)
    loads = re.search(r"load/unload: (\d+) cycles, .* growth (-?\d+) kB", out)
    assert threads and soak and loads, out[-3000:]
    assert threads.groups() == ("4000", "8", "0") and soak.group(1) == "10000"
    assert "validation_test: 0 failures" in out
    record_property(
        "reliability",
        f"C++: {threads.group(2)} threads x 500 runs, {threads.group(3)} mismatches; "
        f"soak {soak.group(1)} runs, RSS growth {soak.group(2)}%; "
        f"{loads.group(1)} load/unload cycles, RSS growth {loads.group(2)} kB",
    )


def test_python_soak_and_load_unload(symbolic_artifact, record_property):
    proc = subprocess.run(
        [sys.executable, "-m", "tests.reliability.soak_python", symbolic_artifact, "10000", "1000"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    soak, load = figures["soak"], figures["load"]
    record_property(
        "reliability",
        f"Python: soak {soak['runs']} runs, RSS growth {soak['growth_pct']:.3f}%; "
        f"{load['loads']} load/unload cycles, RSS growth {load['growth_kb']:.0f} kB",
    )
    assert soak["mismatches"] == 0
    assert soak["growth_pct"] < 1.0, figures
    # One model leaked per load (VM, 64 KiB of weights, library mapping) would exceed this.
    assert load["growth_kb"] < 4096, figures

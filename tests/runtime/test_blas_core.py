"""The plugins' OpenBLAS picks its kernels for this CPU, not from the system's OPENBLAS_CORETYPE.

OpenBLAS chooses its kernel family once per process, when it loads, so each case runs in a
fresh interpreter: it loads an artifact that uses the plugin through the runtime (or the
compiler's loader) and prints the family OpenBLAS chose and the variable's value afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ember.runtime import read_manifest

_THROUGH_RUNTIME = """
import json, os, sys
import numpy as np
import ember
model = ember.load(sys.argv[1])
inputs = {i.name: np.ones([d if isinstance(d, int) else 1 for d in i.shape], np.float32)
          for i in model.inputs}
model.run(inputs)
import tvm
core = str(tvm.get_global_func("ember.cpu.blas_core")())
print(json.dumps([core, os.environ.get("OPENBLAS_CORETYPE")]))
"""

_THROUGH_COMPILER = """
import json, os
from ember._plugins import load_plugin
from ember.profiling import blas_core
load_plugin("cpu_blas")
print(json.dumps([blas_core(), os.environ.get("OPENBLAS_CORETYPE")]))
"""


def _chosen(script: str, artifact: Path, **env: str) -> tuple[str, str | None]:
    clean = {k: v for k, v in os.environ.items() if "BLAS_CORETYPE" not in k}
    done = subprocess.run(
        [sys.executable, "-c", script, str(artifact)],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    core, after = json.loads(done.stdout.strip().splitlines()[-1])
    return core, after


@pytest.fixture(scope="module")
def artifact(compile_example) -> Path:
    _, path = compile_example("cnn")
    assert "cpu_blas" in read_manifest(path)["plugins"]
    return path


@pytest.mark.parametrize(
    "script", [_THROUGH_RUNTIME, _THROUGH_COMPILER], ids=["runtime", "compiler"]
)
def test_system_coretype_does_not_choose_and_is_restored(artifact: Path, script: str) -> None:
    detected, _ = _chosen(script, artifact)
    # SSE4.2 kernels: every x86-64 OpenBLAS build has them, and no AVX2 CPU detects as them.
    core, after = _chosen(script, artifact, OPENBLAS_CORETYPE="Nehalem")
    assert core == detected
    assert after == "Nehalem"


@pytest.mark.parametrize(
    "script", [_THROUGH_RUNTIME, _THROUGH_COMPILER], ids=["runtime", "compiler"]
)
def test_ember_blas_coretype_chooses(artifact: Path, script: str) -> None:
    core, after = _chosen(script, artifact, EMBER_BLAS_CORETYPE="Nehalem")
    assert core == "Nehalem"
    assert after is None

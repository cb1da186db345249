"""benchmarks/gpu: the bundle is built and checked end to end, on the CPU (no GPU here).

make_bundle.py exports through PyTorch, so this runs where PyTorch is installed (it is not a
test dependency); on a GPU machine the same check.py runs with `--device cuda:0`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
BUILD = ["--models", "mlp", "--target", "x86"]
CHECK = ["--device", "cpu", "--no-torch", "--runs", "5"]


def test_bundle_checks_its_artifacts_with_the_packaged_runtime(tmp_path):
    bundle = tmp_path / "bundle"
    made = subprocess.run(
        [sys.executable, str(BENCHMARKS / "gpu" / "make_bundle.py"), str(bundle), *BUILD],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert made.returncode == 0, made.stderr
    assert (bundle / "art" / "mlp.so.xz").is_file()
    assert not list(bundle.rglob("libtvm_compiler*")), "TVM's compiler was bundled"
    out = tmp_path / "results"
    checked = subprocess.run(
        [sys.executable, str(bundle / "check.py"), "--out", str(out), *CHECK],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert checked.returncode == 0, checked.stderr
    results = json.loads((out / "results.json").read_text())
    assert results["environment"]["compiler_loaded"] is False
    mlp = results["results"]["mlp"]
    assert mlp["rel_error"] < 1e-5, mlp
    assert mlp["ember_ms"] > 0 and mlp["input"] == "64x1024"
    assert "| mlp | 64x1024 |" in checked.stdout

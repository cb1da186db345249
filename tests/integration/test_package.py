"""`ember package`: a folder that runs artifacts where neither Ember nor TVM is installed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from ember.compiler.examples import models
from ember.compiler.examples.reference import ort_outputs
from ember.packaging import SITE
from tests.conftest import RTOL, random_feed, save_model
from tests.integration.test_cli import assert_one_line_error, ember

# Run in the packaged folder by a Python that sees only it and NumPy (-S: no site-packages).
RUN_PACKAGED = """
import json, sys
import numpy as np
import ember
try:
    import tvm.relax
    compiler = True
except ImportError:
    compiler = False
results = {"compiler": compiler, "ember": ember.__file__, "version": ember.__version__}
for artifact, feed_path, out_path in json.loads(sys.argv[1]):
    outputs = ember.load(artifact, threads=2).run(dict(np.load(feed_path)))
    np.savez(out_path, *outputs)
print(json.dumps(results))
"""


def _numpy_only(folder: Path) -> Path:
    """A folder whose only importable packages are NumPy's."""
    site = Path(np.__file__).resolve().parent.parent
    folder.mkdir()
    for name in ("numpy", "numpy.libs"):
        if (site / name).exists():
            (folder / name).symlink_to(site / name)
    return folder


@pytest.fixture(scope="module")
def packaged(tmp_path_factory):
    folder = tmp_path_factory.mktemp("package")
    sources = {
        "cnn": save_model(models.small_cnn(), folder, "cnn"),
        "mlp": save_model(models.mlp(), folder, "mlp"),
    }
    artifacts = []
    for name, source in sources.items():
        proc = ember("compile", str(source), "-o", str(folder / f"{name}.so"))
        assert proc.returncode == 0, proc.stderr
        artifacts.append(str(folder / f"{name}.so"))
    out = folder / "deploy"
    proc = ember("package", *artifacts, "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert f"wrote {out}" in proc.stdout
    return sources, out


def test_packaged_folder_runs_artifacts_without_ember_or_tvm_installed(packaged, tmp_path):
    sources, out = packaged
    jobs, wants = [], {}
    for name, source in sources.items():
        feed = random_feed(onnx.load(source), seed=5)
        np.savez(tmp_path / f"{name}_in.npz", **feed)
        jobs.append([f"{name}.so", str(tmp_path / f"{name}_in.npz"), str(tmp_path / name)])
        wants[name] = ort_outputs(str(source), feed)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": f"{out / SITE}{os.pathsep}{_numpy_only(tmp_path / 'numpy_only')}",
    }
    proc = subprocess.run(
        [sys.executable, "-S", "-c", RUN_PACKAGED, json.dumps(jobs)],
        cwd=out,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    # The plugins found their libraries inside the folder: no stand-in warning.
    assert "warning" not in proc.stderr, proc.stderr
    facts = json.loads(proc.stdout.splitlines()[-1])
    assert facts["compiler"] is False
    assert facts["ember"].startswith(str(out))
    for name, want in wants.items():
        saved = np.load(tmp_path / f"{name}.npz")
        got = [saved[f"arr_{i}"] for i in range(len(saved.files))]
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose(g, w, rtol=RTOL, atol=RTOL * float(np.abs(w).max()))
    assert not list(out.rglob("libtvm_compiler*")), "TVM's compiler was packaged"
    assert "import ember" in (out / "README.txt").read_text()


def test_package_refuses_a_non_artifact_and_writes_nothing(tmp_path):
    bogus = tmp_path / "model.so"
    bogus.write_bytes(b"not an artifact")
    out = tmp_path / "deploy"
    proc = ember("package", str(bogus), "-o", str(out))
    assert_one_line_error(proc, str(bogus))
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["model.so"]


def test_package_keeps_a_non_empty_folder_as_it_was(packaged, tmp_path):
    _, out = packaged
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine")
    proc = ember("package", str(out / "mlp.so"), "-o", str(taken))
    assert_one_line_error(proc, "already exists and is not empty")
    assert [p.name for p in taken.iterdir()] == ["notes.txt"]
    assert (taken / "notes.txt").read_text() == "mine"

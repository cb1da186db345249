"""ARM artifacts: cross-compiled here, run under qemu-aarch64, compared with ONNX Runtime.

The aarch64 runtime is downloaded and cross-built once into Ember's cache folder (the first
test pays for it, about 20 s; later tests and sessions reuse it).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest

import ember
from ember.compiler.api import compile_model
from ember.compiler.examples import models
from ember.emulation import aarch64_runtime, qemu
from ember.errors import IncompatibleArtifactError, ToolchainError
from tests.conftest import assert_close_to_ort, random_feed, save_model

_MISSING = [tool for tool in (qemu.QEMU, aarch64_runtime.CROSS_CXX) if shutil.which(tool) is None]
pytestmark = [
    pytest.mark.arm,
    pytest.mark.skipif(bool(_MISSING), reason=f"not installed: {', '.join(_MISSING)}"),
]

CASES = {
    ("cnn", "arm"): models.small_cnn,
    ("transformer", "arm"): models.transformer_block,
    ("mlp", "arm"): models.mlp,
    ("cnn", "arm-neoverse-n1"): lambda: models.small_cnn(batch=2),
    ("transformer", "arm-cortex-a72"): lambda: models.transformer_block(batch="batch"),
}


@pytest.fixture(scope="module")
def arm_folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("arm")


@pytest.mark.parametrize(("name", "target"), list(CASES))
def test_emulated_outputs_match_onnxruntime(arm_folder, name, target):
    source = save_model(CASES[(name, target)](), arm_folder, f"{name}_{target}")
    path = compile_model(source, target, arm_folder / f"{name}_{target}.so")
    assert ember.read_manifest(path)["target"]["arch"] == "aarch64"
    feed = random_feed(onnx.load(source), seed=5, batch=3)
    outputs = qemu.run_emulated(path, feed)
    assert_close_to_ort(source, feed, list(outputs.values()))


def test_cli_compiles_and_runs_emulated(arm_folder):
    source = save_model(models.mlp(), arm_folder, "mlp_cli")
    artifact, inputs, outputs = (arm_folder / n for n in ("m_arm.so", "in.npz", "out.npz"))
    run = ["ember", "compile", str(source), "--target", "arm", "-o", str(artifact)]
    subprocess.run(run, check=True, capture_output=True)
    feed = random_feed(onnx.load(source), seed=6)
    np.savez(inputs, **feed)
    cmd = ["ember", "run", str(artifact), "--emulate", "--inputs", str(inputs)]
    proc = subprocess.run([*cmd, "--outputs", str(outputs)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    with np.load(outputs) as got:
        assert_close_to_ort(source, feed, [got["y"]])
    native = subprocess.run(["ember", "run", str(artifact)], capture_output=True, text=True)
    assert native.returncode == 1
    assert "built for aarch64, this machine is x86_64" in native.stderr


def test_emulating_an_x86_artifact_is_refused(compile_example):
    _, artifact = compile_example("mlp")
    with pytest.raises(IncompatibleArtifactError, match="--emulate runs aarch64"):
        qemu.run_emulated(artifact, {})


def test_missing_tools_name_the_debian_package(tmp_path, monkeypatch, arm_folder):
    source = save_model(models.mlp(), tmp_path, "m")
    path = compile_model(source, "arm", tmp_path / "m.so")
    monkeypatch.setattr(qemu.shutil, "which", lambda _: None)
    with pytest.raises(ToolchainError, match="apt-get install qemu-user"):
        qemu.run_emulated(path, {})
    monkeypatch.setattr(aarch64_runtime.shutil, "which", lambda _: None)
    monkeypatch.setattr(qemu, "_require_qemu", lambda: "qemu-aarch64")
    with pytest.raises(ToolchainError, match="apt-get install g\\+\\+-aarch64-linux-gnu"):
        qemu.run_emulated(path, {})
    from ember.compiler.codegen import toolchain

    monkeypatch.setattr(toolchain.shutil, "which", lambda _: None)
    with pytest.raises(ToolchainError, match="apt-get install g\\+\\+-aarch64-linux-gnu"):
        compile_model(source, "arm", tmp_path / "m2.so")

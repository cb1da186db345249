"""CUDA artifacts on a real GPU: numerics against ONNX Runtime, host and device inputs."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import onnx
import pytest

import ember
from ember.compiler.api import compile_model
from ember.compiler.examples import models
from tests.conftest import assert_close_to_ort, random_feed, save_model


def _gpu_visible() -> bool:
    smi = shutil.which("nvidia-smi")
    return smi is not None and subprocess.run([smi, "-L"], capture_output=True).returncode == 0


pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not _gpu_visible(), reason="no NVIDIA GPU is visible (nvidia-smi)"),
]


@pytest.mark.parametrize("name", ["cnn", "transformer", "mlp"])
def test_cuda_outputs_match_onnxruntime(tmp_path, name):
    source = save_model(models.EXAMPLES[name](), tmp_path, name)
    path = compile_model(source, "cuda", tmp_path / f"{name}.so")
    model = ember.load(path, device="cuda:0")
    feed = random_feed(onnx.load(source), seed=3)
    outputs = model.run(feed)
    assert all(isinstance(o, np.ndarray) for o in outputs)
    assert_close_to_ort(source, feed, outputs)


def test_gpu_inputs_give_gpu_outputs(tmp_path):
    torch = pytest.importorskip("torch")
    source = save_model(models.mlp(), tmp_path, "mlp")
    model = ember.load(compile_model(source, "cuda", tmp_path / "mlp.so"), device="cuda")
    feed = random_feed(onnx.load(source), seed=4)
    (out,) = model.run({"x": torch.from_dlpack(feed["x"]).cuda()})
    assert out.__dlpack_device__()[0] == 2
    assert_close_to_ort(source, feed, [torch.from_dlpack(out).cpu().numpy()])

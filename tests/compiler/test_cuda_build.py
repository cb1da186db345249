"""CUDA artifacts built without a GPU hold compiled fatbins for the asked arch, never source."""

from __future__ import annotations

import shutil

import onnx
import pytest

import ember
from ember.compiler.api import compile_model
from ember.compiler.codegen import cuda_driver, fatbin
from ember.compiler.examples import models
from ember.errors import DeviceError, IncompatibleArtifactError, ToolchainError
from tests.conftest import save_model

pytestmark = pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not installed")

# The test models plus a few other shapes: larger batch and image, symbolic batch, wide MLP.
CASES = {
    "cnn": models.small_cnn,
    "transformer": models.transformer_block,
    "mlp": models.mlp,
    "cnn_b4_64": lambda: models.small_cnn(batch=4, image=64),
    "transformer_dyn": lambda: models.transformer_block(batch="batch", seq=16, dim=128),
    "mlp_wide": lambda: models.mlp(batch="batch", width=512, layers=2),
}


ARCHES = dict(zip(CASES, ["sm90", "sm80", "sm75", "sm86", "sm89", "sm90"], strict=True))


@pytest.fixture(scope="module")
def cuda_artifacts(tmp_path_factory):
    """Compile a case on first use (test workers each build only the cases they run)."""
    folder = tmp_path_factory.mktemp("cuda")
    built = {}

    def get(name):
        if name not in built:
            source = save_model(CASES[name](), folder, name)
            target = f"cuda-{ARCHES[name]}"
            built[name] = (ARCHES[name], compile_model(source, target, folder / f"{name}.so"))
        return built[name]

    return get


@pytest.mark.parametrize("name", list(CASES))
def test_artifact_holds_a_fatbin_for_the_arch(cuda_artifacts, name):
    arch, path = cuda_artifacts(name)
    code = fatbin.inspect_library(path)
    assert code.arches == {f"sm_{arch[2:]}"}
    assert code.fatbin_bytes > 1000
    assert not code.has_cuda_source
    manifest = ember.read_manifest(path)
    assert manifest["target"]["cuda_arch"] == f"sm_{arch[2:]}"
    assert manifest["target"]["device"] == "cuda" and manifest["target"]["arch"] == "x86_64"


def test_every_kernel_on_the_fallback_schedule_builds(tmp_path, monkeypatch):
    from ember.compiler.passes import gpu_schedule

    monkeypatch.setattr(gpu_schedule, "default_rules", lambda: [])
    source = save_model(models.transformer_block(), tmp_path, "t")
    path = compile_model(source, "cuda-sm80", tmp_path / "t.so")
    assert fatbin.inspect_library(path).arches == {"sm_80"}


def test_fallback_binds_every_block():
    import tvm
    from tvm import relax

    from ember.compiler.frontend import importer, signature
    from ember.compiler.passes.gpu_schedule import all_blocks_bound, fallback_schedule

    proto = models.small_cnn()
    mod = importer.import_model(proto, signature.graph_inputs(proto))
    passes = [relax.transform.LegalizeOps(), relax.transform.FuseOps(), relax.transform.FuseTIR()]
    mod = tvm.transform.Sequential(passes)(mod)
    kernels = [f for f in mod.functions.values() if isinstance(f, tvm.tirx.PrimFunc)]
    assert kernels and not any(all_blocks_bound(f) for f in kernels)
    assert all(all_blocks_bound(fallback_schedule(f)) for f in kernels)


@pytest.mark.skipif(cuda_driver.has_real_driver(), reason="this machine has an NVIDIA driver")
def test_loading_without_a_gpu_is_one_clear_line(cuda_artifacts):
    _, path = cuda_artifacts("mlp")
    with pytest.raises(DeviceError) as err:
        ember.load(path, device="cuda")
    text = str(err.value)
    assert "\n" not in text and "no NVIDIA driver" in text and str(path) in text
    with pytest.raises(IncompatibleArtifactError, match="built for device 'cuda'"):
        ember.load(path)


def test_missing_nvcc_names_the_toolkit(tmp_path, monkeypatch):
    from ember.compiler.codegen import toolchain

    monkeypatch.setattr(toolchain.shutil, "which", lambda _: None)
    onnx.save(models.mlp(), tmp_path / "m.onnx")
    with pytest.raises(ToolchainError, match=r"'nvcc' not found.*CUDA toolkit"):
        compile_model(tmp_path / "m.onnx", "cuda-sm80", tmp_path / "m.so")

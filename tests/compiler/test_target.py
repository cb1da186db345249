"""Target presets resolve, and bad targets get one clear line."""

from __future__ import annotations

import pytest

from ember.compiler.target import preset_names, resolve
from ember.errors import TargetError


def test_presets_are_listed_and_valid():
    names = preset_names()
    assert {"x86", "x86-avx2", "x86-avx512"} <= set(names)
    for name in names:
        target = resolve(name)
        assert target.name == name
        assert target.description


def test_host_target_is_detected():
    target = resolve("x86")
    assert target.tvm["mcpu"] not in ("", "host")
    assert target.tvm["num-cores"] >= 1
    assert "avx" in target.cpu_features or target.arch != "x86_64"
    assert str(target.tvm_target().kind) == "llvm"


def test_avx2_preset_requires_avx2():
    target = resolve("x86-avx2")
    assert target.tvm["mcpu"] == "haswell"
    assert {"avx2", "fma"} <= set(target.cpu_features)
    assert target.manifest()["cpu_features"] == list(target.cpu_features)


def test_unknown_target_lists_the_known_ones():
    with pytest.raises(TargetError, match=r"unknown target 'riscv' \(known targets: .*x86"):
        resolve("riscv")


def test_target_file_is_validated(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('name = "mine"\ndevice = "tpu"\n[tvm]\nkind = "llvm"\n')
    with pytest.raises(TargetError) as err:
        resolve(str(path))
    text = str(err.value)
    assert "mine.toml" in text and "'device' must be one of" in text and "'arch'" in text


def test_target_file_path_works(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(
        'name = "mine"\ndescription = "d"\ndevice = "cpu"\narch = "x86_64"\n'
        '[tvm]\nkind = "llvm"\nmcpu = "haswell"\n[capabilities]\ncpu_features = ["avx2"]\n'
    )
    target = resolve(str(path))
    assert target.tvm["mcpu"] == "haswell" and target.cpu_features == ("avx2",)
    with pytest.raises(TargetError, match="does not exist"):
        resolve(str(tmp_path / "other.toml"))


def test_arm_and_cuda_presets():
    names = set(preset_names())
    arm = {"arm", "arm-cortex-a72", "arm-neoverse-n1"}
    cuda = {"cuda", "cuda-sm75", "cuda-sm80", "cuda-sm86", "cuda-sm89", "cuda-sm90"}
    assert arm | cuda <= names
    for name in arm:
        target = resolve(name)
        assert target.arch == "aarch64" and target.cross_compiler == "aarch64-linux-gnu-g++"
        assert target.manifest()["triple"] == "aarch64-linux-gnu"
    target = resolve("cuda-sm86")
    manifest = target.manifest()
    assert manifest["cuda_arch"] == "sm_86" and manifest["arch"] == "x86_64"
    assert manifest["device"] == "cuda" and manifest["triple"] == "x86_64-linux-gnu"
    assert str(target.tvm_target().kind) == "cuda"


def test_cuda_preset_falls_back_without_a_gpu(monkeypatch):
    from ember.compiler import target as target_module

    monkeypatch.setattr(target_module, "_nvidia_smi_compute_cap", lambda: None)
    assert resolve("cuda").cuda_arch == "sm_80"
    monkeypatch.setattr(target_module, "_nvidia_smi_compute_cap", lambda: "sm_89")
    assert resolve("cuda").cuda_arch == "sm_89"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('device = "cuda"\narch = "x86_64"\n[tvm]\nkind = "cuda"\narch = "sm9"\n', "tvm.arch"),
        ('device = "cuda"\narch = "x86_64"\n[tvm]\nkind = "llvm"\n', 'tvm.kind = "cuda"'),
        ('device = "cpu"\narch = "aarch64"\n[tvm]\nkind = "llvm"\nmtriple = "x86_64"\n', "mtriple"),
        (
            'device = "cpu"\narch = "x86_64"\n[tvm]\nkind = "llvm"\n[defaults]\nlayout = 1\n',
            "layout",
        ),
    ],
)
def test_inconsistent_target_files_are_refused(tmp_path, body, message):
    path = tmp_path / "mine.toml"
    path.write_text('name = "mine"\ndescription = "d"\n' + body)
    with pytest.raises(TargetError, match=message):
        resolve(str(path))

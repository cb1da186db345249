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

"""Wrong inputs and bad artifacts fail with one clear line and an Ember exception."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from onnx import TensorProto, helper

import ember
from ember.compiler.artifact import write_artifact
from ember.errors import ArtifactError, ArtifactNotFoundError, IncompatibleArtifactError, InputError


@pytest.fixture(scope="module")
def two_inputs(compile_example, build_dir):
    """y = a + b with a symbolic batch shared by both inputs."""
    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, ["batch", 4])
    b = helper.make_tensor_value_info("b", TensorProto.FLOAT, ["batch", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])
    graph = helper.make_graph([helper.make_node("Add", ["a", "b"], ["y"])], "add", [a, b], [y])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    _, artifact = compile_example("two_inputs", proto)
    return ember.load(artifact)


def one_line(err: pytest.ExceptionInfo) -> str:
    text = str(err.value)
    assert "\n" not in text and "Traceback" not in text
    return text


X = np.ones((2, 4), np.float32)


@pytest.mark.parametrize(
    ("feed", "message"),
    [
        ({"a": X}, "missing input 'b'"),
        ({"a": X, "b": X, "c": X}, "unknown input 'c'"),
        ({"a": X, "bb": X}, "unknown input 'bb'"),
        ({"a": X, "b": X.astype(np.float64)}, "input 'b': expected dtype float32, got float64"),
        ({"a": X, "b": np.ones((2, 5), np.float32)}, "input 'b'"),
        ({"a": X, "b": np.ones((2, 4, 1), np.float32)}, "input 'b'"),
        ({"a": X, "b": np.ones((3, 4), np.float32)}, "batch"),
    ],
)
def test_wrong_inputs_name_the_input(two_inputs, feed, message):
    with pytest.raises(InputError) as err:
        two_inputs.run(feed)
    assert message in one_line(err)


def test_positional_count_is_checked(two_inputs):
    with pytest.raises(InputError, match="expected 2 inputs, got 1"):
        two_inputs.run([X])


def test_consistent_symbolic_dims_run(two_inputs):
    for batch in (1, 5):
        a = np.full((batch, 4), 2, np.float32)
        (y,) = two_inputs.run({"a": a, "b": a})
        np.testing.assert_array_equal(y, a * 2)


def test_missing_artifact(tmp_path):
    with pytest.raises(ArtifactNotFoundError) as err:
        ember.load(tmp_path / "nope.so")
    assert "nope.so" in one_line(err)


@pytest.mark.parametrize(
    "corrupt",
    ["empty", "random", "truncated", "bitflip", "foreign_so", "directory", "manifest_only"],
)
def test_bad_artifacts_are_refused_before_loading(compile_example, tmp_path, corrupt):
    _, good = compile_example("mlp")
    data = good.read_bytes()
    bad = tmp_path / "bad.so"
    if corrupt == "empty":
        bad.write_bytes(b"")
    elif corrupt == "random":
        bad.write_bytes(np.random.default_rng(0).bytes(4096))
    elif corrupt == "truncated":
        bad.write_bytes(data[: len(data) // 2])
    elif corrupt == "bitflip":
        flipped = bytearray(data)
        flipped[len(data) // 3] ^= 0x10
        bad.write_bytes(bytes(flipped))
    elif corrupt == "foreign_so":
        shutil.copy(np.__file__.replace("__init__.py", "") + _some_extension(), bad)
    elif corrupt == "directory":
        bad.mkdir()
    elif corrupt == "manifest_only":
        bad.write_bytes(data[-4096:])
    with pytest.raises((ArtifactError, ArtifactNotFoundError)) as err:
        ember.load(bad)
    assert "bad.so" in one_line(err)
    if corrupt in ("bitflip",):
        assert "checksum" in str(err.value)


def _some_extension() -> str:
    import glob
    import os

    root = os.path.dirname(np.__file__)
    found = glob.glob(os.path.join(root, "_core", "*.so"))
    return os.path.relpath(found[0], root)


def test_read_manifest_verifies_without_loading(compile_example, tmp_path):
    source, good = compile_example("mlp")
    manifest = ember.read_manifest(good)
    assert manifest["schema"] == 1
    assert manifest["inputs"] == [{"name": "x", "shape": [8, 128], "dtype": "float32"}]
    assert manifest["model"]["file"] == source.name
    assert int(manifest["payload"]["size"]) < good.stat().st_size
    bad = tmp_path / "cut.so"
    bad.write_bytes(good.read_bytes()[:-10])
    with pytest.raises(ArtifactError):
        ember.read_manifest(bad)


def test_unknown_device_and_bad_threads(compile_example):
    _, good = compile_example("mlp")
    with pytest.raises(InputError, match="unknown device 'tpu'"):
        ember.load(good, device="tpu")
    with pytest.raises(InputError, match="threads"):
        ember.load(good, threads=0)


def test_cpu_artifact_on_cuda_device_is_refused(compile_example):
    _, good = compile_example("mlp")
    with pytest.raises(IncompatibleArtifactError) as err:
        ember.load(good, device="cuda:0")
    assert "cpu" in one_line(err)


def test_artifact_needing_a_missing_isa_extension_is_refused(compile_example):
    # EMBER_HIDE_CPU_FEATURES makes the runtime treat features as absent, to test this anywhere.
    import os
    import subprocess
    import sys

    _, good = compile_example("mlp")
    needed = ember.read_manifest(good)["target"]["cpu_features"]
    assert needed, "the host target records the ISA extensions it compiled for"
    code = f"import ember; ember.load({str(good)!r})"
    env = {**os.environ, "EMBER_HIDE_CPU_FEATURES": needed[-1]}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert proc.returncode != 0
    assert "IncompatibleArtifactError" in proc.stderr
    assert f"without {needed[-1]}" in proc.stderr.strip().splitlines()[-1]


def test_a_manifest_with_a_bad_size_class_count_is_refused(compile_example, tmp_path):
    # The runtime sizes its buffer cache by this field; a wrong one must not load silently.
    _, good = compile_example("mlp")
    manifest = ember.read_manifest(good)
    payload = tmp_path / "payload.so"
    payload.write_bytes(good.read_bytes()[: int(manifest["payload"]["size"])])
    manifest["memory"] = {"size_classes_per_doubling": -1}
    bad = tmp_path / "bad.so"
    write_artifact(payload, manifest, bad)
    with pytest.raises(ArtifactError) as err:
        ember.load(bad)
    assert "memory.size_classes_per_doubling" in one_line(err)

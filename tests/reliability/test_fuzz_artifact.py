"""Fuzzing the artifact file: seeded bit flips, truncations and overwrites anywhere in a
compiled model, the manifest and the trailer included. `ember.load`, `ember.read_manifest`
and `ember inspect` must refuse every one with an `ArtifactError` whose one line names the file
and says what to do; never a crash inside the dynamic loader, never a corrupted model loaded.
"""

from __future__ import annotations

import json
import random
import struct
import zlib
from pathlib import Path

import pytest
from onnx import TensorProto, helper

import ember
from ember.errors import ArtifactError, IncompatibleArtifactError
from tests.conftest import FUZZ_SEED, fuzz_setting
from tests.reliability.fuzz_pool import run_cases

TRAILER = struct.Struct("<QQII8s")  # docs/artifact.md
CHUNKS = 2
CI_CASES_PER_CHUNK = 200


@pytest.fixture(scope="module")
def tiny_artifact(compile_example) -> Path:
    """Relu(x + w) on 4x8: a few kilobytes of weights, a manifest, a trailer."""
    import numpy as np
    from onnx import numpy_helper

    w = numpy_helper.from_array(np.linspace(-1, 1, 32, dtype=np.float32).reshape(4, 8), "w")
    f = TensorProto.FLOAT
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["s"]), helper.make_node("Relu", ["s"], ["y"])],
        "tiny",
        [helper.make_tensor_value_info("x", f, [4, 8])],
        [helper.make_tensor_value_info("y", f, [4, 8])],
        [w],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return compile_example("artifact_fuzz_tiny", proto)[1]


def regions(data: bytes) -> dict[str, tuple[int, int]]:
    """Byte ranges of the payload's ELF header, payload, manifest and trailer."""
    payload, manifest, _, _, _ = TRAILER.unpack(data[-TRAILER.size :])
    return {
        "elf header": (0, 64),
        "payload": (0, payload),
        "manifest": (payload, payload + manifest),
        "trailer": (len(data) - TRAILER.size, len(data)),
    }


def corrupt(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """One seeded corruption: bit flips in a region, a truncation, or an overwritten range."""
    kind = rng.choice(["flip", "flip", "flip", "truncate", "overwrite", "append"])
    if kind == "truncate":
        cut = rng.choice([0, 1, 31, 32, 100, rng.randrange(len(data))])
        return data[:cut], f"truncated to {cut} bytes"
    if kind == "append":
        return data + rng.randbytes(rng.choice([1, 32, 4096])), "bytes appended"
    name, (start, end) = rng.choice(sorted(regions(data).items()))
    out = bytearray(data)
    if kind == "overwrite":
        at = rng.randrange(start, end)
        junk = rng.randbytes(min(rng.choice([1, 8, 64]), len(data) - at))
        out[at : at + len(junk)] = junk
        if bytes(out) == data:
            out[at] ^= 0xFF
        return bytes(out), f"{len(junk)} bytes overwritten at {at} ({name})"
    bits = [rng.randrange(start * 8, end * 8) for _ in range(rng.choice([1, 1, 2, 3, 8]))]
    for bit in set(bits):
        out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out), f"bits {sorted(set(bits))} flipped ({name})"


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_corrupted_artifacts_are_refused(request, tiny_artifact, tmp_path, record_property, chunk):
    seed = fuzz_setting(request.config, "--fuzz-seed", "EMBER_FUZZ_SEED", FUZZ_SEED)
    count = fuzz_setting(request.config, "--fuzz-cases", "EMBER_FUZZ_CASES", CI_CASES_PER_CHUNK)
    data = tiny_artifact.read_bytes()
    cases = []
    for n in range(count):
        index = n * CHUNKS + chunk
        bad, how = corrupt(data, random.Random(seed * 9_000_011 + index))
        path = tmp_path / f"case{index}.so"
        path.write_bytes(bad)
        mode = "inspect" if index % 5 == 0 else "load"
        cases.append(
            (f"seed {seed} case {index} [{mode}]: {how}", {"mode": mode, "path": str(path)})
        )
    tally = run_cases(cases, tmp_path / "worker.log")
    summary = f"artifact fuzz, seed {seed}, chunk {chunk}/{CHUNKS}: {tally.summary()}"
    record_property("reliability", summary)
    print(summary)
    assert not tally.failures, "\n".join(tally.failures[:25])
    assert tally.counts["refused"] + tally.counts["ember inspect error"] == count


def rewrite(source: Path, dest: Path, edit) -> Path:
    """Copy an artifact with its manifest edited by `edit(dict)`, every checksum valid."""
    data = source.read_bytes()
    payload_size, manifest_size, _, version, magic = TRAILER.unpack(data[-TRAILER.size :])
    payload = bytearray(data[:payload_size])
    manifest = json.loads(data[payload_size : payload_size + manifest_size])
    edit(manifest, payload)
    manifest["payload"]["crc32"] = f"{zlib.crc32(payload):08x}"
    text = json.dumps(manifest).encode()
    trailer = TRAILER.pack(payload_size, len(text), zlib.crc32(text), version, magic)
    dest.write_bytes(bytes(payload) + text + trailer)
    return dest


def one_line(err: pytest.ExceptionInfo) -> str:
    assert "\n" not in str(err.value)
    return str(err.value)


def test_rewritten_artifact_still_loads(tiny_artifact, tmp_path):
    good = rewrite(tiny_artifact, tmp_path / "same.so", lambda m, p: None)
    assert ember.load(good).inputs[0].name == "x"


@pytest.mark.parametrize(
    ("edit", "error", "words"),
    [
        (lambda m, p: m.update(schema=2), IncompatibleArtifactError, ["newer Ember", "upgrade"]),
        (lambda m, p: m["target"].update(arch="aarch64"), IncompatibleArtifactError, ["aarch64"]),
        (lambda m, p: p.__setitem__(18, 0xB7), ArtifactError, ["library is aarch64"]),
        (lambda m, p: m.pop("schema"), ArtifactError, ["no schema", "ember compile"]),
        (lambda m, p: m["inputs"][0].update(dtype="float7"), ArtifactError, ["float7"]),
        (lambda m, p: m.update(entry="nope"), ArtifactError, ["'nope'"]),
        (lambda m, p: m["target"].update(device="cuda"), IncompatibleArtifactError, ["cuda"]),
    ],
    ids=["schema", "arch", "elf_machine", "no_schema", "dtype", "entry", "device"],
)
def test_inconsistent_artifacts_say_what_is_wrong(tiny_artifact, tmp_path, edit, error, words):
    bad = rewrite(tiny_artifact, tmp_path / "bad.so", edit)
    with pytest.raises(error) as err:
        ember.load(bad)
    message = one_line(err)
    assert "bad.so" in message
    for word in words:
        assert word in message


def test_relative_artifact_path_loads(tiny_artifact, tmp_path, monkeypatch):
    (tmp_path / "rel.so").write_bytes(tiny_artifact.read_bytes())
    monkeypatch.chdir(tmp_path)
    assert ember.load("rel.so").outputs[0].name == "y"

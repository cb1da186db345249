"""`ember bench` and `ember profile` on a compiled model."""

from __future__ import annotations

import json

import pytest

from tests.integration.test_cli import ember


@pytest.fixture(scope="module")
def cnn(compile_example):
    return compile_example("cnn")


def test_bench_reports_latency_beside_onnxruntime(cnn):
    source, artifact = cnn
    proc = ember(
        "bench",
        str(artifact),
        "--vs",
        str(source),
        "--blocks",
        "2",
        "--runs",
        "3",
        "--threads",
        "1",
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["threads"] == 1
    for side in ("ember", "onnxruntime"):
        stats = result[side]
        assert stats["runs"] == 6
        assert 0 < stats["min_ms"] <= stats["median_ms"] <= stats["p90_ms"] <= stats["p99_ms"]
    assert result["ratio_ort_over_ember"] == pytest.approx(
        result["onnxruntime"]["median_ms"] / result["ember"]["median_ms"]
    )
    text = ember("bench", str(artifact), "--blocks", "1", "--runs", "2")
    assert text.returncode == 0 and text.stdout.startswith("ember        median ")


def test_profile_lists_kernels_with_their_share(cnn):
    _, artifact = cnn
    proc = ember("profile", str(artifact), "--runs", "2", "--threads", "1", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    names = [r["name"] for r in rows]
    assert names.count("ember.cpu.conv2d") == 1  # the plugin's conv, called twice per run
    conv = rows[names.index("ember.cpu.conv2d")]
    assert conv["calls"] == 2 and "OpenBLAS" in conv["ops"]
    assert sum(r["share"] for r in rows) == pytest.approx(1.0)
    assert [r["ms"] for r in rows] == sorted((r["ms"] for r in rows), reverse=True)
    assert any(r["name"].startswith("fused_") for r in rows)


def test_profile_of_a_bad_file_is_one_line(tmp_path):
    bad = tmp_path / "bad.so"
    bad.write_bytes(b"not a model")
    proc = ember("profile", str(bad))
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith("error: ")

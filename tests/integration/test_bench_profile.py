"""`ember bench` and `ember profile` on a compiled model."""

from __future__ import annotations

import json

import pytest

from ember.compiler.libraries import onednn
from ember.runtime import read_manifest
from tests.compiler.test_node_sources import conv_relu_add_matmul
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


def test_profile_lists_kernels_with_their_share_and_onnx_nodes(cnn):
    _, artifact = cnn
    proc = ember("profile", str(artifact), "--runs", "2", "--threads", "1", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    # The plugin's conv runs twice per inference, once per Conv node: one row each.
    convs = sorted((r for r in rows if r["name"] == "ember.cpu.conv2d"), key=lambda r: r["nodes"])
    assert [r["nodes"] for r in convs] == [["block1.conv"], ["block2.conv"]]
    assert all(r["calls"] == 1 and "OpenBLAS" in r["ops"] for r in convs)
    epilogues = [r["nodes"] for r in rows if r["name"].startswith("fused_")]
    assert ["block1.conv", "block1.bn", "block1.relu"] in epilogues
    assert sum(r["share"] for r in rows) == pytest.approx(1.0)
    assert [r["ms"] for r in rows] == sorted((r["ms"] for r in rows), reverse=True)
    assert any(r["name"].startswith("fused_") for r in rows)


def test_profile_table_names_the_nodes_of_each_kernel(cnn):
    _, artifact = cnn
    proc = ember("profile", str(artifact), "--runs", "1", "--threads", "1")
    assert proc.returncode == 0, proc.stderr
    conv_lines = [line for line in proc.stdout.splitlines() if "ember.cpu.conv2d" in line]
    assert sorted(line.split("<- ")[1] for line in conv_lines) == ["block1.conv", "block2.conv"]
    assert any(line.endswith("<- pool1") for line in proc.stdout.splitlines())


def test_profile_of_a_model_built_with_named_nodes(compile_example):
    _, artifact = compile_example("named", conv_relu_add_matmul())
    manifest = read_manifest(artifact)
    assert manifest["kernel_sources"][0] == {"kernel": "ember.cpu.conv2d", "nodes": ["stem_conv"]}
    proc = ember("profile", str(artifact), "--runs", "2", "--threads", "1", "--json")
    assert proc.returncode == 0, proc.stderr
    by_kernel = {r["name"]: r["nodes"] for r in json.loads(proc.stdout)}
    assert by_kernel["ember.cpu.conv2d"] == ["stem_conv"]
    assert by_kernel[onednn.MATMUL] == ["classifier"]
    epilogue = [n for k, n in by_kernel.items() if "relu" in k]
    assert len(epilogue) == 1 and {"stem_relu", "residual_add"} <= set(epilogue[0])


def test_long_node_lists_are_shortened():
    from ember.profiling import describe_nodes

    assert describe_nodes(("a", "b")) == "a, b"
    assert describe_nodes(tuple("abcdef")) == "a, b, c and 3 more"


def test_profile_of_a_bad_file_is_one_line(tmp_path):
    bad = tmp_path / "bad.so"
    bad.write_bytes(b"not a model")
    proc = ember("profile", str(bad))
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith("error: ")


def test_one_stalled_inference_does_not_move_a_kernels_time(monkeypatch):
    """A row is the median over inferences: a run the scheduler stalled (a shared VM) is ignored."""
    from ember import profiling

    now = [0.0]
    monkeypatch.setattr(profiling.time, "perf_counter", lambda: now[0])
    clock = profiling._SiteClock({"conv": [("a",), ("b",)]})

    def call(name: str, seconds: float) -> None:
        clock.instrument(None, name, True, None)
        now[0] += seconds
        clock.instrument(None, name, False, None)

    for run in range(5):
        clock.new_inference()
        call("conv", 0.100 if run == 3 else 0.001)  # site a: one stall
        call("conv", 0.002)  # site b
        if run < 2:
            call("warm_only", 0.001)  # called in two of five inferences: median 0
    rows = {(r.name, r.nodes): r for r in clock.rows(5)}
    assert rows[("conv", ("a",))].ms == pytest.approx(1.0)
    assert rows[("conv", ("b",))].ms == pytest.approx(2.0)
    assert rows[("warm_only", ())].ms == 0.0
    assert rows[("conv", ("a",))].calls == 1
    assert rows[("conv", ("b",))].share == pytest.approx(2 / 3)

"""The `ember` command as a user runs it: subprocesses, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import onnx
import pytest

from ember.compiler.examples import models
from ember.compiler.examples.reference import ort_outputs
from ember.compiler.libraries import onednn
from tests.conftest import RTOL, save_model

EMBER = shutil.which("ember") or "ember"


def ember(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EMBER, *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert lines and lines[-1].startswith("error: "), proc.stderr
    for needle in needles:
        assert needle in lines[-1]


@pytest.fixture(scope="module")
def cnn(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    source = save_model(models.small_cnn(batch="batch"), folder, "cnn")
    proc = ember("compile", str(source), "--target", "x86", "--input-shape", "input=2x3x32x32")
    assert proc.returncode == 0, proc.stderr
    for stage in ("import", "passes", "build", "export"):
        assert stage in proc.stderr
    return source, folder / "cnn.so"


def test_compile_run_and_outputs_match(cnn, tmp_path):
    source, artifact = cnn
    x = np.random.default_rng(3).standard_normal((2, 3, 32, 32)).astype(np.float32)
    np.savez(tmp_path / "in.npz", input=x)
    proc = ember(
        "run",
        str(artifact),
        "--inputs",
        str(tmp_path / "in.npz"),
        "--outputs",
        str(tmp_path / "out.npz"),
    )
    assert proc.returncode == 0, proc.stderr
    assert "logits: float32[2, 10]" in proc.stdout
    got = np.load(tmp_path / "out.npz")["logits"]
    expected = ort_outputs(str(source), {"input": x})[0]
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=RTOL * np.abs(expected).max())


def test_run_with_random_inputs(cnn):
    proc = ember("run", str(cnn[1]), "--threads", "1")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("logits: float32[2, 10] min ")


def test_inspect_reads_the_manifest(cnn):
    proc = ember("inspect", str(cnn[1]), "--json")
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads(proc.stdout)
    assert manifest["inputs"] == [{"name": "input", "shape": [2, 3, 32, 32], "dtype": "float32"}]
    assert manifest["options"]["input_shapes"] == {"input": [2, 3, 32, 32]}
    text = ember("inspect", str(cnn[1]))
    assert "input: float32[2x3x32x32]" in text.stdout and "target   x86" in text.stdout


def test_config_and_targets():
    cmakedir = ember("config", "--cmakedir").stdout.strip()
    assert os.path.isfile(os.path.join(cmakedir, "emberConfig.cmake"))
    targets = ember("targets").stdout
    assert "x86-avx2" in targets


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["compile", "missing.onnx"], ["missing.onnx", "does not exist"]),
        (["compile", "{empty}"], ["empty.onnx", "is empty"]),
        (["compile", "{corrupt}"], ["corrupt.onnx"]),
        (["compile", "{good}", "--target", "z80"], ["unknown target 'z80'"]),
        (["compile", "{good}", "--input-shape", "nope=1x2"], ["unknown input 'nope'"]),
        (["compile", "{good}", "--input-shape", "input"], ["--input-shape"]),
        (["compile", "{good}", "--layout", "nhcw"], ["invalid --layout 'nhcw'", "auto, nchw"]),
        (["tune", "{good}", "--layout", "auto"], ["invalid --layout 'auto'", "nchw or nhwc"]),
        (["run", "{good}"], ["good.onnx"]),
        (["run", "{artifact}", "--inputs", "{wrong_inputs}"], ["unknown input 'image'"]),
        (["run", "{artifact}", "--inputs", "{wrong_shape}"], ["input 'input'", "shape"]),
        (["inspect", "{truncated}"], ["truncated.so"]),
        (["run", "missing.so"], ["missing.so"]),
    ],
)
def test_bad_input_gives_one_line_error(cnn, tmp_path, args, needles):
    files = {
        "empty": tmp_path / "empty.onnx",
        "corrupt": tmp_path / "corrupt.onnx",
        "good": save_model(models.mlp(), tmp_path, "good"),
        "artifact": cnn[1],
        "wrong_inputs": tmp_path / "wrong.npz",
        "wrong_shape": tmp_path / "shape.npz",
        "truncated": tmp_path / "truncated.so",
    }
    files["empty"].write_bytes(b"")
    files["corrupt"].write_bytes(os.urandom(64))
    np.savez(files["wrong_inputs"], image=np.zeros((2, 3, 32, 32), np.float32))
    np.savez(files["wrong_shape"], input=np.zeros((2, 3, 31, 32), np.float32))
    files["truncated"].write_bytes(cnn[1].read_bytes()[:1000])
    proc = ember(*[a.format(**files) for a in args])
    assert_one_line_error(proc, *needles)


def test_verbose_shows_the_traceback():
    proc = ember("compile", "missing.onnx", "--verbose")
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_demo_checks_against_onnxruntime(tmp_path):
    proc = ember("demo", "--model", "transformer", "--dir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert "Ember matches ONNX Runtime" in proc.stdout
    assert onnx.load(tmp_path / "transformer.onnx").graph.name == "transformer_block"


def test_import_ember_does_not_import_the_compiler_stack(cnn):
    code = (
        "import sys, ember, numpy as np\n"
        f"m = ember.load({str(cnn[1])!r})\n"
        "m.run(np.zeros((2, 3, 32, 32), np.float32))\n"
        "bad = [n for n in ('tvm', 'onnx', 'xgboost', 'onnxruntime', 'ember.compiler')"
        " if n in sys.modules]\n"
        "print(bad)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_threads_setting_reaches_the_thread_pool(cnn):
    # runtime.NumThreads reports the width of the calling thread's TVM pool after a run.
    code = (
        "import ember, numpy as np, tvm_ffi\n"
        f"m = ember.load({str(cnn[1])!r})\n"
        "m.run(np.zeros((2, 3, 32, 32), np.float32))\n"
        "print(m.threads, tvm_ffi.get_global_func('runtime.NumThreads')())\n"
    )
    cores = len(os.sched_getaffinity(0))
    for threads in sorted({1, cores}):
        proc = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env={**os.environ, "EMBER_NUM_THREADS": str(threads)},
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.split() == [str(threads), str(threads)]
    default = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "EMBER_NUM_THREADS"},
    )
    assert default.stdout.split() == [str(cores), str(cores)]


@pytest.mark.parametrize("args", [["compile"], ["compile", "m.onnx", "--bogus"], ["nope"]])
def test_usage_errors_print_usage_not_a_traceback(args):
    proc = ember(*args)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "Usage:" in proc.stderr


def test_compile_reports_the_measured_conv_layout(tmp_path):
    from ember.compiler.examples.models import residual_cnn
    from ember.runtime import read_manifest

    source = tmp_path / "res.onnx"
    onnx.save(residual_cnn(), source)
    proc = ember("compile", str(source), "--layout", "auto")
    assert proc.returncode == 0, proc.stderr
    layout = read_manifest(tmp_path / "res.so")["layout"]
    assert layout["requested"] == "auto" and layout["conv"] in ("nchw", "nhwc")
    assert set(layout["measured_ms"]) == {"nchw", "nhwc"} and layout["conv_shapes"] == 8
    assert f"conv layout {layout['conv'].upper()}: measured NCHW" in proc.stderr


@pytest.mark.skipif(onednn.unavailable_reason() is not None, reason="oneDNN is unavailable")
def test_no_winograd_keeps_the_3x3_convolution_direct(tmp_path):
    from ember.runtime import read_manifest
    from tests.compiler.test_onednn_dispatch import conv_model

    source = tmp_path / "conv.onnx"
    onnx.save(conv_model(cin=64, cout=64, size=24, kernel=3, pads=(1, 1, 1, 1)), source)
    kernels = {}
    for flags in ([], ["--no-winograd"]):
        out = tmp_path / f"conv{len(flags)}.so"
        proc = ember("compile", str(source), "--layout", "nhwc", "-o", str(out), *flags)
        assert proc.returncode == 0, proc.stderr
        manifest = read_manifest(out)
        assert manifest["options"]["winograd"] is not flags
        kernels[bool(flags)] = [k["kernel"] for k in manifest["kernel_sources"]]
    assert onednn.CONV_WINOGRAD_EPILOGUE in kernels[False], kernels
    assert onednn.CONV_NHWC_EPILOGUE in kernels[True], kernels

"""`ember quantize` as a user runs it: float32 model + calibration inputs -> QDQ int8 model
that compiles to int8 kernels and verifies against ONNX Runtime; bad input is one line."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from tests.compiler.test_int8_kernels import compute_types, convnet
from tests.conftest import save_model
from tests.integration.test_cli import assert_one_line_error, ember


@pytest.fixture
def float_model(tmp_path):
    return save_model(convnet(), tmp_path, "convnet")


def _samples(count: int, dtype: type = np.float32) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((count, 1, 16, 20, 20)).astype(dtype)


def test_quantize_compile_verify(float_model, tmp_path):
    calibration = tmp_path / "cal.npz"
    np.savez(calibration, x=_samples(4))
    proc = ember("quantize", str(float_model), "--calibration", str(calibration))
    assert proc.returncode == 0, proc.stderr
    quantized = tmp_path / "convnet_int8.onnx"
    first, error = proc.stdout.splitlines()
    assert first == f"wrote {quantized} (QDQ int8, 4 calibration samples)"
    # One output; its error against float32 is a quantization's (a few 1e-2 at most).
    assert error.startswith("output y: max abs error ")
    assert 0 < float(error.split("max rel error ")[1].split()[0]) < 0.1
    ops = {n.op_type for n in onnx.load(str(quantized)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv", "Gemm"} <= ops
    proc = ember("compile", str(quantized), "--dump-ir", str(tmp_path / "ir"))
    assert proc.returncode == 0, proc.stderr
    types = compute_types(tmp_path / "ir" / "03_dispatch.py")
    assert types and set(types) == {"int8"}, types
    proc = ember("verify", str(quantized), str(tmp_path / "convnet_int8.so"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "(int8 default)" in proc.stdout.splitlines()[1]


@pytest.mark.parametrize(
    ("arrays", "needles"),
    [
        ({"image": _samples(2)}, ["calibration data", "unknown input 'image'"]),
        ({}, ["calibration data", "no array for input 'x'"]),
        ({"x": _samples(2, np.float64)}, ["input 'x' is float64, the model takes float32"]),
        ({"x": _samples(2)[0, 0, 0]}, ["input 'x' has shape 20x20, the model takes 1x16x20x20"]),
    ],
)
def test_bad_calibration_is_one_line_and_keeps_the_old_output(
    float_model, tmp_path, arrays, needles
):
    calibration = tmp_path / "cal.npz"
    np.savez(calibration, **arrays)
    output = tmp_path / "kept.onnx"
    output.write_bytes(b"an earlier model")
    proc = ember("quantize", str(float_model), "--calibration", str(calibration), "-o", str(output))
    assert_one_line_error(proc, *needles)
    assert output.read_bytes() == b"an earlier model"


def test_a_quantized_model_is_refused(float_model, tmp_path):
    calibration = tmp_path / "cal.npz"
    np.savez(calibration, x=_samples(2))
    assert ember("quantize", str(float_model), "--calibration", str(calibration)).returncode == 0
    quantized = tmp_path / "convnet_int8.onnx"
    proc = ember("quantize", str(quantized), "--calibration", str(calibration))
    assert_one_line_error(proc, f"model '{quantized}' is already quantized")

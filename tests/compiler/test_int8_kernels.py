"""QDQ models from `onnxruntime.quantization.quantize_static` run their convolutions and
matmuls as int8 oneDNN calls, with ONNX Runtime's numbers; weights off an int8 grid stay fp32."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import ember
from ember.compiler.api import compile_model
from ember.compiler.examples.reference import ort_outputs
from ember.compiler.libraries import onednn
from ember.compiler.libraries.onednn_calls import LibraryCall
from ember.compiler.options import CompileOptions
from ember.compiler.progress import SilentProgress
from ember.compiler.quantize import quantize_model
from ember.runtime import read_manifest
from tests.compiler.test_bf16_kernels import _host_bf16_problem
from tests.compiler.test_fake_quantize import conv_chain_model
from tests.compiler.test_onednn_dispatch import _const, _model
from tests.conftest import save_model
from tests.integration.test_cli import ember as ember_cli

pytestmark = pytest.mark.skipif(
    onednn.unavailable_reason() is not None, reason="int8 kernels are oneDNN's"
)


def convnet() -> onnx.ModelProto:
    """Conv -> Relu -> Conv (+ the first's output) -> Relu -> GlobalAveragePool -> Gemm."""
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["c2", "r1"], ["s"]),
        helper.make_node("Relu", ["s"], ["r2"]),
        helper.make_node("GlobalAveragePool", ["r2"], ["p"]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", "w3", "b3"], ["y"], transB=1),
    ]
    shapes = {"w1": (32, 16, 3, 3), "b1": (32,), "w2": (32, 32, 3, 3), "b2": (32,)}
    inits = [_const(name, shape, seed) for seed, (name, shape) in enumerate(shapes.items())]
    inits += [_const("w3", (10, 32), 5), _const("b3", (10,), 6)]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16, 20, 20])
    return _model(nodes, [x], [1, 10], inits)


def mlp() -> onnx.ModelProto:
    """MatMul -> Add -> Relu -> MatMul over 64 rows: the column-tiled matmul path."""
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["m1"]),
        helper.make_node("Add", ["m1", "b1"], ["a1"]),
        helper.make_node("Relu", ["a1"], ["r1"]),
        helper.make_node("MatMul", ["r1", "w2"], ["y"]),
    ]
    inits = [_const("w1", (256, 512), 7), _const("b1", (512,), 8), _const("w2", (512, 256), 9)]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [64, 256])
    return _model(nodes, [x], [64, 256], inits)


def quantized(proto: onnx.ModelProto, folder: Path, name: str) -> Path:
    """`proto` quantized to QDQ as `ember quantize` does, on 8 standard-normal samples."""
    source = save_model(proto, folder, f"{name}_fp32")
    (value,) = proto.graph.input
    shape = [d.dim_value for d in value.type.tensor_type.shape.dim]
    calibration = folder / f"{name}_calibration.npz"
    samples = np.random.default_rng(0).standard_normal([8, *shape], dtype=np.float32)
    np.savez(calibration, **{value.name: samples})
    return quantize_model(source, calibration, folder / f"{name}_qdq.onnx").output


_CALL = re.compile(r'R\.call_dps_packed\("(ember\.dnnl\.[a-z_]+)".*R\.shape\(\[([-0-9, ]+)\]\)')


def compute_types(dumped: Path) -> list[str]:
    """The compute type of each oneDNN matmul and convolution call in a dumped IR file."""
    names = {code: name for name, code in onednn.COMPUTE_TYPES.items()}
    found = []
    for function, attrs in _CALL.findall(dumped.read_text()):
        if function not in onednn.LEADING_ATTRS:
            continue
        call = LibraryCall(function, [], [int(v) for v in attrs.split(",")])
        found.append(names[call.compute_type or 0])
    return found


@pytest.mark.parametrize(("name", "build", "calls"), [("convnet", convnet, 3), ("mlp", mlp, 2)])
def test_qdq_models_run_int8_calls_with_onnxruntime_numbers(name, build, calls, tmp_path):
    source = quantized(build(), tmp_path, name)
    dump = tmp_path / "ir"
    options = CompileOptions(layout="nhwc", dump_ir=dump)
    artifact = compile_model(source, "x86", tmp_path / f"{name}.so", options)
    assert compute_types(dump / "03_dispatch.py") == ["int8"] * calls
    assert read_manifest(artifact)["int8"] == {"nodes": calls, "float32": []}
    (value,) = build().graph.input
    shape = [d.dim_value for d in value.type.tensor_type.shape.dim]
    for seed in range(3):
        x = np.random.default_rng(10 + seed).standard_normal(shape, dtype=np.float32)
        ours = ember.load(artifact).run({value.name: x})[0]
        (want,) = ort_outputs(str(source), {value.name: x})
        # The int32 sums are exact; a value on a rounding boundary of the next QuantizeLinear
        # may land one step away (float32 sums in another order), which moves a few outputs.
        error = np.abs(ours - want)
        assert np.mean(error > 1e-5 * np.abs(want).max()) < 0.05
        assert error.max() <= 0.05 * np.abs(want).max()


def test_int8_weights_are_stored_as_int8(tmp_path):
    """An int8 call's weights take a quarter of their float32 bytes in the artifact."""
    proto = mlp()
    weights = sum(np.prod(init.dims) for init in proto.graph.initializer if len(init.dims) == 2)
    fp32 = compile_model(save_model(proto, tmp_path, "fp32"), "x86", tmp_path / "fp32.so")
    int8 = compile_model(quantized(proto, tmp_path, "mlp"), "x86", tmp_path / "int8.so")
    assert fp32.stat().st_size - int8.stat().st_size >= 0.9 * 3 * weights


def test_weights_off_an_int8_grid_keep_float32_and_are_named(tmp_path):
    """Quantized activations but float32 weights: the calls stay fp32, and the compile, the
    manifest and `ember check` name the nodes that run in float32."""
    source = save_model(conv_chain_model(), tmp_path, "qdq_convs")
    dump = tmp_path / "ir"
    progress = SilentProgress()
    options = CompileOptions(layout="nhwc", dump_ir=dump)
    out = compile_model(source, "x86", tmp_path / "c.so", options, progress)
    assert compute_types(dump / "03_dispatch.py") == ["fp32", "fp32"]
    assert read_manifest(out)["int8"] == {"nodes": 2, "float32": ["Conv_2", "Conv_6"]}
    [warning] = [w for w in progress.warnings if "quantized" in w]
    assert warning.startswith("2 of 2 quantized Conv/MatMul/Gemm nodes run in float32, not int8")
    assert warning.endswith("'Conv_2' (Conv), 'Conv_6' (Conv)")
    checked = ember_cli("check", str(source))
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.splitlines()[-1] == f"note: {warning}"


def coarse_grid_gemm(steps: tuple[int, ...]) -> onnx.ModelProto:
    """Quantized input -> Gemm(transB) whose int8 weights reach only +-steps[j] in channel j.

    ONNX Runtime quantized MobileNetV2's classifier so: per-channel scales, yet integers
    within +-1 to +-18, not +-127.
    """
    rng = np.random.default_rng(4)
    q = np.stack([rng.integers(-m, m + 1, 96) for m in steps]).astype(np.int8)
    q[:, 0] = steps  # each channel reaches its bound
    inits = [
        numpy_helper.from_array(q, "wq"),
        numpy_helper.from_array(rng.uniform(0.01, 0.05, len(steps)).astype(np.float32), "ws"),
        numpy_helper.from_array(np.zeros(len(steps), np.int8), "wz"),
        numpy_helper.from_array(np.float32(0.02), "xs"),
        numpy_helper.from_array(np.uint8(128), "xz"),
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
        helper.make_node("DequantizeLinear", ["xq", "xs", "xz"], ["xd"]),
        helper.make_node("DequantizeLinear", ["wq", "ws", "wz"], ["w"], axis=0),
        helper.make_node("Gemm", ["xd", "w"], ["y"], transB=1),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 96])
    return _model(nodes, [x], [4, len(steps)], inits)


def test_weights_on_a_coarser_int8_grid_run_int8(tmp_path):
    """Channels whose integers stay within +-m (m < 127) are still int8 weights: the call is
    int8, stores the model's own integers, and its outputs are ONNX Runtime's."""
    source = save_model(coarse_grid_gemm((1, 2, 3, 18, 127, 1, 2, 5)), tmp_path, "coarse")
    dump = tmp_path / "ir"
    artifact = compile_model(source, "x86", tmp_path / "coarse.so", CompileOptions(dump_ir=dump))
    assert compute_types(dump / "03_dispatch.py") == ["int8"]
    assert read_manifest(artifact)["int8"] == {"nodes": 1, "float32": []}
    x = np.random.default_rng(5).standard_normal((4, 96), dtype=np.float32)
    (want,) = ort_outputs(str(source), {"x": x})
    ours = ember.load(artifact).run({"x": x})[0]
    # The same integer products; float32 scaling and sums in another order.
    assert np.abs(ours - want).max() <= 1e-5 * np.abs(want).max()


def conv_chain() -> onnx.ModelProto:
    """Conv -> Relu -> depthwise Conv -> Relu -> Conv: MobileNet's expand/depthwise/project."""
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1], group=48),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("Conv", ["r2", "w3", "b3"], ["y"]),
    ]
    shapes = {"w1": (48, 16, 1, 1), "b1": (48,), "w2": (48, 1, 3, 3), "b2": (48,)}
    inits = [_const(name, shape, seed) for seed, (name, shape) in enumerate(shapes.items())]
    inits += [_const("w3", (16, 48, 1, 1), 5), _const("b3", (16,), 6)]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16, 14, 14])
    return _model(nodes, [x], [1, 16, 14, 14], inits)


def test_activations_between_int8_convolutions_stay_8_bit(tmp_path):
    """Each inner result is written as uint8 by its convolution and read as it is by the next,
    with ONNX Runtime's numbers, on oneDNN and on the OpenBLAS stand-in alike."""
    source = quantized(conv_chain(), tmp_path, "chain")
    artifact, dispatched_ir = _compiled_nhwc(source, tmp_path, "chain")
    dispatched = dispatched_ir.read_text()
    assert compute_types(dispatched_ir) == ["int8"] * 3
    assert dispatched.count('R.Tensor((1, 14, 14, 48), dtype="uint8")') >= 2
    x = np.random.default_rng(3).standard_normal((1, 16, 14, 14), dtype=np.float32)
    (want,) = ort_outputs(str(source), {"x": x})
    ours = ember.load(artifact).run({"x": x})[0]
    assert np.abs(ours - want).max() <= 0.05 * np.abs(want).max()
    # The stand-in reads and writes the same 8-bit tensors.
    stand_in = _run_on_stand_in(artifact, x, tmp_path)
    assert np.abs(stand_in - ours).max() <= 0.05 * np.abs(want).max()


def test_a_quantized_residual_block_rounds_inside_its_convolutions(tmp_path):
    """A QDQ residual block's roundings and its add run inside its convolutions: the first
    writes its output as uint8, which the second reads both as its source and as the shortcut
    it adds before rounding the sum, with no kernel between them, and ONNX Runtime's numbers on
    oneDNN and on the stand-in alike."""
    source = quantized(convnet(), tmp_path, "convnet")
    artifact, dispatched_ir = _compiled_nhwc(source, tmp_path, "convnet")
    dispatched = dispatched_ir.read_text()
    assert compute_types(dispatched_ir) == ["int8"] * 3
    assert onednn.CONV_NHWC_RESIDUAL in dispatched
    # The roundings left outside: the average pool's and the classifier's output.
    assert dispatched.count("R.round(") == 2
    assert dispatched.count('R.Tensor((1, 20, 20, 32), dtype="uint8")') == 1
    x = np.random.default_rng(4).standard_normal((1, 16, 20, 20), dtype=np.float32)
    (want,) = ort_outputs(str(source), {"x": x})
    scale = np.abs(want).max()
    for ours in (ember.load(artifact).run({"x": x})[0], _run_on_stand_in(artifact, x, tmp_path)):
        # A value on a rounding boundary may land one step away (see the test above).
        error = np.abs(ours - want)
        assert np.mean(error > 1e-5 * scale) < 0.05
        assert error.max() <= 0.05 * scale


def test_int8_outputs_do_not_depend_on_the_thread_count(tmp_path):
    """int8 convolutions split each image into as many tiles as the pool has threads (their
    int32 sums are exact in any tile): 1, 2 and 3 threads give the same output, bit for bit."""
    source = quantized(convnet(), tmp_path, "convnet")
    artifact, _ = _compiled_nhwc(source, tmp_path, "convnet")
    x = np.random.default_rng(5).standard_normal((1, 16, 20, 20), dtype=np.float32)
    outputs = [ember.load(artifact, threads=n).run({"x": x})[0] for n in (1, 2, 3)]
    assert all(np.array_equal(outputs[0], other) for other in outputs[1:])


def _compiled_nhwc(source: Path, folder: Path, name: str) -> tuple[Path, Path]:
    """`source` compiled for x86 in NHWC: the artifact, and its IR after dispatch (dumped)."""
    dump = folder / "ir"
    options = CompileOptions(layout="nhwc", dump_ir=dump)
    return compile_model(source, "x86", folder / f"{name}.so", options), dump / "03_dispatch.py"


def _run_on_stand_in(artifact: Path, x: np.ndarray, folder: Path) -> np.ndarray:
    """The output of `artifact` on input `x`, run on the OpenBLAS stand-in (EMBER_ONEDNN=0, in
    a fresh process)."""
    script = (
        "import sys, numpy as np, ember\n"
        "x = np.load(sys.argv[2])\n"
        "np.save(sys.argv[3], ember.load(sys.argv[1]).run({'x': x})[0])\n"
    )
    np.save(folder / "x.npy", x)
    done = subprocess.run(
        [sys.executable, "-c", script, str(artifact), str(folder / "x.npy"), str(folder / "y.npy")],
        env={**os.environ, "EMBER_ONEDNN": "0"},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return np.load(folder / "y.npy")


def attention(seq: int = 16, width: int = 64, heads: int = 4) -> onnx.ModelProto:
    """Self-attention's core: Q/K/V projections, Q x K^T, scale, softmax, P x V, heads merged."""
    depth = width // heads
    inits = [_const(name, (width, width), seed) for seed, name in enumerate(("wq", "wk", "wv"))]
    inits += [
        numpy_helper.from_array(np.array([1, seq, heads, depth], np.int64), "heads"),
        numpy_helper.from_array(np.array([1, seq, width], np.int64), "merged"),
        numpy_helper.from_array(np.array(depth**-0.5, np.float32), "scale"),
    ]
    node = helper.make_node
    nodes = [node("MatMul", ["x", f"w{n}"], [n]) for n in "qkv"]
    nodes += [node("Reshape", [n, "heads"], [f"{n}4"]) for n in "qkv"]
    nodes += [
        node("Transpose", ["q4"], ["qh"], perm=[0, 2, 1, 3]),
        node("Transpose", ["k4"], ["kt"], perm=[0, 2, 3, 1]),
        node("Transpose", ["v4"], ["vh"], perm=[0, 2, 1, 3]),
        node("MatMul", ["qh", "kt"], ["s"], name="scores"),
        node("Mul", ["s", "scale"], ["ss"]),
        node("Softmax", ["ss"], ["p"], axis=-1),
        node("MatMul", ["p", "vh"], ["o"], name="context"),
        node("Transpose", ["o"], ["ot"], perm=[0, 2, 1, 3]),
        node("Reshape", ["ot", "merged"], ["y"]),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, seq, width])
    return _model(nodes, [x], [1, seq, width], inits)


@pytest.mark.skipif(_host_bf16_problem() is not None, reason=f"{_host_bf16_problem()}")
def test_products_of_two_quantized_operands_multiply_their_integers_in_bf16(tmp_path):
    """Attention's Q x K^T and P x V, both operands computed and quantized: on a CPU with bf16
    instructions they multiply their integers (exact in bf16) and count as int8; the numbers
    are those of the float32 products a CPU without bf16 computes, ONNX Runtime's within a
    step of the output grid, and the artifact says it needs bf16 instructions."""
    source = quantized(attention(), tmp_path, "attention")
    dump = tmp_path / "ir"
    artifact = compile_model(source, "x86", tmp_path / "a.so", CompileOptions(dump_ir=dump))
    assert compute_types(dump / "03_dispatch.py") == ["int8"] * 3 + ["bf16"] * 2
    manifest = read_manifest(artifact)
    assert manifest["int8"] == {"nodes": 5, "float32": []}
    assert "avx512bf16" in manifest["target"]["cpu_features"]
    # Skylake-SP has no bf16 instructions: the two products stay float32, and are named.
    float32 = compile_model(source, "x86-avx512", tmp_path / "f.so")
    assert read_manifest(float32)["int8"] == {"nodes": 5, "float32": ["context", "scores"]}
    for seed in range(3):
        x = np.random.default_rng(20 + seed).standard_normal((1, 16, 64), dtype=np.float32)
        ours = ember.load(artifact).run({"x": x})[0]
        np.testing.assert_array_equal(ours, ember.load(float32).run({"x": x})[0])
        (want,) = ort_outputs(str(source), {"x": x})
        assert np.abs(ours - want).max() <= 0.05 * np.abs(want).max()
    # The stand-in widens the integers and scales the sums alike.
    stand_in = _run_on_stand_in(artifact, x, tmp_path)
    assert np.abs(stand_in - ours).max() <= 0.05 * np.abs(want).max()
    # A CPU without bf16 instructions would emulate them: the artifact is refused at load.
    hidden = {**os.environ, "EMBER_HIDE_CPU_FEATURES": "avx512bf16,amx-bf16"}
    code = f"import ember; ember.load({str(artifact)!r})"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=hidden)
    assert proc.returncode != 0
    assert "with avx512bf16, this machine is x86_64 without avx512bf16" in proc.stderr

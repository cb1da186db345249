"""`--precision bf16` on x86: oneDNN's matmuls and convolutions multiply in bfloat16.

Each case compiles a small model for this machine with `--precision bf16` and compares with
ONNX Runtime in float32: within bf16's error (1e-2 of the output's scale), and, where the
weights are packed constants, visibly further from float32 than a float32 kernel gets (so the
kernel really rounded). Skipped on CPUs without AVX512-BF16 or AMX-BF16, where the compile is
refused (tests/compiler/test_precision.py checks that error).
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import ember
from ember.compiler.api import compile_model
from ember.compiler.examples.decoder_model import DecoderShape, kv_decoder
from ember.compiler.examples.reference import ort_outputs
from ember.compiler.libraries import onednn
from ember.compiler.options import CompileOptions
from ember.compiler.precision import check_precision
from ember.compiler.target import resolve
from ember.errors import OptionError
from ember.runtime import read_manifest
from tests.compiler.test_onednn_dispatch import _const, _model, conv_model, matmul_model
from tests.conftest import random_feed, save_model


def _host_bf16_problem() -> str | None:
    try:
        check_precision("bf16", resolve("x86"))
    except OptionError as err:
        return str(err)
    return None


pytestmark = pytest.mark.skipif(
    _host_bf16_problem() is not None, reason=f"no bf16 on this host: {_host_bf16_problem()}"
)

#: bf16 keeps 8 significant bits: sums of products stay within this of the output's scale.
BF16_TOLERANCE = 1e-2
#: A float32 kernel's error on these cases is ~1e-7; bf16 rounding shows above this.
ROUNDED = 1e-5


def residual_matmul_model(rows: int, k: int, n: int) -> onnx.ModelProto:
    """y = a @ W + bias + r: a matmul with a bias and residual epilogue."""
    nodes = [
        helper.make_node("MatMul", ["a", "w"], ["p"]),
        helper.make_node("Add", ["p", "bias"], ["q"]),
        helper.make_node("Add", ["q", "r"], ["y"]),
    ]
    inputs = [
        helper.make_tensor_value_info("a", TensorProto.FLOAT, [rows, k]),
        helper.make_tensor_value_info("r", TensorProto.FLOAT, [rows, n]),
    ]
    return _model(nodes, inputs, [rows, n], [_const("w", (k, n)), _const("bias", (n,), 1)])


def transposed_keys_model() -> onnx.ModelProto:
    """scores = q @ k^T with both run-time inputs: attention's scores, `ember.dnnl.matmul_bt`."""
    nodes = [
        helper.make_node("Transpose", ["k"], ["kt"], perm=[0, 1, 3, 2]),
        helper.make_node("MatMul", ["q", "kt"], ["y"]),
    ]
    inputs = [
        helper.make_tensor_value_info("q", TensorProto.FLOAT, [1, 4, 128, 64]),
        helper.make_tensor_value_info("k", TensorProto.FLOAT, [1, 4, 128, 64]),
    ]
    return _model(nodes, inputs, [1, 4, 128, 128], [])


# name: (model, whether it must round: packed constant weights in oneDNN)
CASES = {
    # Many rows: tiles of rows, each rounding its own source rows.
    "matmul row tiles": (lambda: matmul_model([300, 96], [96, 80], [300, 80], True), True),
    # Few rows: column tiles reading one rounded source, writing dense tiles copied into place.
    "matmul column tiles": (lambda: matmul_model([16, 256], [256, 600], [16, 600], True), True),
    "matmul column tiles residual": (lambda: residual_matmul_model(24, 128, 520), True),
    "matmul row vector": (lambda: matmul_model([1, 256], [256, 300], [1, 300], True), True),
    # Both operands computed: oneDNN's bf16 math mode, float32 in memory.
    "batched activations": (
        lambda: matmul_model([2, 3, 70, 16], [2, 3, 16, 9], [2, 3, 70, 9], False),
        False,
    ),
    # Computed keys read transposed: bf16 math mode too (oneDNN may keep tiny ones float32).
    "scores against transposed keys": (transposed_keys_model, False),
    "conv 3x3": (lambda: conv_model(cin=16, cout=32, size=14, kernel=3, pads=(1,) * 4), True),
    "conv channel tiles": (
        lambda: conv_model(cin=32, cout=160, size=7, kernel=3, pads=(1,) * 4),
        True,
    ),
    # Alone in a model, a depthwise conv stays a generated float32 kernel (little arithmetic
    # per byte: nothing for bf16 to speed up).
    "conv depthwise": (
        lambda: conv_model(cin=16, cout=16, size=20, kernel=3, pads=(1,) * 4, groups=16),
        False,
    ),
    "conv1d strided": (
        lambda: conv_model(cin=1, cout=16, size=400, kernel=10, stride=5, dims=1),
        True,
    ),
}


def _relative_error(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.max(np.abs(got - want)) / np.max(np.abs(want)))


@pytest.mark.parametrize("case", list(CASES))
def test_bf16_kernels_round_within_bf16_error(case, tmp_path):
    make, rounds = CASES[case]
    proto = make()
    source = save_model(proto, tmp_path, case.replace(" ", "_"))
    out = compile_model(source, "x86", tmp_path / "m.so", CompileOptions(precision="bf16"))
    feed = random_feed(proto)
    got = ember.load(out).run(feed)
    (want,) = ort_outputs(str(source), feed)
    error = _relative_error(got[0], want)
    assert error <= BF16_TOLERANCE, f"{case}: {error:.2e} beyond bf16's error"
    if rounds:
        assert error >= ROUNDED, f"{case}: {error:.2e} is float32's error, not bf16's"


def test_bf16_artifact_records_its_precision_and_runs_the_whole_mlp(tmp_path):
    from ember.compiler.examples import models

    proto = models.mlp()
    source = save_model(proto, tmp_path, "mlp")
    out = compile_model(source, "x86", tmp_path / "mlp.so", CompileOptions(precision="bf16"))
    manifest = read_manifest(out)
    assert manifest["options"]["precision"] == "bf16"
    assert manifest["inputs"][0]["dtype"] == manifest["outputs"][0]["dtype"] == "float32"
    assert onednn.PLUGIN in manifest["plugins"]
    feed = random_feed(proto)
    (want,) = ort_outputs(str(source), feed)
    assert _relative_error(ember.load(out).run(feed)[0], want) <= BF16_TOLERANCE
    # Its weights are stored as bf16: half their float32 bytes.
    weights = sum(np.prod(init.dims) for init in proto.graph.initializer if len(init.dims) == 2)
    fp32 = compile_model(source, "x86", tmp_path / "fp32.so")
    assert fp32.stat().st_size - out.stat().st_size >= 0.9 * 2 * weights


def test_bf16_artifact_on_a_cpu_without_bf16_is_one_clear_error(tmp_path):
    # EMBER_HIDE_CPU_FEATURES makes the runtime treat the extensions as absent.
    from ember.compiler.examples import models

    source = save_model(models.mlp(), tmp_path, "mlp")
    out = compile_model(source, "x86", tmp_path / "mlp.so", CompileOptions(precision="bf16"))
    env = {**os.environ, "EMBER_HIDE_CPU_FEATURES": "avx512bf16,amx-bf16"}
    code = f"import ember; ember.load({str(out)!r})"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert "IncompatibleArtifactError" in last
    assert "computes in bf16, and this CPU has neither AVX512-BF16 nor AMX-BF16" in last


def conv_chain_model() -> onnx.ModelProto:
    """Conv -> ReLU -> Conv -> Conv: each inner result only feeds the next convolution."""
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["h1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["h1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["h2"]),
        helper.make_node("Conv", ["h2", "w3", "b3"], ["y"], pads=[1, 1, 1, 1]),
    ]
    inits = [
        _const("w1", (32, 16, 3, 3)),
        _const("b1", (32,), 1),
        _const("w2", (48, 32, 1, 1), 2),
        _const("b2", (48,), 3),
        _const("w3", (16, 48, 3, 3), 4),
        _const("b3", (16,), 5),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16, 12, 12])
    return _model(nodes, [x], [1, 16, 12, 12], inits)


def test_activations_between_convolutions_stay_bf16(tmp_path):
    proto = conv_chain_model()
    source = save_model(proto, tmp_path, "chain")
    dump = tmp_path / "ir"
    options = CompileOptions(precision="bf16", layout="nhwc", dump_ir=dump)
    out = compile_model(source, "x86", tmp_path / "chain.so", options)
    # The two inner results are written as bf16 by one convolution and read by the next.
    fused = sorted(dump.glob("*_fuse.py"))[-1].read_text()
    assert fused.count('R.Tensor((1, 12, 12, 32), dtype="bfloat16")') >= 1
    assert fused.count('R.Tensor((1, 12, 12, 48), dtype="bfloat16")') >= 1
    feed = random_feed(proto)
    (want,) = ort_outputs(str(source), feed)
    error = _relative_error(ember.load(out).run(feed)[0], want)
    assert ROUNDED <= error <= BF16_TOLERANCE


def residual_blocks_model(side: int = 12, width: int = 24) -> onnx.ModelProto:
    """A stem convolution, then two residual blocks (conv -> ReLU -> conv + skip -> ReLU).

    The stem's and the first block's outputs feed the next block's first convolution and its
    residual add; the second block's output is the model's, y. The blocks are `width`
    channels wide on `side` x `side` images.
    """
    nodes = [helper.make_node("Conv", ["x", "w0", "b0"], ["s"], pads=[1, 1, 1, 1])]
    nodes.append(helper.make_node("Relu", ["s"], ["y0"]))
    inits = [_const("w0", (width, 16, 3, 3)), _const("b0", (width,), 1)]
    for block, inner in ((1, 32), (2, 40)):
        seed = 10 * block
        skip, out = f"y{block - 1}", "y" if block == 2 else f"y{block}"
        nodes += [
            helper.make_node("Conv", [skip, f"wa{block}", f"ba{block}"], [f"a{block}"]),
            helper.make_node("Relu", [f"a{block}"], [f"r{block}"]),
            helper.make_node(
                "Conv", [f"r{block}", f"wb{block}", f"bb{block}"], [f"c{block}"], pads=[1, 1, 1, 1]
            ),
            helper.make_node("Add", [f"c{block}", skip], [f"sum{block}"]),
            helper.make_node("Relu", [f"sum{block}"], [out]),
        ]
        inits += [
            _const(f"wa{block}", (inner, width, 1, 1), seed),
            _const(f"ba{block}", (inner,), seed + 1),
            _const(f"wb{block}", (width, inner, 3, 3), seed + 2),
            _const(f"bb{block}", (width,), seed + 3),
        ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16, side, side])
    return _model(nodes, [x], [1, width, side, side], inits)


# Row tiles, and channel tiles (few pixels, many channels: each tile adds its residual from a
# dense copy of its own).
@pytest.mark.parametrize("side,width", [(12, 24), (6, 128)], ids=["row tiles", "channel tiles"])
def test_residual_blocks_pass_bf16_from_block_to_block(side, width, tmp_path):
    proto = residual_blocks_model(side, width)
    source = save_model(proto, tmp_path, "blocks")
    dump = tmp_path / "ir"
    options = CompileOptions(precision="bf16", layout="nhwc", dump_ir=dump)
    out = compile_model(source, "x86", tmp_path / "blocks.so", options)
    fused = sorted(dump.glob("*_fuse.py"))[-1].read_text()
    calls = [line for line in fused.splitlines() if "R.call_dps_packed" in line]
    residual = [line for line in calls if f'"{onednn.CONV_NHWC_RESIDUAL}"' in line]
    assert len(residual) == 2
    # The first block's output (read by the second block's convolution and residual add) is
    # bf16; the second's, the model's output, float32. Both add a bf16 residual.
    shape = f"(1, {side}, {side}, {width})"
    assert f'out_ty=R.Tensor({shape}, dtype="bfloat16")' in residual[0]
    assert f'out_ty=R.Tensor({shape}, dtype="float32")' in residual[1]
    assert all('dtype="bfloat16")' in line for line in calls if line not in residual)
    feed = random_feed(proto)
    (want,) = ort_outputs(str(source), feed)
    error = _relative_error(ember.load(out).run(feed)[0], want)
    assert ROUNDED <= error <= BF16_TOLERANCE


def attention_model(cached_keys: bool = False) -> onnx.ModelProto:
    """softmax(q k) v over 2 heads, each operand computed by an elementwise kernel.

    With `cached_keys` the keys are the input `k` as it is (a key cache passed in).
    """
    keys = "k" if cached_keys else "kt"
    nodes = [
        helper.make_node("Tanh", ["q"], ["qt"]),
        helper.make_node("Tanh", ["v"], ["vt"]),
        helper.make_node("MatMul", ["qt", keys], ["s"]),
        helper.make_node("Softmax", ["s"], ["p"], axis=-1),
        helper.make_node("MatMul", ["p", "vt"], ["y"]),
    ]
    if not cached_keys:
        nodes.insert(0, helper.make_node("Tanh", ["k"], ["kt"]))
    inputs = [
        helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)
        for name, shape in (("q", [1, 2, 48, 32]), ("k", [1, 2, 32, 48]), ("v", [1, 2, 48, 32]))
    ]
    return _model(nodes, inputs, [1, 2, 48, 32], [])


@pytest.mark.parametrize("cached_keys", [False, True], ids=["computed", "keys passed in"])
def test_attention_operands_are_rounded_where_they_are_computed(cached_keys, tmp_path):
    proto = attention_model(cached_keys)
    source = save_model(proto, tmp_path, "attention")
    dump = tmp_path / "ir"
    out = compile_model(
        source, "x86", tmp_path / "attention.so", CompileOptions(precision="bf16", dump_ir=dump)
    )
    fused = sorted(dump.glob("*_fuse.py"))[-1].read_text()
    scores = next(line for line in fused.splitlines() if "R.Tensor((1, 2, 48, 48)" in line)
    # Computed operands arrive as bf16 (the tanh kernels write them so); a tensor passed in is
    # read as it is, so its product keeps both operands float32. (The softmax is the scores'
    # epilogue, which the plugin writes float32: P x V stays float32.)
    assert onednn.MATMUL_EPILOGUE in scores
    assert (fused.count('dtype="bfloat16"') > 0) == (not cached_keys)
    feed = random_feed(proto)
    (want,) = ort_outputs(str(source), feed)
    error = _relative_error(ember.load(out).run(feed)[0], want)
    assert error <= BF16_TOLERANCE
    if not cached_keys:
        assert error >= ROUNDED


def test_a_bf16_decoder_step_reads_its_caches_as_they_are(tmp_path):
    """A decode step (4 new tokens after 9 cached) of the grouped-query decoder, in bf16.

    Attention reads the caches as they are (inputs, kept float32 rather than copied whole
    into bf16 every step) and the step's own keys and values (also outputs).
    """
    shape = DecoderShape()
    source = save_model(kv_decoder(shape), tmp_path, "decoder")
    out = compile_model(source, "x86", tmp_path / "decoder.so", CompileOptions(precision="bf16"))
    rng = np.random.default_rng(4)
    cache = (shape.layers, 1, shape.kv_heads, 9, shape.head_dim)
    feed = {
        "input_ids": rng.integers(0, shape.vocab, (1, 4)).astype(np.int64),
        "past_k": rng.standard_normal(cache).astype(np.float32),
        "past_v": rng.standard_normal(cache).astype(np.float32),
    }
    wants = ort_outputs(str(source), feed)
    gots = ember.load(out).run(feed)
    logits_error = _relative_error(gots[0], wants[0])
    assert ROUNDED <= logits_error <= BF16_TOLERANCE
    # The caches pass through (the past rows exactly, the new rows within bf16's error).
    for got, want in zip(gots[1:], wants[1:], strict=True):
        np.testing.assert_array_equal(got[:, :, :, :9], want[:, :, :, :9])
        assert _relative_error(got, want) <= BF16_TOLERANCE


def matmul_chain_model(lead: list[int]) -> onnx.ModelProto:
    """MatMul+bias -> ReLU -> MatMul+bias -> MatMul+bias+x: an MLP block with a skip.

    The first two results only feed the next matmul's left operand; the last adds the input.
    """
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["p1"]),
        helper.make_node("Add", ["p1", "b1"], ["h1"]),
        helper.make_node("Relu", ["h1"], ["r1"]),
        helper.make_node("MatMul", ["r1", "w2"], ["p2"]),
        helper.make_node("Add", ["p2", "b2"], ["h2"]),
        helper.make_node("MatMul", ["h2", "w3"], ["p3"]),
        helper.make_node("Add", ["p3", "b3"], ["h3"]),
        helper.make_node("Add", ["h3", "x"], ["y"]),
    ]
    inits = [
        _const("w1", (96, 200)),
        _const("b1", (200,), 1),
        _const("w2", (200, 150), 2),
        _const("b2", (150,), 3),
        _const("w3", (150, 96), 4),
        _const("b3", (96,), 5),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [*lead, 96])
    return _model(nodes, [x], [*lead, 96], inits)


# Few rows (column tiles, one rounded source) and many (row tiles, the last one shorter).
@pytest.mark.parametrize("lead", [[24], [2, 150]], ids=["24 rows", "2 x 150 rows"])
def test_activations_between_matmuls_stay_bf16(lead, tmp_path):
    proto = matmul_chain_model(lead)
    source = save_model(proto, tmp_path, "mlp_chain")
    dump = tmp_path / "ir"
    options = CompileOptions(precision="bf16", dump_ir=dump)
    out = compile_model(source, "x86", tmp_path / "mlp_chain.so", options)
    # The two inner results are written as bf16 by one matmul and read by the next; the last
    # (with the skip) writes float32.
    fused = sorted(dump.glob("*_fuse.py"))[-1].read_text()
    assert f'R.Tensor(({", ".join(map(str, lead))}, 200), dtype="bfloat16")' in fused
    assert f'R.Tensor(({", ".join(map(str, lead))}, 150), dtype="bfloat16")' in fused
    # `ember profile` names each matmul's own nodes, not its reader's.
    nodes = [site["nodes"] for site in read_manifest(out)["kernel_sources"]]
    assert nodes == [
        ["MatMul_0", "Add_1", "Relu_2"],
        ["MatMul_3", "Add_4"],
        ["MatMul_5", "Add_6", "Add_7"],
    ]
    feed = random_feed(proto)
    (want,) = ort_outputs(str(source), feed)
    error = _relative_error(ember.load(out).run(feed)[0], want)
    assert ROUNDED <= error <= BF16_TOLERANCE


def reshaped_gemm_chain_model() -> onnx.ModelProto:
    """GPT-2's feed-forward pair as exported: Gemm -> GELU -> [1, n, k] -> [n, k] -> Gemm."""
    nodes = [
        helper.make_node("Gemm", ["x", "w1", "b1"], ["h"]),
        helper.make_node("Gelu", ["h"], ["g"], approximate="tanh"),
        helper.make_node("Reshape", ["g", "wide"], ["g3"]),
        helper.make_node("Reshape", ["g3", "flat"], ["g2"]),
        helper.make_node("Gemm", ["g2", "w2", "b2"], ["y"]),
    ]
    inits = [
        _const("w1", (96, 200)),
        _const("b1", (200,), 1),
        _const("w2", (200, 96), 2),
        _const("b2", (96,), 3),
        helper.make_tensor("wide", TensorProto.INT64, [3], [1, 24, 200]),
        helper.make_tensor("flat", TensorProto.INT64, [2], [24, 200]),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [24, 96])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [24, 96])
    graph = helper.make_graph(nodes, "g", [x], [y], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])


def test_reshapes_that_end_where_they_began_do_not_break_a_bf16_chain(tmp_path):
    proto = reshaped_gemm_chain_model()
    source = save_model(proto, tmp_path, "gemm_chain")
    dump = tmp_path / "ir"
    out = compile_model(
        source, "x86", tmp_path / "gemm_chain.so", CompileOptions(precision="bf16", dump_ir=dump)
    )
    fused = sorted(dump.glob("*_fuse.py"))[-1].read_text()
    assert 'R.Tensor((24, 200), dtype="bfloat16")' in fused
    feed = random_feed(proto)
    (want,) = ort_outputs(str(source), feed)
    error = _relative_error(ember.load(out).run(feed)[0], want)
    assert ROUNDED <= error <= BF16_TOLERANCE


def test_matmuls_of_batched_constant_weights_keep_float32_between_them(tmp_path):
    """Constant [batch, k, n] weights are not packed: such matmuls pass float32 on."""
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h"]),
        helper.make_node("MatMul", ["h", "w2"], ["y"]),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 24, 96])
    proto = _model(nodes, [x], [2, 24, 32], [_const("w1", (2, 96, 64)), _const("w2", (2, 64, 32))])
    source = save_model(proto, tmp_path, "batched_weights")
    dump = tmp_path / "ir"
    out = compile_model(
        source, "x86", tmp_path / "batched.so", CompileOptions(precision="bf16", dump_ir=dump)
    )
    assert "bfloat16" not in sorted(dump.glob("*_fuse.py"))[-1].read_text()
    feed = random_feed(proto)
    (want,) = ort_outputs(str(source), feed)
    assert _relative_error(ember.load(out).run(feed)[0], want) <= BF16_TOLERANCE

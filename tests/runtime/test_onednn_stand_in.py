"""An artifact compiled for the oneDNN plugin still runs where that plugin cannot be used.

With oneDNN unavailable at run time (EMBER_ONEDNN=0 here; a missing libdnnl or libgomp takes
the same path), the runtime registers the OpenBLAS plugin's stand-ins under oneDNN's names,
says so on one line, and the outputs still match ONNX Runtime: every convolution shape the
oneDNN tests cover (the Winograd ones included), the matmuls, the fused epilogues (bias,
activations, residual) and the softmaxes oneDNN takes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from ember.compiler.api import compile_model
from ember.compiler.examples.reference import ort_outputs
from ember.compiler.libraries import onednn
from ember.compiler.options import CompileOptions
from ember.runtime import read_manifest
from tests.compiler.test_bf16_kernels import (
    BF16_TOLERANCE,
    _host_bf16_problem,
    _relative_error,
    attention_model,
    conv_chain_model,
    matmul_chain_model,
    residual_blocks_model,
)
from tests.compiler.test_onednn_dispatch import (
    CONVS,
    MATMULS,
    SOFTMAXES,
    _compile,
    _epilogue_model,
    conv_model,
    matmul_model,
    softmax_model,
)
from tests.compiler.test_winograd_convolutions import WINOGRAD_CONVS
from tests.conftest import assert_close_to_ort, random_feed

pytestmark = pytest.mark.skipif(
    onednn.unavailable_reason() is not None,
    reason=f"oneDNN is unavailable: {onednn.unavailable_reason()}",
)

EPILOGUES = [
    "conv relu6",
    "conv residual relu",
    "conv residual relu channel tiles",
    "matmul relu",
    "matmul sigmoid",
    "attention softmax",
    "matmul softmax column tiles",
]

# Loads each artifact in a process where oneDNN is turned off and saves its outputs.
RUN_ALL = """
import json, sys
import numpy as np
import ember
for artifact, feed_path, out_path in json.loads(sys.argv[1]):
    feed = dict(np.load(feed_path))
    outputs = ember.load(artifact, threads=2).run(feed)
    np.savez(out_path, *outputs)
"""


def _run_all_without_onednn(jobs: list[list[str]]) -> subprocess.CompletedProcess[str]:
    """RUN_ALL on `jobs` in a process where oneDNN is turned off; it must succeed."""
    env = {**os.environ, "EMBER_ONEDNN": "0"}
    proc = subprocess.run(
        [sys.executable, "-c", RUN_ALL, json.dumps(jobs)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    return proc


def _proto(case: str) -> onnx.ModelProto:
    if case in CONVS:
        return conv_model(**CONVS[case])
    if case in WINOGRAD_CONVS:
        return conv_model(**WINOGRAD_CONVS[case])
    if case in MATMULS:
        return matmul_model(*MATMULS[case])
    if case in SOFTMAXES:
        return softmax_model(*SOFTMAXES[case][:2])
    return _epilogue_model(case)


def test_onednn_calls_run_on_openblas_when_onednn_is_unavailable(tmp_path: Path):
    library_softmaxes = [case for case, (_, _, library) in SOFTMAXES.items() if library]
    cases = list(CONVS) + list(WINOGRAD_CONVS) + list(MATMULS) + EPILOGUES + library_softmaxes
    jobs, sources, feeds = [], {}, {}
    for case in cases:
        name = case.replace(" ", "_")
        source, artifact = _compile(_proto(case), tmp_path, name)
        assert onednn.PLUGIN in read_manifest(artifact)["plugins"], case
        feed = random_feed(onnx.load(source), seed=3)
        feed_path, out_path = tmp_path / f"{name}_feed.npz", tmp_path / f"{name}_out.npz"
        np.savez(feed_path, **feed)
        jobs.append([str(artifact), str(feed_path), str(out_path)])
        sources[case], feeds[case] = source, feed

    proc = _run_all_without_onednn(jobs)
    # One line for the process, naming the library, the reason and what runs instead.
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, proc.stderr
    assert "oneDNN is unavailable (EMBER_ONEDNN=0)" in warnings[0]
    assert "run on OpenBLAS instead" in warnings[0]

    for case, (_, _, out_path) in zip(cases, jobs, strict=True):
        saved = np.load(out_path)
        outputs = [saved[f"arr_{i}"] for i in range(len(saved.files))]
        assert_close_to_ort(sources[case], feeds[case], outputs)


# Loads the oneDNN plugin (or its stand-in, by EMBER_ONEDNN) before each script below.
PLUGIN = """
import numpy as np
import tvm
from ember._plugins import load_plugins
load_plugins(["cpu_dnnl"], "model.so")
"""


def _errors_printed(script: str, onednn_on: str) -> list[str]:
    """What `script`, run after PLUGIN in a fresh process, printed: one line per error."""
    env = {**os.environ, "EMBER_ONEDNN": onednn_on}
    proc = subprocess.run(
        [sys.executable, "-c", PLUGIN + script], env=env, capture_output=True, text=True, check=True
    )
    return proc.stdout.splitlines()


# Calls `ember.dnnl.softmax` with a wrong output and prints what it raised.
BAD_SOFTMAX = """
softmax = tvm.get_global_func("ember.dnnl.softmax")
x = tvm.runtime.tensor(np.zeros((2, 7), "float32"))
for out in (np.zeros((2, 6), "float32"), np.zeros((2, 7), "float64")):
    try:
        softmax(x, tvm.runtime.tensor(out))
    except Exception as err:
        print(type(err).__name__, str(err).splitlines()[-1])
"""


@pytest.mark.parametrize("onednn_on", ["1", "0"], ids=["oneDNN", "stand-in"])
def test_both_softmaxes_refuse_a_wrong_output_alike(onednn_on: str):
    assert _errors_printed(BAD_SOFTMAX, onednn_on) == [
        "ValueError ember.dnnl.softmax: the output must have the input's shape",
        "TypeError ember.dnnl.softmax: the output must be contiguous float32",
    ]


# Calls `ember.dnnl.matmul_epilogue` with a softmax that is not the epilogue's last step.
SOFTMAX_NOT_LAST = """
matmul = tvm.get_global_func("ember.dnnl.matmul_epilogue")
a, b = (tvm.runtime.tensor(np.ones((4, 4), "float32")) for _ in range(2))
bias = tvm.runtime.tensor(np.zeros(4, "float32"))
out = tvm.runtime.tensor(np.zeros((4, 4), "float32"))
softmax_then_relu = [0, 1, 2, 6, 0, 0, 0, 0, 0x7F800000]  # hash, bias, 2 steps
try:
    matmul(a, b, bias, tvm.runtime.ShapeTuple(softmax_then_relu), out)
except Exception as err:
    print(type(err).__name__, str(err).splitlines()[-1])
"""


@pytest.mark.parametrize("onednn_on", ["1", "0"], ids=["oneDNN", "stand-in"])
def test_a_softmax_epilogue_must_come_last(onednn_on: str):
    [printed] = _errors_printed(SOFTMAX_NOT_LAST, onednn_on)
    kind, message = printed.split(" ", 1)
    assert kind == "ValueError" and message.startswith("ember.dnnl")  # the call's namespace
    assert message.endswith(": a softmax must be the epilogue's last step")


# Calls `ember.dnnl.matmul` with each compute type after an empty epilogue: bf16 (1), and 7,
# which no Ember compiler writes.
COMPUTE_TYPES = """
matmul = tvm.get_global_func("ember.dnnl.matmul")
a, b = (tvm.runtime.tensor(np.ones((4, 4), "float32")) for _ in range(2))
out = tvm.runtime.tensor(np.zeros((4, 4), "float32"))
for compute in (1, 7):
    try:
        matmul(a, b, tvm.runtime.ShapeTuple([0, 0, 0, compute]), out)
        print("ok", float(out.numpy()[0, 0]))
    except Exception as err:
        print(type(err).__name__, str(err).splitlines()[-1])
"""


@pytest.mark.parametrize("onednn_on", ["1", "0"], ids=["oneDNN", "stand-in"])
def test_compute_type_after_the_epilogue_is_read_and_checked(onednn_on: str):
    # Ones times ones over 4 terms is 4 in bf16 too; the stand-in computes it in float32.
    bf16, unknown = _errors_printed(COMPUTE_TYPES, onednn_on)
    assert bf16 == "ok 4.0"
    kind, message = unknown.split(" ", 1)
    assert kind == "ValueError" and message.endswith(": unknown compute type 7")


# Calls `ember.dnnl.matmul` as an int8 call of a QDQ model: the source quantized with scale
# 0.1 and zero point 128 (uint8), the weights int8 with a scale per column, passed as the
# artifact stores them (integers, then scales); prints the largest difference from the float32
# product of the dequantized operands, then what three wrong calls raise: a compute type 2
# without its three values, float32 weights in an int8 call (an artifact of an older Ember),
# and a scale too few.
INT8_MATMUL = """
import struct
matmul = tvm.get_global_func("ember.dnnl.matmul")
rng = np.random.default_rng(0)
a = rng.uniform(-14.0, 14.0, (96, 64)).astype("float32")  # beyond the grid's range too
q = rng.integers(-127, 128, (64, 48)).astype("int8")
scales = rng.uniform(0.01, 0.03, 48).astype("float32")
b = (q * scales).astype("float32")
dequantized = (np.clip(np.rint(a / np.float32(0.1)) + 128, 0, 255) - 128) * np.float32(0.1)
out = tvm.runtime.tensor(np.zeros((96, 48), "float32"))
bits = struct.unpack("<I", struct.pack("<f", 0.1))[0]
int8_attrs = tvm.runtime.ShapeTuple([77, 0, 0, 2, bits, 128, 0])  # hash, no epilogue, int8
q_t, scales_t = tvm.runtime.tensor(q), tvm.runtime.tensor(scales)
matmul(tvm.runtime.tensor(a), q_t, scales_t, int8_attrs, out)
want = dequantized.astype("float64") @ b.astype("float64")
print("error", float(np.abs(out.numpy() - want).max() / np.abs(want).max()))
wrong_calls = [
    (q_t, scales_t, tvm.runtime.ShapeTuple([78, 0, 0, 2])),
    (tvm.runtime.tensor(b), int8_attrs),
    (q_t, tvm.runtime.tensor(scales[:47]), tvm.runtime.ShapeTuple([79, 0, 0, 2, bits, 128, 0])),
]
for operands in wrong_calls:
    try:
        matmul(tvm.runtime.tensor(a), *operands, out)
    except Exception as err:
        print(type(err).__name__, str(err).splitlines()[-1])
"""


@pytest.mark.parametrize("onednn_on", ["1", "0"], ids=["oneDNN", "stand-in"])
def test_int8_matmul_is_the_product_of_the_dequantized_operands(onednn_on: str):
    printed, *refused = _errors_printed(INT8_MATMUL, onednn_on)
    label, error = printed.split()
    assert label == "error" and float(error) < 1e-6  # int32 sums are exact; one scaling
    kinds, messages = zip(*(line.split(" ", 1) for line in refused), strict=True)
    assert kinds == ("ValueError", "TypeError", "ValueError")
    assert messages[0].endswith(": compute type 2 takes 3 values after it, not 0")
    assert "(an artifact compiled by an older Ember: compile it again)" in messages[1]
    assert messages[2].endswith(
        "ember.dnnl.matmul: int8 weights need one scale per output channel (48), got 47"
    )


# Calls `ember.dnnl.matmul_bt` (the right operand stored [..., N, K]) on a 2-D and a batched
# product, with a decode step's single row and with more rows than one tile, and prints the
# largest relative difference from numpy's a @ b^T.
MATMUL_BT = """
matmul_bt = tvm.get_global_func("ember.dnnl.matmul_bt")
rng = np.random.default_rng(0)
shapes = [((1, 64), (300, 64)), ((70, 48), (130, 48))]  # 2-D: one row, row tiles
shapes += [((3, 2, 1, 64), (3, 2, 257, 64)), ((2, 100, 16), (2, 90, 16))]  # batched
for a_shape, b_shape in shapes:
    a = rng.standard_normal(a_shape).astype("float32")
    b = rng.standard_normal(b_shape).astype("float32")
    want = a.astype("float64") @ np.swapaxes(b, -1, -2).astype("float64")
    out = tvm.runtime.tensor(np.zeros(want.shape, "float32"))
    matmul_bt(tvm.runtime.tensor(a), tvm.runtime.tensor(b), tvm.runtime.ShapeTuple([0]), out)
    print(float(np.abs(out.numpy() - want).max() / np.abs(want).max()))
"""


@pytest.mark.parametrize("onednn_on", ["1", "0"], ids=["oneDNN", "stand-in"])
def test_matmul_reads_a_transposed_right_operand(onednn_on: str):
    errors = [float(line) for line in _errors_printed(MATMUL_BT, onednn_on)]
    assert len(errors) == 4 and max(errors) < 1e-5


def test_bf16_activations_between_calls_run_on_openblas(tmp_path: Path):
    """Chained bf16 calls pass bf16 activations; the stand-in widens and rounds them."""
    if _host_bf16_problem() is not None:
        pytest.skip(f"no bf16 on this host: {_host_bf16_problem()}")
    protos = {
        "conv_chain": conv_chain_model(),
        "matmul_chain": matmul_chain_model([24]),
        "residual_blocks": residual_blocks_model(),
        "attention": attention_model(),
    }
    jobs, wants = [], []
    for name, proto in protos.items():
        source = tmp_path / f"{name}.onnx"
        onnx.save(proto, source)
        options = CompileOptions(precision="bf16", layout="nhwc")
        artifact = compile_model(source, "x86", tmp_path / f"{name}.so", options)
        feed = random_feed(proto, seed=3)
        np.savez(tmp_path / f"{name}_feed.npz", **feed)
        jobs.append([str(artifact), str(tmp_path / f"{name}_feed.npz"), str(tmp_path / name)])
        wants.append(ort_outputs(str(source), feed)[0])
    _run_all_without_onednn(jobs)
    for (_, _, out_path), want in zip(jobs, wants, strict=True):
        error = _relative_error(np.load(out_path + ".npz")["arr_0"], want)
        assert error <= BF16_TOLERANCE, f"{out_path}: {error:.2e}"

"""Matmuls and NHWC/1-D convolutions run in the oneDNN plugin; the numbers stay those of ONNX.

Every case compiles a one-operator model, runs it through the runtime and compares with ONNX
Runtime; the thread-count case checks that each output is computed the same way (bit for bit)
on 1, 2 and 3 threads.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import ember
from ember.compiler.api import compile_model
from ember.compiler.libraries import onednn
from ember.compiler.options import CompileOptions
from tests.conftest import assert_close_to_ort, random_feed

pytestmark = pytest.mark.skipif(
    onednn.unavailable_reason() is not None,
    reason=f"oneDNN is unavailable: {onednn.unavailable_reason()}",
)


def _model(nodes, inputs, output_shape, inits):
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, output_shape)
    graph = helper.make_graph(nodes, "g", inputs, [out], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _const(name, shape, seed=0):
    data = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    return numpy_helper.from_array(data, name)


def conv_model(
    cin, cout, size, kernel, stride=1, pads=(0, 0, 0, 0), dilation=1, groups=1, batch=1, dims=2
):
    """A Conv (with bias) on a `dims`-D image; `pads` are ONNX's (begins, then ends)."""
    spatial = [size] * dims
    begins, ends = pads[:dims], pads[dims:] if len(pads) == 2 * dims else pads[:dims]
    out = [
        (size + b + e - dilation * (kernel - 1) - 1) // stride + 1
        for b, e in zip(begins, ends, strict=True)
    ]
    node = helper.make_node(
        "Conv",
        ["x", "w", "b"],
        ["y"],
        strides=[stride] * dims,
        pads=[*begins, *ends],
        dilations=[dilation] * dims,
        group=groups,
    )
    inits = [_const("w", (cout, cin // groups, *[kernel] * dims)), _const("b", (cout,), 1)]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, cin, *spatial])
    return _model([node], [x], [batch, cout, *out], inits)


def matmul_model(a_shape, b_shape, out_shape, b_const):
    node = helper.make_node("MatMul", ["a", "b"], ["y"])
    inputs = [helper.make_tensor_value_info("a", TensorProto.FLOAT, a_shape)]
    if not b_const:
        inputs.append(helper.make_tensor_value_info("b", TensorProto.FLOAT, b_shape))
    return _model([node], inputs, out_shape, [_const("b", b_shape)] if b_const else [])


CONVS = {
    "3x3 pad": dict(cin=8, cout=16, size=14, kernel=3, pads=(1, 1, 1, 1)),
    "stride 2": dict(cin=8, cout=16, size=15, kernel=3, stride=2, pads=(1, 1, 1, 1)),
    "7x7 stem": dict(cin=3, cout=8, size=32, kernel=7, stride=2, pads=(3, 3, 3, 3)),
    "1x1": dict(cin=16, cout=32, size=9, kernel=1),
    "dilated": dict(cin=4, cout=8, size=17, kernel=3, pads=(2, 2, 2, 2), dilation=2),
    "asymmetric pads": dict(cin=4, cout=8, size=12, kernel=3, pads=(0, 1, 2, 1)),
    "grouped": dict(cin=8, cout=16, size=10, kernel=3, pads=(1, 1, 1, 1), groups=4),
    "depthwise": dict(cin=16, cout=16, size=20, kernel=3, pads=(1, 1, 1, 1), groups=16),
    "depthwise stride 2": dict(
        cin=24, cout=24, size=15, kernel=5, stride=2, pads=(2, 2, 2, 2), groups=24
    ),
    "batch 3": dict(cin=4, cout=4, size=15, kernel=3, pads=(1, 1, 1, 1), batch=3),
    "deep 3x3": dict(cin=64, cout=96, size=7, kernel=3, pads=(1, 1, 1, 1)),
    # Few pixels, many channels: tiled by output channels (the last tile narrower).
    "channel tiles 3x3": dict(cin=32, cout=144, size=7, kernel=3, pads=(1, 1, 1, 1)),
    "channel tiles 1x1": dict(cin=256, cout=256, size=7, kernel=1),
    "wide padding": dict(cin=2, cout=3, size=6, kernel=3, pads=(2, 0, 2, 1)),
    "conv1d strided": dict(cin=1, cout=16, size=400, kernel=10, stride=5, dims=1),
    "conv1d padded grouped": dict(
        cin=16, cout=16, size=50, kernel=8, pads=(4, 4), groups=4, dims=1
    ),
    # Long enough to split into tiles along the sequence, edge padding in the first and last.
    "conv1d tiled": dict(
        cin=64, cout=64, size=600, kernel=5, stride=2, pads=(3, 2), dilation=2, dims=1
    ),
    "conv1d tiled grouped": dict(
        cin=64, cout=64, size=700, kernel=3, pads=(1, 1), groups=2, dims=1
    ),
}
MATMULS = {
    "weights 2d": ([64, 96], [96, 80], [64, 80], True),
    "3d x 2d": ([2, 40, 96], [96, 40], [2, 40, 40], True),
    "batched": ([2, 3, 70, 16], [2, 3, 16, 9], [2, 3, 70, 9], False),
    "tall": ([300, 8], [8, 5], [300, 5], True),
    "row vector": ([1, 256], [256, 300], [1, 300], True),
    # Column tiles as wide as splits them evenly over the threads: 320 on 1, 384 on 2 and 3.
    "wide columns": ([24, 64], [64, 2304], [24, 2304], True),
    "activations 2d": ([50, 32], [32, 20], [50, 20], False),
}


# name: (input shape, axis, computed by oneDNN?). oneDNN takes the softmaxes whose rows the
# default schedule cannot vectorize whole (a width that is not a multiple of 8).
SOFTMAXES = {
    "softmax 197 wide": ([2, 3, 197], -1, True),  # ViT's 197 tokens
    "softmax 1500 wide": ([5, 1500], 1, True),  # Whisper's 1500 frames, axis given as last
    "softmax 128 wide": ([4, 128], -1, False),
    "softmax inner axis": ([3, 197, 8], 1, False),
}


def softmax_model(shape: list[int], axis: int) -> onnx.ModelProto:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)
    node = helper.make_node("Softmax", ["x"], ["y"], axis=axis)
    return _model([node], [x], shape, [])


def _compile(proto: onnx.ModelProto, folder: Path, name: str) -> tuple[Path, Path]:
    source = folder / f"{name}.onnx"
    onnx.save(proto, source)
    out = folder / f"{name}.so"
    compile_model(source, "x86", out, CompileOptions(layout="nhwc"))
    return source, out


@pytest.mark.parametrize("case", list(CONVS) + list(MATMULS))
def test_onednn_kernels_match_onnxruntime(case, tmp_path):
    proto = conv_model(**CONVS[case]) if case in CONVS else matmul_model(*MATMULS[case])
    source, artifact = _compile(proto, tmp_path, case.replace(" ", "_"))
    model = ember.load(artifact)
    assert onednn.PLUGIN in model.manifest["plugins"]
    calls = [k["kernel"] for k in model.manifest["kernel_sources"]]
    assert any(name.startswith("ember.dnnl.") for name in calls), calls
    feed = random_feed(onnx.load(source), seed=3)
    assert_close_to_ort(source, feed, model.run(feed))


@pytest.mark.parametrize("case", list(SOFTMAXES))
def test_softmax_goes_to_onednn_only_where_rows_do_not_vectorize_whole(case, tmp_path):
    shape, axis, library = SOFTMAXES[case]
    source, artifact = _compile(softmax_model(shape, axis), tmp_path, case.replace(" ", "_"))
    model = ember.load(artifact)
    calls = [k["kernel"] for k in model.manifest["kernel_sources"]]
    assert (onednn.SOFTMAX in calls) == library, calls
    # Logits spread wide enough that the rows are far from uniform.
    x = np.random.default_rng(2).standard_normal(shape).astype(np.float32) * 6
    assert_close_to_ort(source, {"x": x}, model.run({"x": x}))


@pytest.mark.parametrize(
    "case",
    ["deep 3x3", "channel tiles 3x3", "depthwise", "weights 2d", "row vector", "wide columns"],
)
def test_outputs_do_not_depend_on_the_thread_count(case, tmp_path):
    proto = conv_model(**CONVS[case]) if case in CONVS else matmul_model(*MATMULS[case])
    source, artifact = _compile(proto, tmp_path, case.replace(" ", "_"))
    feed = random_feed(onnx.load(source), seed=5)
    outputs = [ember.load(artifact, threads=n).run(feed)[0] for n in (1, 2, 3)]
    for other in outputs[1:]:
        np.testing.assert_array_equal(other, outputs[0])


def test_equal_channels_get_equal_outputs(tmp_path):
    # Softmax over channels of equal value (light SqueezeNet's logits) needs every output
    # channel summed in one order: equal weights must give exactly equal outputs.
    weights = np.full((40, 64, 3, 3), 0.013, np.float32)
    node = helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64, 9, 9])
    proto = _model([node], [x], [1, 40, 9, 9], [numpy_helper.from_array(weights, "w")])
    source, artifact = _compile(proto, tmp_path, "equal_channels")
    feed = random_feed(onnx.load(source), seed=7)
    (y,) = ember.load(artifact, threads=2).run(feed)
    assert (y == y[:, :1]).all()


def _epilogue_model(kind: str) -> onnx.ModelProto:
    """A conv or matmul with a bias and an activation after it (the fusible chain)."""
    rng = np.random.default_rng(11)
    if kind.startswith("conv residual relu"):
        # "... channel tiles": 7 x 7 pixels and 160 channels, tiled by channels.
        cin, cout, size = (32, 160, 7) if kind.endswith("channel tiles") else (8, 16, 12)
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, cin, size, size])
        skip = helper.make_tensor_value_info("skip", TensorProto.FLOAT, [1, cout, size, size])
        w = numpy_helper.from_array(rng.standard_normal((cout, cin, 3, 3)).astype(np.float32), "w")
        b = numpy_helper.from_array(rng.standard_normal(cout).astype(np.float32), "b")
        nodes = [
            helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
            helper.make_node("Add", ["c", "skip"], ["s"]),
            helper.make_node("Relu", ["s"], ["y"]),
        ]
        return _model(nodes, [x, skip], [1, cout, size, size], [w, b])
    if kind == "padded conv silu":
        # EfficientNet's strided block: a separate zero Pad (asymmetric, as TF's "same"),
        # the Conv, then SiLU written as Sigmoid and Mul.
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 13, 13])
        w = numpy_helper.from_array(rng.standard_normal((16, 8, 3, 3)).astype(np.float32), "w")
        b = numpy_helper.from_array(rng.standard_normal(16).astype(np.float32), "b")
        pads = numpy_helper.from_array(np.array([0, 0, 0, 0, 0, 0, 1, 1], np.int64), "pads")
        nodes = [
            helper.make_node("Pad", ["x", "pads"], ["p"]),
            helper.make_node("Conv", ["p", "w", "b"], ["c"], strides=[2, 2]),
            helper.make_node("Sigmoid", ["c"], ["s"]),
            helper.make_node("Mul", ["c", "s"], ["y"]),
        ]
        return _model(nodes, [x], [1, 16, 6, 6], [w, b, pads])
    if kind.startswith("conv"):
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 12, 12])
        w = numpy_helper.from_array(rng.standard_normal((16, 8, 3, 3)).astype(np.float32), "w")
        b = numpy_helper.from_array(rng.standard_normal(16).astype(np.float32), "b")
        nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1])]
        lo = numpy_helper.from_array(np.array(0.0, np.float32), "lo")
        hi = numpy_helper.from_array(np.array(6.0, np.float32), "hi")
        inits = [w, b, lo, hi]
        if kind == "conv scale relu6":  # a Mul by a scalar constant: a linear step
            inits.append(numpy_helper.from_array(np.array(0.37, np.float32), "k"))
            nodes.append(helper.make_node("Mul", ["c", "k"], ["c_scaled"]))
        clipped = "c_scaled" if kind == "conv scale relu6" else "c"
        nodes.append(helper.make_node("Clip", [clipped, "lo", "hi"], ["y"]))
        return _model(nodes, [x], [1, 16, 12, 12], inits)
    if kind == "attention softmax":
        # Attention's scores: q @ k^T of two activations, softmax over 70 keys (not a multiple
        # of 8: the plugin's softmax call); 70 queries are a full row tile and a short one.
        q = helper.make_tensor_value_info("q", TensorProto.FLOAT, [2, 3, 70, 16])
        k = helper.make_tensor_value_info("k", TensorProto.FLOAT, [2, 3, 16, 70])
        nodes = [
            helper.make_node("MatMul", ["q", "k"], ["m"]),
            helper.make_node("Softmax", ["m"], ["y"], axis=-1),
        ]
        return _model(nodes, [q, k], [2, 3, 70, 70], [])
    if kind.startswith("matmul softmax"):
        # "... column tiles": 4 rows x 1000 columns, split by columns, so the softmax runs
        # as a pass of its own; "... row tiles": 300 rows in tiles of whole rows.
        rows, cols = (4, 1000) if kind.endswith("column tiles") else (300, 40)
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [rows, 32])
        w = numpy_helper.from_array(rng.standard_normal((32, cols)).astype(np.float32), "w")
        b = numpy_helper.from_array(rng.standard_normal(cols).astype(np.float32), "b")
        nodes = [
            helper.make_node("MatMul", ["x", "w"], ["m"]),
            helper.make_node("Add", ["m", "b"], ["a"]),
            helper.make_node("Softmax", ["a"], ["y"], axis=1),
        ]
        return _model(nodes, [x], [rows, cols], [w, b])
    if kind == "matmul residual symbolic rows":
        # A decoder's residual connection: [rows, 40] on both sides with `rows` symbolic.
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["rows", 32])
        skip = helper.make_tensor_value_info("skip", TensorProto.FLOAT, ["rows", 40])
        w = numpy_helper.from_array(rng.standard_normal((32, 40)).astype(np.float32), "w")
        nodes = [
            helper.make_node("MatMul", ["x", "w"], ["m"]),
            helper.make_node("Add", ["skip", "m"], ["y"]),
        ]
        return _model(nodes, [x, skip], ["rows", 40], [w])
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [24, 32])
    w = numpy_helper.from_array(rng.standard_normal((32, 40)).astype(np.float32), "w")
    b = numpy_helper.from_array(rng.standard_normal(40).astype(np.float32), "b")
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["m"]),
        helper.make_node("Add", ["m", "b"], ["a"]),
    ]
    if kind == "matmul silu":
        nodes.append(helper.make_node("Sigmoid", ["a"], ["s"]))
        nodes.append(helper.make_node("Mul", ["s", "a"], ["y"]))
    else:
        act = {"matmul relu": "Relu", "matmul sigmoid": "Sigmoid"}[kind]
        nodes.append(helper.make_node(act, ["a"], ["y"]))
    return _model(nodes, [x], [24, 40], [w, b])


@pytest.mark.parametrize(
    "kind",
    [
        "conv relu6",
        "conv scale relu6",
        "conv residual relu",
        "conv residual relu channel tiles",
        "matmul relu",
        "matmul sigmoid",
        "matmul silu",
        "padded conv silu",
        "attention softmax",
        "matmul softmax column tiles",
        "matmul softmax row tiles",
        "matmul residual symbolic rows",
    ],
)
def test_bias_and_activation_run_inside_the_library_call(kind, tmp_path):
    source, artifact = _compile(_epilogue_model(kind), tmp_path, kind.replace(" ", "_"))
    model = ember.load(artifact)
    calls = model.manifest["kernel_sources"]
    fused = {
        "conv relu6": onednn.CONV_NHWC_EPILOGUE,
        "conv scale relu6": onednn.CONV_NHWC_EPILOGUE,
        "padded conv silu": onednn.CONV_NHWC_EPILOGUE,
        "conv residual relu": onednn.CONV_NHWC_RESIDUAL,
        "conv residual relu channel tiles": onednn.CONV_NHWC_RESIDUAL,
        "matmul residual symbolic rows": onednn.MATMUL_RESIDUAL,
    }.get(kind, onednn.MATMUL_EPILOGUE)
    library = [c for c in calls if c["kernel"].startswith("ember.dnnl.")]
    assert [c["kernel"] for c in library] == [fused], calls
    # No generated kernel is left for the epilogue; the call carries its ONNX nodes.
    assert not any(c["kernel"].startswith("fused_") or c["kernel"] == "add" for c in calls), calls
    assert len(library[0]["nodes"]) >= 2, calls
    feed = random_feed(onnx.load(source), seed=13)
    assert_close_to_ort(source, feed, model.run(feed))


def test_a_shortcut_conv_and_the_last_conv_of_a_block_both_keep_their_bias_fused(tmp_path):
    # ResNet's downsampling block: relu(conv_a(x) + b_a + conv_b(x) + b_b). One conv takes the
    # add as its residual; the other still adds its own bias in its call, not in a kernel after.
    rng = np.random.default_rng(5)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 10, 10])
    inits = [
        numpy_helper.from_array(rng.standard_normal((16, 8, 1, 1)).astype(np.float32), "wa"),
        numpy_helper.from_array(rng.standard_normal(16).astype(np.float32), "ba"),
        numpy_helper.from_array(rng.standard_normal((16, 8, 3, 3)).astype(np.float32), "wb"),
        numpy_helper.from_array(rng.standard_normal(16).astype(np.float32), "bb"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "wa", "ba"], ["a"]),
        helper.make_node("Conv", ["x", "wb", "bb"], ["b"], pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["a", "b"], ["s"]),
        helper.make_node("Relu", ["s"], ["y"]),
    ]
    source, artifact = _compile(_model(nodes, [x], [1, 16, 10, 10], inits), tmp_path, "block")
    model = ember.load(artifact)
    calls = model.manifest["kernel_sources"]
    library = sorted(c["kernel"] for c in calls if c["kernel"].startswith("ember.dnnl."))
    assert library == sorted([onednn.CONV_NHWC_EPILOGUE, onednn.CONV_NHWC_RESIDUAL]), calls
    assert not any(c["kernel"].startswith(("add", "fused_")) for c in calls), calls
    feed = random_feed(onnx.load(source), seed=3)
    assert_close_to_ort(source, feed, model.run(feed))


# Keys laid out [batch, tokens, heads, width] (BERT's and GPT-2's, straight from the
# projection), permuted for the scores in one transpose. Where the rest of the permutation
# keeps the source's rows whole, the scores read the keys in the queries' layout, transposed
# by oneDNN (`ember.dnnl.matmul_bt`); otherwise the transpose stays.
@pytest.mark.parametrize(
    "keys_shape,perm,reads_transposed",
    [([1, 10, 4, 8], [0, 2, 3, 1], True), ([1, 8, 4, 10], [0, 2, 1, 3], False)],
    ids=["tokens by width", "width by tokens"],
)
def test_scores_read_permuted_keys_transposed_where_rows_stay_whole(
    keys_shape, perm, reads_transposed, tmp_path
):
    nodes = [
        helper.make_node("Transpose", ["k"], ["kt"], perm=perm),
        helper.make_node("MatMul", ["q", "kt"], ["y"]),
    ]
    q = helper.make_tensor_value_info("q", TensorProto.FLOAT, [1, 4, 10, 8])
    k = helper.make_tensor_value_info("k", TensorProto.FLOAT, keys_shape)
    source, artifact = _compile(_model(nodes, [q, k], [1, 4, 10, 10], []), tmp_path, "scores")
    model = ember.load(artifact)
    calls = [c["kernel"] for c in model.manifest["kernel_sources"]]
    assert (onednn.MATMUL_BT in calls) == reads_transposed, calls
    assert (onednn.MATMUL in calls) == (not reads_transposed), calls
    feed = random_feed(onnx.load(source), seed=9)
    assert_close_to_ort(source, feed, model.run(feed))

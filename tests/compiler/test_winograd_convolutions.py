"""3 x 3 convolutions that suit it run by Winograd's algorithm, and still match ONNX Runtime.

The cases cover both tilings the plugin picks by image size (F(4 x 4, 3 x 3) from 20 x 20
output pixels up, F(2 x 2, 3 x 3) below), images that are not a whole number of tiles, channel
counts that are not a multiple of the 16-lane transforms, asymmetric padding, a symbolic batch
and the fused bias / activation / residual; the shapes the algorithm does not suit keep the
direct convolution, and `winograd=False` (`ember compile --no-winograd`) keeps every one direct.
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
from tests.compiler.test_onednn_dispatch import _model, conv_model
from tests.conftest import assert_close_to_ort, random_feed

pytestmark = pytest.mark.skipif(
    onednn.unavailable_reason() is not None,
    reason=f"oneDNN is unavailable: {onednn.unavailable_reason()}",
)

WINOGRAD_CONVS = {
    # 24 x 24 outputs: 4 x 4 tiles, 36 tiles an image.
    "large tiles": dict(cin=64, cout=64, size=24, kernel=3, pads=(1, 1, 1, 1)),
    # 22 x 22 outputs: the last row and column of 4 x 4 tiles are cut short; 80 = 5 x 16.
    "large tiles cut short": dict(cin=64, cout=80, size=22, kernel=3, pads=(1, 0, 1, 2)),
    # 18 x 18 outputs in 2 x 2 tiles; 68 and 72 channels end in partial 16-lane blocks.
    "small tiles ragged channels": dict(
        cin=68, cout=72, size=18, kernel=3, pads=(0, 1, 2, 1), batch=2
    ),
    # No padding: 8 x 8 outputs from a 10 x 10 image, the smallest image taken.
    "smallest image": dict(cin=96, cout=64, size=10, kernel=3),
    # Many chunks of tiles across three images.
    "batch 3": dict(cin=64, cout=64, size=40, kernel=3, pads=(1, 1, 1, 1), batch=3),
}
# Shapes the direct convolution serves better (or Winograd's algorithm cannot compute).
DIRECT_CONVS = {
    "stride 2": dict(cin=64, cout=64, size=24, kernel=3, stride=2, pads=(1, 1, 1, 1)),
    "dilated": dict(cin=64, cout=64, size=24, kernel=3, pads=(2, 2, 2, 2), dilation=2),
    "grouped": dict(cin=64, cout=64, size=24, kernel=3, pads=(1, 1, 1, 1), groups=2),
    "1x1": dict(cin=64, cout=64, size=24, kernel=1),
    "5x5": dict(cin=64, cout=64, size=24, kernel=5, pads=(2, 2, 2, 2)),
    "few input channels": dict(cin=32, cout=64, size=24, kernel=3, pads=(1, 1, 1, 1)),
    "few output channels": dict(cin=64, cout=48, size=24, kernel=3, pads=(1, 1, 1, 1)),
    "7x7 image": dict(cin=256, cout=256, size=7, kernel=3, pads=(1, 1, 1, 1)),
}
DIRECT_NAMES = {onednn.CONV_NHWC, onednn.CONV_NHWC_EPILOGUE, onednn.CONV_NHWC_RESIDUAL}


def compile_conv(
    proto: onnx.ModelProto, folder: Path, name: str, winograd: bool = True
) -> tuple[Path, Path]:
    source, artifact = folder / f"{name}.onnx", folder / f"{name}.so"
    onnx.save(proto, source)
    compile_model(source, "x86", artifact, CompileOptions(layout="nhwc", winograd=winograd))
    return source, artifact


def library_calls(artifact: Path) -> list[str]:
    calls = ember.load(artifact).manifest["kernel_sources"]
    return [c["kernel"] for c in calls if c["kernel"].startswith("ember.dnnl.")]


def symbolic_batch_model() -> onnx.ModelProto:
    """A 64 -> 64 channel 3 x 3 convolution on 16 x 16 images, the batch a symbol."""
    rng = np.random.default_rng(4)
    w = numpy_helper.from_array(rng.standard_normal((64, 64, 3, 3)).astype(np.float32), "w")
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 64, 16, 16])
    node = helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])
    return _model([node], [x], ["N", 64, 16, 16], [w])


def residual_relu_model(size: int) -> onnx.ModelProto:
    """ResNet's block end: relu(conv(x) + bias + skip), 64 channels."""
    rng = np.random.default_rng(8)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64, size, size])
    skip = helper.make_tensor_value_info("skip", TensorProto.FLOAT, [1, 64, size, size])
    w = numpy_helper.from_array(rng.standard_normal((64, 64, 3, 3)).astype(np.float32), "w")
    b = numpy_helper.from_array(rng.standard_normal(64).astype(np.float32), "b")
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["c", "skip"], ["s"]),
        helper.make_node("Relu", ["s"], ["y"]),
    ]
    return _model(nodes, [x, skip], [1, 64, size, size], [w, b])


def relu6_model(size: int) -> onnx.ModelProto:
    """clip(conv(x) + bias, 0, 6), 64 -> 96 channels."""
    rng = np.random.default_rng(9)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64, size, size])
    w = numpy_helper.from_array(rng.standard_normal((96, 64, 3, 3)).astype(np.float32), "w")
    b = numpy_helper.from_array(rng.standard_normal(96).astype(np.float32), "b")
    lo = numpy_helper.from_array(np.array(0.0, np.float32), "lo")
    hi = numpy_helper.from_array(np.array(6.0, np.float32), "hi")
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Clip", ["c", "lo", "hi"], ["y"]),
    ]
    return _model(nodes, [x], [1, 96, size, size], [w, b, lo, hi])


@pytest.mark.parametrize("case", list(WINOGRAD_CONVS))
def test_winograd_convolutions_match_onnxruntime(case, tmp_path):
    source, artifact = compile_conv(conv_model(**WINOGRAD_CONVS[case]), tmp_path, "conv")
    assert library_calls(artifact) == [onednn.CONV_WINOGRAD_EPILOGUE]  # the bias fused
    feed = random_feed(onnx.load(source), seed=3)
    assert_close_to_ort(source, feed, ember.load(artifact).run(feed))


def test_a_symbolic_batch_runs_each_batch_size(tmp_path):
    source, artifact = compile_conv(symbolic_batch_model(), tmp_path, "symbolic")
    assert library_calls(artifact) == [onednn.CONV_WINOGRAD]
    model = ember.load(artifact)
    for batch in (1, 3):
        feed = random_feed(onnx.load(source), seed=batch, N=batch)
        assert_close_to_ort(source, feed, model.run(feed))


@pytest.mark.parametrize(
    ("kind", "size", "kernel"),
    [
        ("residual relu", 20, onednn.CONV_WINOGRAD_RESIDUAL),  # 4 x 4 tiles
        ("residual relu", 12, onednn.CONV_WINOGRAD_RESIDUAL),  # 2 x 2 tiles
        ("relu6", 21, onednn.CONV_WINOGRAD_EPILOGUE),
        ("relu6", 9, onednn.CONV_WINOGRAD_EPILOGUE),
    ],
)
def test_bias_activation_and_residual_run_inside_the_winograd_call(kind, size, kernel, tmp_path):
    proto = residual_relu_model(size) if kind == "residual relu" else relu6_model(size)
    source, artifact = compile_conv(proto, tmp_path, "fused")
    calls = ember.load(artifact).manifest["kernel_sources"]
    assert [c["kernel"] for c in calls if c["kernel"].startswith("ember.dnnl.")] == [kernel]
    assert not any(c["kernel"].startswith(("add", "fused_", "clip")) for c in calls), calls
    feed = random_feed(onnx.load(source), seed=13)
    assert_close_to_ort(source, feed, ember.load(artifact).run(feed))


@pytest.mark.parametrize("case", ["large tiles cut short", "small tiles ragged channels"])
def test_outputs_do_not_depend_on_the_thread_count(case, tmp_path):
    source, artifact = compile_conv(conv_model(**WINOGRAD_CONVS[case]), tmp_path, "conv")
    feed = random_feed(onnx.load(source), seed=5)
    outputs = [ember.load(artifact, threads=n).run(feed)[0] for n in (1, 2, 3)]
    for other in outputs[1:]:
        np.testing.assert_array_equal(other, outputs[0])


@pytest.mark.parametrize("case", list(DIRECT_CONVS))
def test_shapes_winograd_does_not_suit_stay_direct(case, tmp_path):
    source, artifact = compile_conv(conv_model(**DIRECT_CONVS[case]), tmp_path, "conv")
    calls = library_calls(artifact)
    assert calls and set(calls) <= DIRECT_NAMES, calls
    feed = random_feed(onnx.load(source), seed=3)
    assert_close_to_ort(source, feed, ember.load(artifact).run(feed))


def test_winograd_off_keeps_every_convolution_direct(tmp_path):
    proto = conv_model(**WINOGRAD_CONVS["large tiles"])
    source, artifact = compile_conv(proto, tmp_path, "direct", winograd=False)
    model = ember.load(artifact)
    assert library_calls(artifact) == [onednn.CONV_NHWC_EPILOGUE]
    assert model.manifest["options"]["winograd"] is False
    feed = random_feed(onnx.load(source), seed=3)
    assert_close_to_ort(source, feed, model.run(feed))

"""Resize and Upsample whose scales, sizes or roi are graph inputs: one artifact, many values."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import ember
from tests.conftest import assert_close_to_ort, save_model
from tests.integration.test_cli import assert_one_line_error
from tests.integration.test_cli import ember as ember_cli

SHAPE = (1, 2, 6, 8)


def resize(
    operand: str,
    count: int,
    roi: bool = False,
    x_shape: list[Any] | None = None,
    dtype: int = TensorProto.FLOAT,
    **attrs: Any,
) -> onnx.ModelProto:
    """A Resize whose `operand` (scales or sizes; and roi if asked) is a graph input."""
    inputs = ["x", "roi" if roi else "", "", ""]
    inputs[2 if operand == "scales" else 3] = operand
    kind = TensorProto.FLOAT if operand == "scales" else TensorProto.INT64
    declared = [
        helper.make_tensor_value_info("x", dtype, x_shape or list(SHAPE)),
        helper.make_tensor_value_info(operand, kind, [count]),
    ]
    if inputs[1]:
        declared.append(helper.make_tensor_value_info("roi", TensorProto.FLOAT, [2 * count]))
    node = helper.make_node("Resize", inputs, ["y"], **attrs)
    graph = helper.make_graph(
        [node],
        "resize_run_time",
        declared,
        # The output's extents follow the operand's values: only its rank is declared.
        [helper.make_tensor_value_info("y", dtype, [None] * len(SHAPE))],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])


def check(compile_example: Any, name: str, proto: onnx.ModelProto, feeds: list[dict]) -> None:
    source, artifact = compile_example(name, proto)
    model = ember.load(artifact)
    x = np.random.default_rng(0).uniform(-1, 1, SHAPE).astype(np.float32)
    for extra in feeds:
        feed = {"x": x, **extra}
        assert_close_to_ort(source, feed, model.run(feed))


SCALES = [[1, 1, 2, 2], [1, 1, 0.5, 0.75], [1, 1, 1.5, 0.6], [1, 1, 1, 1]]


@pytest.mark.parametrize(
    ("mode", "attrs"),
    [
        ("nearest", {}),
        ("nearest", {"coordinate_transformation_mode": "asymmetric", "nearest_mode": "ceil"}),
        ("linear", {}),
        ("linear", {"coordinate_transformation_mode": "align_corners"}),
        ("linear", {"coordinate_transformation_mode": "pytorch_half_pixel"}),
        ("linear", {"coordinate_transformation_mode": "half_pixel_symmetric"}),
        ("cubic", {}),
        ("cubic", {"cubic_coeff_a": -0.5, "exclude_outside": 1}),
        ("linear", {"antialias": 1}),
        ("cubic", {"antialias": 1}),
    ],
)
def test_run_time_scales_match_onnxruntime(compile_example, mode, attrs):
    label = "_".join(f"{k}{v}" for k, v in attrs.items())
    proto = resize("scales", 4, mode=mode, **attrs)
    feeds = [{"scales": np.array(s, np.float32)} for s in SCALES]
    check(compile_example, f"resize_scales_{mode}_{label}", proto, feeds)


@pytest.mark.parametrize("policy", ["stretch", "not_larger", "not_smaller"])
def test_run_time_sizes_on_some_axes_match_onnxruntime(compile_example, policy):
    proto = resize("sizes", 2, mode="linear", axes=[3, 2], keep_aspect_ratio_policy=policy)
    feeds = [{"sizes": np.array(s, np.int64)} for s in [[16, 12], [5, 3], [8, 6], [3, 9]]]
    check(compile_example, f"resize_sizes_{policy}", proto, feeds)


def test_run_time_roi_crops_and_extrapolates(compile_example):
    proto = resize(
        "sizes",
        2,
        mode="linear",
        axes=[2, 3],
        coordinate_transformation_mode="tf_crop_and_resize",
        extrapolation_value=10.0,
        roi=True,
    )
    feeds = [
        {"sizes": np.array(s, np.int64), "roi": np.array(r, np.float32)}
        for s, r in [([3, 3], [0.4, 0.6, 0.6, 0.8]), ([5, 2], [-0.2, 0.0, 1.1, 1.0])]
    ]
    check(compile_example, "resize_crop", proto, feeds)


def test_upsample_with_run_time_scales(compile_example):
    node = helper.make_node("Upsample", ["x", "scales"], ["y"], mode="nearest")
    graph = helper.make_graph(
        [node],
        "upsample_run_time",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, list(SHAPE)),
            helper.make_tensor_value_info("scales", TensorProto.FLOAT, [4]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None] * 4)],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 9)])
    feeds = [{"scales": np.array(s, np.float32)} for s in [[1, 1, 2, 3], [1, 2, 1.5, 1]]]
    check(compile_example, "upsample_scales", proto, feeds)


def test_symbolic_input_lengths_with_run_time_scales(compile_example):
    """The input's own lengths may be symbolic too: both meet only inside the kernels."""
    proto = resize("scales", 4, x_shape=["n", 2, "h", "w"], mode="cubic")
    source, artifact = compile_example("resize_symbolic_input", proto)
    model = ember.load(artifact)
    rng = np.random.default_rng(1)
    for shape, scales in [((1, 2, 5, 7), [1, 1, 2, 0.5]), ((3, 2, 4, 4), [1, 1, 0.75, 1.25])]:
        feed = {"x": rng.uniform(-1, 1, shape).astype(np.float32)}
        feed["scales"] = np.array(scales, np.float32)
        assert_close_to_ort(source, feed, model.run(feed))


def test_linear_resize_of_integers_with_run_time_scales_is_one_error_line(tmp_path):
    proto = resize("scales", 4, dtype=TensorProto.UINT8, mode="linear")
    path = save_model(proto, tmp_path, "resize_uint8")
    proc = ember_cli("compile", str(path), "-o", str(tmp_path / "resize_uint8.so"))
    assert_one_line_error(proc, "bind them with --bind")
    assert not (tmp_path / "resize_uint8.so").exists()

"""Resize and Upsample against ONNX Runtime: modes, coordinate mappings, antialias, axes."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import ember
from ember.compiler.api import compile_model
from ember.compiler.examples.reference import ort_outputs

X_SHAPE = [1, 2, 5, 7]


def resize_model(attrs: dict, scales=None, sizes=None, roi=None, opset=19) -> onnx.ModelProto:
    inits, names = [], ["x", "", "", ""]
    for index, (name, value, dtype) in enumerate(
        [("roi", roi, np.float32), ("scales", scales, np.float32), ("sizes", sizes, np.int64)],
        start=1,
    ):
        if value is not None:
            inits.append(numpy_helper.from_array(np.asarray(value, dtype), name))
            names[index] = name
    node = helper.make_node("Resize", names, ["y"], **attrs)
    graph = helper.make_graph(
        [node],
        "resize",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, X_SHAPE)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None] * 4)],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def check(tmp_path, model: onnx.ModelProto) -> None:
    source = tmp_path / "resize.onnx"
    onnx.save(model, source)
    x = np.random.default_rng(0).standard_normal(X_SHAPE).astype(np.float32)
    got = ember.load(compile_model(source, "x86", tmp_path / "resize.so")).run({"x": x})
    want = ort_outputs(str(source), {"x": x})
    assert got[0].shape == want[0].shape
    np.testing.assert_allclose(got[0], want[0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
@pytest.mark.parametrize(
    "coordinates",
    ["half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel", "half_pixel_symmetric"],
)
def test_scales_that_do_not_divide_the_size(tmp_path, mode, coordinates):
    """0.6 x 1.7: the sampling uses the given scales, not sizes / input."""
    attrs = {"mode": mode, "coordinate_transformation_mode": coordinates}
    check(tmp_path, resize_model(attrs, scales=[1, 1, 0.6, 1.7]))


@pytest.mark.parametrize("mode", ["linear", "cubic"])
def test_antialiased_downscale(tmp_path, mode):
    check(tmp_path, resize_model({"mode": mode, "antialias": 1}, scales=[1, 1, 0.5, 0.4]))


@pytest.mark.parametrize("policy", ["stretch", "not_larger", "not_smaller"])
def test_sizes_on_listed_axes_with_aspect_policy(tmp_path, policy):
    attrs = {"mode": "nearest", "axes": [3, 2], "keep_aspect_ratio_policy": policy}
    check(tmp_path, resize_model(attrs, sizes=[10, 3]))


def test_cubic_excluding_outside_with_nearest_rounding_modes(tmp_path):
    attrs = {"mode": "cubic", "cubic_coeff_a": -0.5, "exclude_outside": 1}
    check(tmp_path, resize_model(attrs, scales=[1, 1, 1.5, 0.8]))
    attrs = {
        "mode": "nearest",
        "nearest_mode": "ceil",
        "coordinate_transformation_mode": "asymmetric",
    }
    check(tmp_path, resize_model(attrs, scales=[1, 1, 2.3, 0.7]))


def test_crop_and_resize_fills_outside_the_box(tmp_path):
    attrs = {
        "mode": "linear",
        "coordinate_transformation_mode": "tf_crop_and_resize",
        "extrapolation_value": 10.0,
    }
    roi = [0, 0, 0.4, -0.2, 1, 1, 1.2, 0.7]
    check(tmp_path, resize_model(attrs, sizes=[1, 2, 4, 5], roi=roi))


def test_upsample_repeats_pixels(tmp_path):
    node = helper.make_node("Upsample", ["x", "scales"], ["y"], mode="nearest")
    graph = helper.make_graph(
        [node],
        "upsample",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, X_SHAPE)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None] * 4)],
        [numpy_helper.from_array(np.array([1, 1, 2, 3], np.float32), "scales")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 9)])
    model.ir_version = 8
    source = tmp_path / "upsample.onnx"
    onnx.save(model, source)
    x = np.random.default_rng(1).standard_normal(X_SHAPE).astype(np.float32)
    got = ember.load(compile_model(source, "x86", tmp_path / "upsample.so")).run({"x": x})
    np.testing.assert_array_equal(got[0], x.repeat(2, axis=2).repeat(3, axis=3))


@pytest.mark.parametrize("coordinates", ["align_corners", "pytorch_half_pixel"])
def test_modes_dividing_by_the_output_length_use_the_rounded_length(tmp_path, coordinates):
    """5 x 0.3 gives one row: its source is row 0, as in ONNX Runtime."""
    attrs = {"mode": "linear", "coordinate_transformation_mode": coordinates}
    check(tmp_path, resize_model(attrs, scales=[1, 1, 0.3, 0.6]))

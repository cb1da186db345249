"""CenterCropPad, ReverseSequence, CumProd and BitCast against ONNX Runtime."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

import ember
from tests.conftest import assert_close_to_ort
from tests.frontend.single_node import assert_matches_ort, one_node_model


@pytest.mark.parametrize(
    ("shape", "size", "axes"),
    [
        ([20, 10, 3], [10, 7, 3], None),  # crop, odd difference: the window starts rounded down
        ([10, 7, 3], [20, 10, 3], None),  # pad, odd total: the extra pixel goes right
        ([20, 8, 3], [10, 11], [0, -2]),  # crop one axis, pad another, negative axis
    ],
)
def test_center_crop_pad(tmp_path, shape, size, axes):
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    attrs = {} if axes is None else {"axes": axes}
    consts = {"shape": np.array(size, np.int64)}
    model = one_node_model("CenterCropPad", {"x": x}, ["y"], 18, consts, **attrs)
    assert_matches_ort(tmp_path, model, {"x": x})


def test_center_crop_pad_shape_given_at_run_time(compile_example):
    """One artifact crops, pads, or both, by the shape it is given at each run."""
    node = helper.make_node("CenterCropPad", ["x", "shape"], ["y"], axes=[0, -2])
    graph = helper.make_graph(
        [node],
        "center_crop_pad",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [9, 8, 3]),
            helper.make_tensor_value_info("shape", TensorProto.INT64, [2]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, None, 3])],
    )
    source, artifact = compile_example(
        "center_crop_pad_run_time",
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]),
    )
    model = ember.load(artifact)
    x = np.random.default_rng(0).standard_normal((9, 8, 3)).astype(np.float32)
    for size in [[4, 5], [12, 11], [2, 13], [9, 8]]:
        feed = {"x": x, "shape": np.array(size, np.int64)}
        (got,) = model.run(feed)
        assert got.shape == (size[0], size[1], 3)
        assert_close_to_ort(source, feed, [got])


@pytest.mark.parametrize(("time_axis", "batch_axis"), [(0, 1), (1, 0)])
def test_reverse_sequence(tmp_path, time_axis, batch_axis):
    x = np.arange(4 * 4 * 2, dtype=np.float32).reshape(4, 4, 2)
    lens = np.array([4, 3, 1, 2], np.int64)
    model = one_node_model(
        "ReverseSequence",
        {"x": x, "lens": lens},
        ["y"],
        10,
        time_axis=time_axis,
        batch_axis=batch_axis,
    )
    assert_matches_ort(tmp_path, model, {"x": x, "lens": lens})


@pytest.mark.parametrize(("exclusive", "reverse"), [(0, 0), (1, 0), (0, 1), (1, 1)])
def test_cum_prod(tmp_path, exclusive, reverse):
    x = np.random.default_rng(1).uniform(0.5, 1.5, [3, 5]).astype(np.float32)
    consts = {"axis": np.array(-1, np.int32)}
    model = one_node_model(
        "CumProd", {"x": x}, ["y"], 26, consts, exclusive=exclusive, reverse=reverse
    )
    assert_matches_ort(tmp_path, model, {"x": x})


@pytest.mark.parametrize(
    ("source", "to"), [(np.float32, np.int32), (np.int64, np.float64), (np.uint16, np.int16)]
)
def test_bit_cast(tmp_path, source, to):
    x = (np.random.default_rng(2).standard_normal(6) * 100).astype(source)
    to_type = helper.np_dtype_to_tensor_dtype(np.dtype(to))
    model = one_node_model("BitCast", {"x": x}, ["y"], 26, to=to_type)
    assert_matches_ort(tmp_path, model, {"x": x}, rtol=0, atol=0)

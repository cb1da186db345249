"""ConvTranspose's output_shape and SpaceToDepth's CRD mode against ONNX Runtime."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from .single_node import assert_matches_ort

F = TensorProto.FLOAT


#: Compile for x86 and compare every output with ONNX Runtime.
check = partial(assert_matches_ort, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("auto_pad", ["NOTSET", "SAME_UPPER", "SAME_LOWER"])
def test_conv_transpose_output_shape(tmp_path, auto_pad):
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((2, 3, 3, 3)).astype(np.float32)
    node = helper.make_node(
        "ConvTranspose",
        ["X", "W"],
        ["Y"],
        strides=[3, 2],
        output_shape=[10, 8] if auto_pad == "NOTSET" else [8, 6],
        auto_pad=auto_pad,
    )
    graph = helper.make_graph(
        [node],
        "deconv",
        [helper.make_tensor_value_info("X", F, [1, 2, 3, 3])],
        [helper.make_tensor_value_info("Y", F, [None] * 4)],
        [numpy_helper.from_array(weight, "W")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    check(tmp_path, model, {"X": rng.standard_normal((1, 2, 3, 3)).astype(np.float32)})


@pytest.mark.parametrize("mode", ["DCR", "CRD"])
def test_space_to_depth_modes(tmp_path, mode):
    node = helper.make_node("SpaceToDepth", ["x"], ["y"], blocksize=2, mode=mode)
    graph = helper.make_graph(
        [node],
        "s2d",
        [helper.make_tensor_value_info("x", F, [1, 3, 4, 6])],
        [helper.make_tensor_value_info("y", F, [1, 12, 2, 3])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 28)])
    check(tmp_path, model, {"x": np.arange(72, dtype=np.float32).reshape(1, 3, 4, 6)})

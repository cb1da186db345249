"""A zero Pad of the spatial axes before a Conv becomes part of the Conv's padding; every other
Pad stays. Either way the numbers are those of ONNX Runtime."""

from __future__ import annotations

import copy

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import ember
from ember.compiler.api import compile_model
from ember.compiler.frontend.conv_padding import explicit_auto_pads, fold_pads_into_convs
from tests.conftest import assert_close_to_ort, random_feed, save_model


def _model(
    pads: list[int], value: float | None, mode: str, extra_reader: str | None, valid: bool = False
):
    rng = np.random.default_rng(3)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 9, 9])
    inits = [
        numpy_helper.from_array(rng.standard_normal((6, 4, 3, 3)).astype(np.float32), "w"),
        numpy_helper.from_array(np.array(pads, np.int64), "pads"),
    ]
    pad_inputs = ["x", "pads"]
    if value is not None:
        inits.append(numpy_helper.from_array(np.array(value, np.float32), "value"))
        pad_inputs.append("value")
    nodes = [
        helper.make_node("Pad", pad_inputs, ["p"], mode=mode),
        helper.make_node("Conv", ["p", "w"], ["y"], strides=[2, 2], auto_pad="VALID")
        if valid
        else helper.make_node("Conv", ["p", "w"], ["y"], strides=[2, 2], pads=[1, 0, 0, 1]),
    ]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", "c", "h", "w"])]
    if extra_reader is not None:
        nodes.append(helper.make_node(extra_reader, ["p"], ["z"]))
        outputs.append(helper.make_tensor_value_info("z", TensorProto.FLOAT, ["n", "c", "h", "w"]))
    graph = helper.make_graph(nodes, "g", [x], outputs, inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


CASES = {
    # name: (pads, value, mode, other reader of the padded tensor, folded?)
    "asymmetric zeros": ([0, 0, 0, 1, 0, 0, 2, 1], None, "constant", None, True),
    # EfficientNet's export: the Conv after the Pad says auto_pad VALID.
    "before a VALID conv": ([0, 0, 0, 0, 0, 0, 1, 1], None, "constant", "valid", True),
    "explicit zero value": ([0, 0, 1, 1, 0, 0, 1, 1], 0.0, "constant", None, True),
    "non-zero value": ([0, 0, 1, 1, 0, 0, 1, 1], 0.5, "constant", None, False),
    "reflect": ([0, 0, 1, 1, 0, 0, 1, 1], None, "reflect", None, False),
    "negative (a crop)": ([0, 0, -1, 0, 0, 0, 0, 0], None, "constant", None, False),
    "also read by Relu": ([0, 0, 1, 1, 0, 0, 1, 1], None, "constant", "Relu", False),
}


@pytest.mark.parametrize("case", CASES)
def test_pad_folds_only_when_a_conv_can_pad_alike(case, tmp_path):
    pads, value, mode, reader, folded = CASES[case]
    valid = reader == "valid"
    model = _model(pads, value, mode, None if valid else reader, valid)
    assert fold_pads_into_convs(copy.deepcopy(model)) == int(folded)
    source = save_model(model, tmp_path, "pad")
    artifact = compile_model(source, "x86", tmp_path / "pad.so")
    feed = random_feed(onnx.load(source), seed=5)
    assert_close_to_ort(source, feed, ember.load(artifact).run(feed))


def test_channel_padding_is_not_folded():
    model = _model([0, 1, 0, 0, 0, 1, 0, 0], None, "constant", None)
    assert fold_pads_into_convs(model) == 0
    assert [n.op_type for n in model.graph.node] == ["Pad", "Conv"]


@pytest.mark.parametrize("auto_pad", ["VALID", "SAME_UPPER", "SAME_LOWER"])
@pytest.mark.parametrize(("size", "stride", "dilation"), [(9, 1, 1), (10, 2, 1), (11, 3, 1)])
def test_auto_pad_becomes_explicit_pads(auto_pad, size, stride, dilation, tmp_path):
    rng = np.random.default_rng(4)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, size, size + 1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", "c", "h", "w"])
    w = numpy_helper.from_array(rng.standard_normal((5, 3, 3, 4)).astype(np.float32), "w")
    conv = helper.make_node(
        "Conv", ["x", "w"], ["y"], auto_pad=auto_pad, strides=[stride] * 2, dilations=[dilation] * 2
    )
    model = helper.make_model(
        helper.make_graph([conv], "g", [x], [y], [w]),
        opset_imports=[helper.make_opsetid("", 18)],
    )
    assert explicit_auto_pads(copy.deepcopy(model)) == 1
    source = save_model(model, tmp_path, "auto_pad")
    artifact = compile_model(source, "x86", tmp_path / "auto_pad.so")
    feed = random_feed(onnx.load(source), seed=6)
    assert_close_to_ort(source, feed, ember.load(artifact).run(feed))

"""Scan and Loop, unrolled at import, against ONNX Runtime; what preflight refuses and why."""

from __future__ import annotations

from functools import partial

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from ember.compiler.frontend.preflight import preflight
from ember.compiler.target import resolve

from .single_node import assert_matches_ort

F, I64, B = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL


#: Compile for x86 and compare every output with ONNX Runtime.
check = partial(assert_matches_ort, rtol=1e-5, atol=1e-5)


def rnn_scan_model(reverse: int, output_axis: int) -> onnx.ModelProto:
    """h_t = tanh(x_t W + h_{t-1}), scanning X (batch, T, 3) along axis 1; W is outer."""
    body = helper.make_graph(
        [
            helper.make_node("MatMul", ["x_t", "W"], ["xw"]),
            helper.make_node("Add", ["xw", "h_in"], ["pre"]),
            helper.make_node("Tanh", ["pre"], ["h_out"]),
            helper.make_node("Identity", ["h_out"], ["y_t"]),
        ],
        "cell",
        [
            helper.make_tensor_value_info("h_in", F, [2, 4]),
            helper.make_tensor_value_info("x_t", F, [2, 3]),
        ],
        [
            helper.make_tensor_value_info("h_out", F, [2, 4]),
            helper.make_tensor_value_info("y_t", F, [2, 4]),
        ],
    )
    scan = helper.make_node(
        "Scan",
        ["h0", "X"],
        ["h_last", "Y"],
        body=body,
        num_scan_inputs=1,
        scan_input_axes=[1],
        scan_input_directions=[reverse],
        scan_output_axes=[output_axis],
    )
    w = np.random.default_rng(3).standard_normal((3, 4)).astype(np.float32)
    graph = helper.make_graph(
        [scan],
        "rnn",
        [
            helper.make_tensor_value_info("h0", F, [2, 4]),
            helper.make_tensor_value_info("X", F, [2, 5, 3]),
        ],
        [
            helper.make_tensor_value_info("h_last", F, [2, 4]),
            helper.make_tensor_value_info("Y", F, [None, None, 4]),
        ],
        initializer=[numpy_helper.from_array(w, "W")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize(("reverse", "output_axis"), [(0, 0), (1, 1)])
def test_scan_reads_outer_values_and_honours_axes_and_directions(tmp_path, reverse, output_axis):
    rng = np.random.default_rng(0)
    feed = {
        "h0": rng.standard_normal((2, 4)).astype(np.float32),
        "X": rng.standard_normal((2, 5, 3)).astype(np.float32),
    }
    check(tmp_path, rnn_scan_model(reverse, output_axis), feed)


def counting_loop_model(trip_input: bool) -> onnx.ModelProto:
    """acc_i = acc_{i-1} * 2 + i, also emitted per iteration; M is 4 or a graph input."""
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            helper.make_node("Cast", ["i"], ["i_f"], to=F),
            helper.make_node("Mul", ["acc_in", "two"], ["doubled"]),
            helper.make_node("Add", ["doubled", "i_f"], ["acc_out"]),
            helper.make_node("Identity", ["acc_out"], ["step"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("i", I64, []),
            helper.make_tensor_value_info("cond_in", B, []),
            helper.make_tensor_value_info("acc_in", F, [3]),
        ],
        [
            helper.make_tensor_value_info("cond_out", B, []),
            helper.make_tensor_value_info("acc_out", F, [3]),
            helper.make_tensor_value_info("step", F, [3]),
        ],
    )
    inits = [numpy_helper.from_array(np.array(2.0, np.float32), "two")]
    inputs = [helper.make_tensor_value_info("acc", F, [3])]
    if trip_input:
        inputs.append(helper.make_tensor_value_info("M", I64, []))
    else:
        inits.append(numpy_helper.from_array(np.array(4, np.int64), "M"))
    graph = helper.make_graph(
        [helper.make_node("Loop", ["M", "", "acc"], ["final", "steps"], body=body)],
        "loop",
        inputs,
        [
            helper.make_tensor_value_info("final", F, [3]),
            helper.make_tensor_value_info("steps", F, [None, 3]),
        ],
        initializer=inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_loop_with_a_constant_trip_count(tmp_path):
    feed = {"acc": np.array([1.0, -2.0, 0.5], np.float32)}
    check(tmp_path, counting_loop_model(trip_input=False), feed)


def test_preflight_names_a_run_time_trip_count():
    problems = preflight(counting_loop_model(trip_input=True), resolve("x86"))
    assert [p.line() for p in problems] == [
        "node '#0' (Loop, opset 17): Loop trip count M is the graph input 'M', known only at "
        "run time (pin it with --bind M=N)"
    ]


def test_preflight_names_a_symbolic_scan_length():
    model = rnn_scan_model(0, 0)
    model.graph.input[1].type.tensor_type.shape.dim[1].dim_param = "T"
    problems = preflight(model, resolve("x86"))
    assert [p.reason for p in problems] == [
        "dynamic shape where a static one is needed: scan length of 'X' is 'T'"
    ]

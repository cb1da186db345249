"""RNN, GRU and LSTM converters against ONNX Runtime (fixed seeds, every direction/layout)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import ember
from ember.compiler.api import compile_model
from ember.compiler.examples.reference import ort_outputs

GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}
SEQ, BATCH, INPUT, HIDDEN = 5, 3, 4, 6


def recurrent_model(op: str, direction: str, layout: int, **extra) -> onnx.ModelProto:
    rng = np.random.default_rng(7)
    dirs = 2 if direction == "bidirectional" else 1
    g = GATES[op]
    inits = [
        numpy_helper.from_array(rng.uniform(-0.5, 0.5, (dirs, g * HIDDEN, INPUT)).astype("f"), "W"),
        numpy_helper.from_array(
            rng.uniform(-0.5, 0.5, (dirs, g * HIDDEN, HIDDEN)).astype("f"), "R"
        ),
        numpy_helper.from_array(rng.uniform(-0.5, 0.5, (dirs, 2 * g * HIDDEN)).astype("f"), "B"),
    ]
    inputs = ["X", "W", "R", "B", "lens", "h0"]
    if "lens" in extra:
        inits.append(numpy_helper.from_array(np.array(extra.pop("lens"), np.int32), "lens"))
    else:
        inputs[4] = ""
    if op == "LSTM":
        inputs.append("c0")
        if extra.pop("peepholes", False):
            p = rng.uniform(-0.5, 0.5, (dirs, 3 * HIDDEN)).astype("f")
            inits.append(numpy_helper.from_array(p, "P"))
            inputs.append("P")
    outputs = ["Y", "Y_h"] + (["Y_c"] if op == "LSTM" else [])
    node = helper.make_node(
        op, inputs, outputs, hidden_size=HIDDEN, direction=direction, layout=layout, **extra
    )
    x_shape = [SEQ, BATCH, INPUT] if layout == 0 else [BATCH, SEQ, INPUT]
    s_shape = [dirs, BATCH, HIDDEN] if layout == 0 else [BATCH, dirs, HIDDEN]
    graph_inputs = [helper.make_tensor_value_info("X", TensorProto.FLOAT, x_shape)]
    graph_inputs.append(helper.make_tensor_value_info("h0", TensorProto.FLOAT, s_shape))
    if op == "LSTM":
        graph_inputs.append(helper.make_tensor_value_info("c0", TensorProto.FLOAT, s_shape))
    # Y is [seq, dirs, batch, hidden] (or batch-major); the final states are rank 3.
    graph_outputs = [
        helper.make_tensor_value_info(o, TensorProto.FLOAT, [None] * (4 if o == "Y" else 3))
        for o in outputs
    ]
    graph = helper.make_graph([node], "rnn", graph_inputs, graph_outputs, inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])


def feed(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    out = {}
    for value in model.graph.input:
        shape = [d.dim_value for d in value.type.tensor_type.shape.dim]
        out[value.name] = rng.standard_normal(shape).astype(np.float32)
    return out


def check(model: onnx.ModelProto, tmp_path, name: str, reference=None) -> None:
    """Compare with ONNX Runtime; for layout 1 (which ORT refuses) with the layout-0 twin."""
    source = tmp_path / f"{name}.onnx"
    onnx.save(model, source)
    artifact = compile_model(source, "x86", tmp_path / f"{name}.so")
    data = feed(model)
    got = ember.load(artifact).run(data)
    if reference is None:
        want = ort_outputs(str(source), data)
    else:
        time_major = {k: np.ascontiguousarray(np.swapaxes(v, 0, 1)) for k, v in data.items()}
        want = ort_outputs(reference.SerializeToString(), time_major)
        # Y: [seq, dirs, batch, h] -> [batch, seq, dirs, h]; states: swap the first two axes.
        want = [want[0].transpose(2, 0, 1, 3)] + [np.swapaxes(w, 0, 1) for w in want[1:]]
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("op", ["RNN", "GRU", "LSTM"])
@pytest.mark.parametrize(
    ("direction", "layout"), [("forward", 0), ("reverse", 0), ("bidirectional", 1)]
)
def test_matches_onnxruntime(tmp_path, op, direction, layout):
    reference = recurrent_model(op, direction, 0) if layout else None
    model = recurrent_model(op, direction, layout)
    check(model, tmp_path, f"{op}_{direction}_{layout}", reference)


@pytest.mark.parametrize("op", ["RNN", "GRU", "LSTM"])
def test_sequence_lengths_mask_steps(tmp_path, op):
    model = recurrent_model(op, "bidirectional", 0, lens=[5, 2, 3])
    check(model, tmp_path, f"{op}_lens")


def test_gru_linear_before_reset_and_clip(tmp_path):
    model = recurrent_model("GRU", "forward", 0, linear_before_reset=1, clip=0.7)
    check(model, tmp_path, "gru_lbr")


def test_lstm_peepholes_and_input_forget(tmp_path):
    reference = recurrent_model("LSTM", "reverse", 0, peepholes=True, input_forget=1)
    model = recurrent_model("LSTM", "reverse", 1, peepholes=True, input_forget=1)
    check(model, tmp_path, "lstm_peep", reference)

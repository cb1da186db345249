"""Preflight: every problem at once, by node; `ember check`; `compile` fails with the list."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from ember.compiler.api import compile_model
from ember.compiler.examples import models
from ember.compiler.frontend.loader import load_model
from ember.compiler.frontend.preflight import preflight
from ember.compiler.target import resolve
from ember.errors import ModelError, UnsupportedModelError
from tests.conftest import save_model
from tests.integration.test_cli import assert_one_line_error, ember


def problem_model() -> onnx.ModelProto:
    """Four problems: unknown operator, unknown domain, float8 cast, dynamic LSTM sequence."""
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((1, 8, 3)).astype("f"), "W")
    r = numpy_helper.from_array(rng.standard_normal((1, 8, 2)).astype("f"), "R")
    nodes = [
        helper.make_node("Relu", ["x"], ["a"], name="fine"),
        helper.make_node("Multinomial", ["a"], ["b"], name="sample"),
        helper.make_node("Custom", ["b"], ["c"], name="custom", domain="com.example"),
        helper.make_node("Cast", ["c"], ["d"], name="to_f8", to=TensorProto.FLOAT8E4M3FN),
        helper.make_node("LSTM", ["seq", "W", "R"], ["y"], name="lstm", hidden_size=2),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 2]),
            helper.make_tensor_value_info("seq", TensorProto.FLOAT, ["time", 1, 3]),
        ],
        [
            helper.make_tensor_value_info("d", TensorProto.FLOAT8E4M3FN, [2]),
            helper.make_tensor_value_info("y", TensorProto.FLOAT, ["time", 1, 1, 2]),
        ],
        [w, r],
    )
    opsets = [helper.make_opsetid("", 19), helper.make_opsetid("com.example", 1)]
    return helper.make_model(graph, opset_imports=opsets)


EXPECTED = [
    "node 'sample' (Multinomial, opset 19): unknown operator (no converter in Ember or TVM)",
    "node 'custom' (Custom, opset 1): unknown domain 'com.example'",
    "node 'to_f8' (Cast, opset 19): 'd': dtype FLOAT8E4M3FN is not supported",
    "node 'lstm' (LSTM, opset 19): dynamic shape where a static one is needed: "
    "sequence length of X is 'time'",
]


def test_every_problem_is_listed_once(tmp_path):
    model = load_model(save_model(problem_model(), tmp_path, "bad"))
    lines = [p.line() for p in preflight(model, resolve("x86"))]
    assert lines[0] == "graph output 'd': dtype FLOAT8E4M3FN is not supported"
    assert len(lines) == 1 + len(EXPECTED)
    for line, want in zip(lines[1:], EXPECTED, strict=True):
        assert line.startswith(want), line


def test_clean_model_has_no_problems(tmp_path):
    model = load_model(save_model(models.small_cnn(), tmp_path, "cnn"))
    assert preflight(model, resolve("x86")) == []


def test_compile_fails_with_the_whole_list(tmp_path):
    source = save_model(problem_model(), tmp_path, "bad")
    with pytest.raises(UnsupportedModelError) as err:
        compile_model(source)
    text = str(err.value)
    assert text.startswith("5 node(s) cannot be compiled for x86: ")
    assert all(want.split(":")[0] in text for want in EXPECTED)
    assert "\n" not in text


def test_check_command_exit_codes_and_json(tmp_path):
    bad = save_model(problem_model(), tmp_path, "bad")
    proc = ember("check", str(bad), "--target", "x86")
    assert proc.returncode == 3, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[-1] == "5 problem(s) for target x86"
    assert any(line.startswith(EXPECTED[0]) for line in lines)
    proc = ember("check", str(bad), "--json")
    assert proc.returncode == 3
    report = json.loads(proc.stdout)
    assert [p["node"] for p in report["problems"]] == ["d", "sample", "custom", "to_f8", "lstm"]
    assert report["problems"][1] == {
        "node": "sample",
        "op_type": "Multinomial",
        "opset": 19,
        "reason": "unknown operator (no converter in Ember or TVM)",
    }
    good = save_model(models.mlp(), tmp_path, "good")
    proc = ember("check", str(good))
    assert proc.returncode == 0
    assert "no problems for target x86" in proc.stdout


def test_compile_command_prints_one_error_line(tmp_path):
    proc = ember("compile", str(save_model(problem_model(), tmp_path, "bad")))
    assert_one_line_error(
        proc, "5 node(s) cannot be compiled for x86", "node 'sample' (Multinomial"
    )


@pytest.mark.parametrize(
    ("opset", "message"),
    [
        (6, "uses opset 6; Ember needs opset 7 or newer (upgrade it with onnx.version_converter"),
        (onnx.defs.onnx_opset_version() + 1, "newer than the newest this onnx package knows"),
    ],
)
def test_opset_boundaries(tmp_path, opset, message):
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    with pytest.raises(ModelError, match=message.replace("(", r"\(")):
        load_model(save_model(model, tmp_path, f"opset{opset}"))


def test_oldest_and_newest_opsets_are_accepted(tmp_path):
    for opset in (7, onnx.defs.onnx_opset_version()):
        graph = helper.make_graph(
            [helper.make_node("Relu", ["x"], ["y"])],
            "g",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
        load_model(save_model(model, tmp_path, f"ok{opset}"))


def test_unknown_input_in_shape_override_is_named(tmp_path):
    proc = ember("check", "missing.onnx")
    assert_one_line_error(proc, "missing.onnx", "does not exist")
    good = save_model(models.mlp(), tmp_path, "good")
    proc = ember("compile", str(good), "--input-shape", "nope=1x2")
    assert_one_line_error(proc, "unknown input 'nope'")


def runtime_repeats_model() -> onnx.ModelProto:
    """Tile whose repeats are a graph input of unknown length: no rule refuses it, TVM's
    converter does (repeats of a static length compile as a run-time input)."""
    node = helper.make_node("Tile", ["x", "repeats"], ["y"], name="tile")
    graph = helper.make_graph(
        [node],
        "g",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3]),
            helper.make_tensor_value_info("repeats", TensorProto.INT64, ["n"]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, None])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


HINT = (
    "Dynamic Tile requires known input rank and repeats length. (graph input 'repeats' is "
    "known only at run time; compile it as a constant: --bind repeats=...)"
)


def test_check_runs_the_import_and_names_the_input_to_bind(tmp_path):
    path = save_model(runtime_repeats_model(), tmp_path, "tile")
    proc = ember("check", str(path))
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout.splitlines() == [
        f"node 'tile' (Tile, opset 13): {HINT}",
        "1 problem(s) for target x86",
    ]
    compiled = ember("compile", str(path), "--bind", "repeats=2,1")
    assert compiled.returncode == 0, compiled.stderr


def test_compile_names_the_input_to_bind_in_its_one_line(tmp_path):
    """The same hint as `ember check`, and nothing of TVM's: not the importer's print of the
    failed operator's inputs, not its C++ warning about the builder the import left."""
    path = save_model(runtime_repeats_model(), tmp_path, "tile")
    proc = ember("compile", str(path), "-o", str(tmp_path / "tile.so"))
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr == f"error: ONNX import failed at node 'tile' (Tile): {HINT}\n"
    assert not (tmp_path / "tile.so").exists()

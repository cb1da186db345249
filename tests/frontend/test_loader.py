"""The front end names the file and the problem for every kind of bad model."""

from __future__ import annotations

import pytest
from onnx import TensorProto, helper

from ember.compiler.examples import models
from ember.compiler.frontend.loader import load_model
from ember.errors import ModelError
from tests.conftest import save_model


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        (b"", "is empty"),
        (b"\x08\x07garbage that is not protobuf\xff\xff\xff", "not a valid ONNX"),
        (b"hello world, not a model at all", "bad.onnx"),
    ],
)
def test_bad_files_are_named(tmp_path, content, message):
    path = tmp_path / "bad.onnx"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ModelError) as err:
        load_model(path)
    assert message in str(err.value)
    assert "bad.onnx" in str(err.value)
    assert "\n" not in str(err.value)


def test_directory_is_refused(tmp_path):
    with pytest.raises(ModelError, match="is a directory"):
        load_model(tmp_path)


def test_invalid_graph_fails_validation(tmp_path):
    node = helper.make_node("Relu", ["x"], ["y"])
    graph = helper.make_graph(
        [node, helper.make_node("Relu", ["missing"], ["z"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [2])],
    )
    path = save_model(helper.make_model(graph), tmp_path, "dangling")
    with pytest.raises(ModelError, match="fails ONNX validation"):
        load_model(path)


def test_old_opset_says_how_to_upgrade(tmp_path):
    model = models.mlp()
    model.opset_import[0].version = 6
    path = save_model(model, tmp_path, "old")
    with pytest.raises(ModelError, match="version_converter"):
        load_model(path)


def test_truncated_model_is_refused(tmp_path):
    data = models.small_cnn().SerializeToString()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match=r"cut\.onnx"):
        load_model(path)


def test_good_model_loads(tmp_path):
    path = save_model(models.small_cnn(), tmp_path, "cnn")
    assert load_model(path).graph.name == "small_cnn"


def test_initializer_with_wrong_byte_count_is_named(tmp_path):
    from ember.compiler.api import compile_model

    model = models.mlp()
    weight = model.graph.initializer[0]
    # ONNX's checker refuses too few bytes itself, but lets surplus bytes through.
    weight.raw_data = weight.raw_data + bytes(12)
    path = save_model(model, tmp_path, "short")
    with pytest.raises(ModelError) as err:
        compile_model(path, "x86", tmp_path / "short.so")
    assert f"initializer '{weight.name}' holds" in str(err.value)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "short.so").exists()

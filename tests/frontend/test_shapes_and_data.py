"""Symbolic dimensions stay symbolic (LSTM with a dynamic batch); external data loads."""

from __future__ import annotations

import onnx

import ember
from ember.compiler.api import compile_model
from ember.compiler.examples import models
from tests.conftest import assert_close_to_ort, random_feed
from tests.frontend.test_recurrent import recurrent_model


def _make_batch_symbolic(model: onnx.ModelProto) -> onnx.ModelProto:
    """Name dim 1 (the batch of X, h0 and c0 in layout 0) 'batch' on every graph input."""
    for value in model.graph.input:
        dim = value.type.tensor_type.shape.dim[1]
        dim.Clear()
        dim.dim_param = "batch"
    return model


def test_lstm_with_dynamic_batch_accepts_any_batch(tmp_path):
    model = _make_batch_symbolic(recurrent_model("LSTM", "bidirectional", 0))
    source = tmp_path / "lstm_dyn.onnx"
    onnx.save(model, source)
    loaded = ember.load(compile_model(source, "x86", tmp_path / "lstm_dyn.so"))
    assert loaded.inputs[0].shape == (5, "batch", 4)
    for batch in (1, 4):
        feed = random_feed(model, seed=batch, batch=batch)
        assert_close_to_ort(source, feed, loaded.run(feed))


def test_external_data_is_loaded(tmp_path):
    proto = models.mlp()
    source = tmp_path / "mlp_ext.onnx"
    onnx.save(proto, source, save_as_external_data=True, location="mlp_ext.bin", size_threshold=0)
    assert (tmp_path / "mlp_ext.bin").stat().st_size > 1000
    loaded = ember.load(compile_model(source, "x86", tmp_path / "mlp_ext.so"))
    feed = random_feed(proto, seed=1)
    assert_close_to_ort(source, feed, loaded.run(feed))


def test_missing_external_data_is_one_line(tmp_path):
    source = tmp_path / "gone.onnx"
    onnx.save(models.mlp(), source, save_as_external_data=True, location="gone.bin")
    (tmp_path / "gone.bin").unlink()
    try:
        compile_model(source, "x86", tmp_path / "gone.so")
    except ember.errors.ModelError as err:
        assert "gone.onnx" in str(err) and "external data" in str(err)
        assert "\n" not in str(err)
    else:
        raise AssertionError("compiled without its weights")

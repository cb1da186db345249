"""Dropout at inference: identity with a bool mask; random training mode is refused."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from ember.compiler.api import compile_model
from ember.errors import UnsupportedModelError
from tests.frontend.single_node import assert_matches_ort, one_node_model


def test_inference_mask_is_bool_and_all_true(tmp_path):
    x = np.random.default_rng(0).standard_normal([3, 4]).astype(np.float32)
    model = one_node_model("Dropout", {"x": x}, ["y", "mask"], 13, {"ratio": np.float32(0.3)})
    assert_matches_ort(tmp_path, model, {"x": x}, rtol=0, atol=0)


def test_training_mode_with_ratio_zero_is_the_identity(tmp_path):
    x = np.random.default_rng(1).standard_normal([2, 5]).astype(np.float32)
    consts = {"ratio": np.float32(0.0), "training": np.bool_(True)}
    model = one_node_model("Dropout", {"x": x}, ["y", "mask"], 13, consts)
    assert_matches_ort(tmp_path, model, {"x": x}, rtol=0, atol=0)


def test_random_training_mode_is_refused_in_one_line(tmp_path):
    x = np.zeros([2, 5], np.float32)
    consts = {"ratio": np.float32(0.5), "training": np.bool_(True)}
    source = tmp_path / "drop.onnx"
    onnx.save(one_node_model("Dropout", {"x": x}, ["y"], 13, consts), source)
    with pytest.raises(UnsupportedModelError) as err:
        compile_model(source, "x86", tmp_path / "drop.so")
    assert "Dropout in training mode with ratio 0.5 is random" in str(err.value)
    assert "\n" not in str(err.value)

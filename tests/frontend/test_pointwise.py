"""Celu, Elu (float16), Swish and LpNormalization against ONNX Runtime."""

from __future__ import annotations

import numpy as np
import pytest

from tests.frontend.single_node import assert_matches_ort, one_node_model


def data(shape: list[int], dtype: type = np.float32, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(shape) * 3).astype(dtype)


def test_celu(tmp_path):
    x = data([3, 4, 5])
    model = one_node_model("Celu", {"x": x}, ["y"], 12, alpha=2.0)
    assert_matches_ort(tmp_path, model, {"x": x})


def test_elu_keeps_float16(tmp_path):
    x = data([2, 7], np.float16)
    model = one_node_model("Elu", {"x": x}, ["y"], 13, alpha=0.5)
    assert_matches_ort(tmp_path, model, {"x": x}, rtol=2e-3, atol=2e-3)


def test_swish(tmp_path):
    x = data([4, 6])
    model = one_node_model("Swish", {"x": x}, ["y"], 24, alpha=1.5)
    assert_matches_ort(tmp_path, model, {"x": x})


@pytest.mark.parametrize(("p", "axis"), [(1, 0), (2, -1), (2, 1)])
def test_lp_normalization_with_a_zero_row(tmp_path, p, axis):
    x = data([3, 4, 2])
    x[1] = 0.0  # where a norm is zero the output is zero, not NaN
    model = one_node_model("LpNormalization", {"x": x}, ["y"], 22, p=p, axis=axis)
    assert_matches_ort(tmp_path, model, {"x": x})

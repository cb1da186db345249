"""Det against ONNX Runtime: batches, pivoting, singular matrices."""

from __future__ import annotations

import numpy as np
import pytest

from tests.frontend.single_node import assert_matches_ort, one_node_model


@pytest.mark.parametrize("shape", [[2, 2], [3, 4, 4], [2, 2, 5, 5]])
def test_det_of_random_batches(tmp_path, shape):
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    model = one_node_model("Det", {"x": x}, ["y"], 22)
    assert_matches_ort(tmp_path, model, {"x": x}, rtol=1e-4, atol=1e-5)


def test_det_needs_pivoting_and_handles_singular_matrices(tmp_path):
    x = np.array(
        [
            [[0.0, 1.0, 2.0], [1.0, 0.0, 3.0], [4.0, -3.0, 8.0]],  # zero leading entry
            [[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]],  # singular: rows 0, 1
            [[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]],  # a permutation, det -1
        ],
        np.float32,
    )
    model = one_node_model("Det", {"x": x}, ["y"], 22)
    assert_matches_ort(tmp_path, model, {"x": x}, rtol=1e-5, atol=1e-6)

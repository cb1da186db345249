"""Softmax and LayerNorm kernels get one parallel row loop with vectorized reductions."""

from __future__ import annotations

import numpy as np
import pytest
import tvm
from tvm import tirx

from ember.compiler.passes.cpu_default_schedule import cpu_default_schedule
from tests.compiler.test_cpu_default_schedule import lowered
from tests.frontend.single_node import assert_matches_ort, one_node_model


def only_kernel(mod: tvm.IRModule) -> tirx.PrimFunc:
    (func,) = [f for f in mod.functions.values() if isinstance(f, tirx.PrimFunc)]
    return func


def softmax(shape: tuple[int, ...]):
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32) * 4
    return one_node_model("Softmax", {"x": x}, ["y"], 13, axis=-1), {"x": x}


def layer_norm(shape: tuple[int, ...]):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape).astype(np.float32) * 3 + 1
    scale = rng.standard_normal(shape[-1:]).astype(np.float32)
    bias = rng.standard_normal(shape[-1:]).astype(np.float32)
    model = one_node_model(
        "LayerNormalization", {"x": x}, ["y"], 17, {"scale": scale, "bias": bias}, axis=-1
    )
    return model, {"x": x}


@pytest.mark.parametrize(
    ("build", "shape"),
    [(softmax, (2, 12, 16, 128)), (softmax, (3, 40)), (layer_norm, (1, 16, 768))],
)
def test_row_kernels_run_rows_in_parallel_with_vector_reductions(tmp_path, build, shape):
    model, feed = build(shape)
    script = only_kernel(cpu_default_schedule(lowered(model))).script()
    # One parallel loop over the rows holds every pass over a row ...
    assert script.count("T.parallel(") == 1
    # ... and each reduction (max and sum; mean and variance) runs in vector lanes, as does
    # the output.
    assert script.count("T.vectorized(") == 3
    assert script.count("_rf") >= 2  # the reductions' per-lane partial results
    assert_matches_ort(tmp_path, model, feed, rtol=2e-6, atol=1e-6)


def test_rows_too_narrow_for_vectors_keep_the_generic_schedule(tmp_path):
    model, feed = softmax((4, 30))  # 30: no lane count divides it
    script = only_kernel(cpu_default_schedule(lowered(model))).script()
    assert "_rf" not in script and script.count("T.parallel(") >= 1
    assert_matches_ort(tmp_path, model, feed, rtol=2e-6, atol=1e-6)

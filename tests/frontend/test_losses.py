"""NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss against ONNX Runtime."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from ember.compiler.api import compile_model
from ember.errors import UnsupportedModelError

from .single_node import assert_matches_ort


def loss_model(op_type: str, shape: list[int], outputs: int, weight: np.ndarray | None, **attrs):
    """One loss node on scores (N, C, d...) and int64 targets (N, d...); weight a constant."""
    inputs = ["x", "t"] + (["w"] if weight is not None else [])
    names = ["loss", "log_prob"][:outputs]
    node = helper.make_node(op_type, inputs, names, **attrs)
    target_shape = [shape[0], *shape[2:]]
    loss_shape = target_shape if attrs.get("reduction") == "none" else []
    graph = helper.make_graph(
        [node],
        "loss",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, shape),
            helper.make_tensor_value_info("t", TensorProto.INT64, target_shape),
        ],
        [
            helper.make_tensor_value_info(n, TensorProto.FLOAT, s)
            for n, s in zip(names, [loss_shape, shape], strict=False)
        ],
        [] if weight is None else [numpy_helper.from_array(weight, "w")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def feed(shape: list[int], ignore: int | None, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    target = rng.integers(0, shape[1], [shape[0], *shape[2:]])
    if ignore is not None:  # some elements carry the ignored class, possibly outside [0, C)
        target.flat[::3] = ignore
    return {"x": rng.standard_normal(shape).astype(np.float32), "t": target}


CASES = [
    # shape, reduction, with weight, ignore_index
    ([3, 5], "mean", False, None),
    ([3, 5, 4], "none", True, None),
    ([2, 4, 3, 2], "sum", True, 1),
    ([2, 4, 3, 2], "mean", True, -1),
    ([2, 3, 2, 2, 2], "mean", False, 7),
]


def check_loss(tmp_path, op_type, outputs, shape, reduction, weighted, ignore, seed):
    """`op_type` with a random class weight (or none) against ONNX Runtime."""
    rng = np.random.default_rng(seed)
    weight = rng.uniform(0.1, 2.0, shape[1]).astype(np.float32) if weighted else None
    attrs = {"reduction": reduction} | ({} if ignore is None else {"ignore_index": ignore})
    model = loss_model(op_type, shape, outputs, weight, **attrs)
    assert_matches_ort(tmp_path, model, feed(shape, ignore, seed=seed + 1))


@pytest.mark.parametrize(("shape", "reduction", "weighted", "ignore"), CASES)
def test_nll_loss(tmp_path, shape, reduction, weighted, ignore):
    check_loss(tmp_path, "NegativeLogLikelihoodLoss", 1, shape, reduction, weighted, ignore, 1)


@pytest.mark.parametrize(("shape", "reduction", "weighted", "ignore"), CASES)
def test_softmax_cross_entropy_with_log_prob(tmp_path, shape, reduction, weighted, ignore):
    check_loss(tmp_path, "SoftmaxCrossEntropyLoss", 2, shape, reduction, weighted, ignore, 3)


def test_unknown_reduction_is_refused_in_one_line(tmp_path):
    model = loss_model("SoftmaxCrossEntropyLoss", [3, 5], 1, None, reduction="max")
    source = tmp_path / "bad.onnx"
    onnx.save(model, source)
    with pytest.raises(UnsupportedModelError) as err:
        compile_model(source, "x86", tmp_path / "bad.so")
    assert "unsupported attribute value reduction='max'" in str(err.value)
    assert "\n" not in str(err.value)

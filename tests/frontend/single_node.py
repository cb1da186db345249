"""Build a one-node ONNX model and compare Ember's outputs with ONNX Runtime's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

import ember
from ember.compiler.api import compile_model
from ember.compiler.examples.reference import ort_outputs


def one_node_model(
    op_type: str,
    inputs: dict[str, np.ndarray],
    outputs: list[str],
    opset: int,
    constants: dict[str, np.ndarray] | None = None,
    **attrs: object,
) -> onnx.ModelProto:
    """`op_type` on graph inputs shaped like `inputs` (in order) and constant initializers.

    `inputs` and `constants` are passed to the node in that order; a key of "" is an
    omitted optional input. Output types are left for shape inference.
    """
    constants = constants or {}
    names = [*inputs, *constants]
    node = helper.make_node(op_type, names, outputs, **attrs)
    graph = helper.make_graph(
        [node],
        op_type.lower(),
        [
            helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
            for n, v in inputs.items()
        ],
        [helper.make_value_info(n, onnx.TypeProto()) for n in outputs],
        [numpy_helper.from_array(v, n) for n, v in constants.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    del model.graph.output[:]
    model.graph.output.extend(inferred.graph.output)
    return model


def assert_matches_ort(
    tmp_path: Path,
    model: onnx.ModelProto,
    feed: dict[str, np.ndarray],
    rtol: float = 1e-5,
    atol: float = 1e-6,
) -> None:
    """Compile `model` for x86, run it on `feed`, compare every output with ONNX Runtime."""
    source = tmp_path / "model.onnx"
    onnx.save(model, source)
    got = ember.load(compile_model(source, "x86", tmp_path / "model.so")).run(feed)
    want = ort_outputs(str(source), feed)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)

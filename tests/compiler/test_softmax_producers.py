"""A softmax computes the scale and mask feeding it: one kernel, outputs as ONNX Runtime's."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import ember
from ember.compiler.examples.reference import ort_outputs
from ember.compiler.frontend import importer, signature
from ember.compiler.passes.pipeline import run_pipeline
from ember.compiler.provenance.node_sources import kernel_sources
from ember.compiler.target import resolve


def scaled_masked_softmax(scaled_is_output: bool = False) -> onnx.ModelProto:
    """softmax(scores / 8 + mask) over [batch, 4, 16, 32] scores, the mask passed in.

    With `scaled_is_output` the scaled scores are an output too, so something else reads them.
    """
    nodes = [
        helper.make_node("Div", ["scores", "eight"], ["scaled"], name="scale"),
        helper.make_node("Add", ["scaled", "mask"], ["masked"], name="mask_add"),
        helper.make_node("Softmax", ["masked"], ["probs"], name="softmax", axis=-1),
    ]
    shape = ["batch", 4, 16, 32]
    outputs = [helper.make_tensor_value_info("probs", TensorProto.FLOAT, shape)]
    if scaled_is_output:
        outputs.append(helper.make_tensor_value_info("scaled", TensorProto.FLOAT, shape))
    graph = helper.make_graph(
        nodes,
        "softmax_producers",
        [
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, shape),
            helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["batch", 1, 1, 32]),
        ],
        outputs,
        [numpy_helper.from_array(np.array(8.0, np.float32), "eight")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def kernels(model: onnx.ModelProto) -> list[tuple[str, list[str]]]:
    mod = importer.import_model(model, signature.graph_inputs(model))
    return [(s["kernel"], s["nodes"]) for s in kernel_sources(run_pipeline(mod, resolve("x86")))]


def feed(batch: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    mask = np.where(rng.random((batch, 1, 1, 32)) < 0.25, -10000.0, 0.0)
    scores = rng.standard_normal((batch, 4, 16, 32)) * 20
    return {"scores": scores.astype(np.float32), "mask": mask.astype(np.float32)}


def test_the_softmax_kernel_computes_its_scale_and_mask(compile_example):
    (only,) = kernels(scaled_masked_softmax())
    kernel, nodes = only
    assert "softmax" in kernel
    assert nodes == ["scale", "mask_add", "softmax"]
    source, artifact = compile_example("softmax_producers", scaled_masked_softmax())
    for batch in (1, 3):
        inputs = feed(batch)
        (got,) = ember.load(artifact).run(inputs)
        (want,) = ort_outputs(str(source), inputs)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_a_producer_something_else_reads_stays_its_own_kernel(compile_example):
    # Computing the scaled scores twice (once for the output) would cost a pass, not save one.
    model = scaled_masked_softmax(scaled_is_output=True)
    found = kernels(model)
    assert len(found) == 2
    softmax_nodes = [nodes for kernel, nodes in found if "softmax" in kernel]
    assert softmax_nodes == [["mask_add", "softmax"]]
    source, artifact = compile_example("softmax_producers_read_twice", model)
    inputs = feed(2)
    got = ember.load(artifact).run(inputs)
    want = ort_outputs(str(source), inputs)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)

"""Each kernel of a compiled model is mapped back to the ONNX nodes it computes."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ember.compiler.examples.models import transformer_block
from ember.compiler.frontend import importer, signature
from ember.compiler.libraries import onednn
from ember.compiler.passes.pipeline import run_pipeline
from ember.compiler.provenance.node_sources import kernel_sources
from ember.compiler.target import resolve


def _const(name: str, shape: tuple[int, ...], seed: int) -> onnx.TensorProto:
    data = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    return numpy_helper.from_array(data, name)


def conv_relu_add_matmul(names: bool = True) -> onnx.ModelProto:
    """Conv -> Relu -> Add(residual input) -> Flatten -> MatMul, nodes named unless not."""

    def node(op: str, inputs: list[str], output: str, name: str, **attrs: object):
        return helper.make_node(op, inputs, [output], name=name if names else "", **attrs)

    nodes = [
        node("Conv", ["x", "w"], "c", "stem_conv", pads=[1, 1, 1, 1]),
        node("Relu", ["c"], "r", "stem_relu"),
        node("Add", ["r", "skip"], "s", "residual_add"),
        node("Flatten", ["s"], "f", "flatten"),
        node("MatMul", ["f", "head"], "y", "classifier"),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8]),
            helper.make_tensor_value_info("skip", TensorProto.FLOAT, [1, 8, 8, 8]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])],
        [_const("w", (8, 4, 3, 3), 0), _const("head", (512, 10), 1)],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def sources(model: onnx.ModelProto, layout: str = "nchw") -> list[tuple[str, list[str]]]:
    mod = importer.import_model(model, signature.graph_inputs(model))
    lowered = run_pipeline(mod, resolve("x86"), layout=layout)
    return [(s["kernel"], s["nodes"]) for s in kernel_sources(lowered)]


def test_plugin_calls_and_fused_kernels_name_their_nodes():
    sites = sources(conv_relu_add_matmul())
    assert sites[0] == ("ember.cpu.conv2d", ["stem_conv"])
    assert sites[-1] == (onednn.MATMUL, ["classifier"])
    fused = [nodes for kernel, nodes in sites if kernel.startswith("fused_")]
    # The conv's epilogue: relu and the residual add run in one generated kernel.
    assert ["stem_relu", "residual_add"] in [[n for n in f if n != "flatten"] for f in fused]
    named = {n for _, nodes in sites for n in nodes}
    assert named == {"stem_conv", "stem_relu", "residual_add", "flatten", "classifier"}


def test_unnamed_nodes_are_named_by_op_type_and_position():
    sites = sources(conv_relu_add_matmul(names=False))
    assert sites[0] == ("ember.cpu.conv2d", ["Conv_0"])
    assert sites[-1] == (onednn.MATMUL, ["MatMul_4"])


def test_identical_kernels_keep_each_call_sites_nodes():
    # The two LayerNorms are one shared PrimFunc called twice; each call keeps its own node.
    sites = sources(transformer_block())
    shared = [nodes for kernel, nodes in sites if kernel == "layer_norm"]
    assert shared == [["ln1"], ["out"]]
    fused = [nodes for kernel, nodes in sites if kernel == onednn.MATMUL_EPILOGUE]
    assert ["ffn.up.mm", "ffn.up", "ffn.act"] in fused


def test_merged_projections_keep_every_projections_nodes():
    # Q, K and V are one matmul (bias adds inside); each slice into heads names its own nodes.
    sites = sources(transformer_block())
    qkv = ["attn.q.mm", "attn.k.mm", "attn.v.mm", "attn.q", "attn.k", "attn.v"]
    assert (onednn.MATMUL_EPILOGUE, qkv) in sites
    heads = [nodes for kernel, nodes in sites if kernel.startswith("fused_strided_slice")]
    assert heads == [[f"attn.{p}", f"attn.{p}.reshape", f"attn.{p}.heads"] for p in "qkv"]


def test_nodes_survive_the_conversion_to_nhwc():
    # ConvertLayout re-creates every binding; the tags follow them in order.
    sites = sources(conv_relu_add_matmul(), layout="nhwc")
    # oneDNN's conv takes the ReLU and the residual add as its epilogue.
    assert (onednn.CONV_NHWC_RESIDUAL, ["stem_conv", "stem_relu", "residual_add"]) in sites
    assert sites[-1] == (onednn.MATMUL, ["classifier"])
    assert not [kernel for kernel, _ in sites if "add" in kernel and "dnnl" not in kernel]

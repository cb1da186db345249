"""Which quantized convolutions and matmuls of a QDQ model run as int8 kernels, and which not.

A quantized site is a Conv, ConvTranspose, MatMul or Gemm whose data input is a
DequantizeLinear (`quantize_static` puts one there). After the pass pipeline, a site runs in
int8 when a oneDNN call tagged with its node computes in int8
(`passes/quantized_library_calls.py`), or multiplies its integers exactly in bf16 (both
operands computed: `passes/integer_products.py`); every other site runs in float32 on
dequantized values (the same numbers, slower). The compile says so per node; `ember check` does too.
"""

from __future__ import annotations

from dataclasses import dataclass

import onnx
import tvm

from ..frontend.node_tags import node_label
from ..ir.bindings import module_bindings
from ..libraries import onednn
from ..libraries.onednn_calls import library_call
from ..passes.integer_products import is_integer_product
from .node_sources import TAGS_ATTR

_SITES = ("Conv", "ConvTranspose", "MatMul", "Gemm")


@dataclass(frozen=True)
class Int8Coverage:
    """The quantized sites of a model and those that run in float32."""

    sites: list[str]
    float32: dict[str, str]  # node label -> its op type

    def note(self) -> str | None:
        """One line for the compile's output, or None for a model without quantized sites."""
        if not self.sites:
            return None
        if not self.float32:
            return f"all {len(self.sites)} quantized Conv/MatMul/Gemm nodes run in int8 kernels"
        names = ", ".join(f"'{n}' ({op})" for n, op in list(self.float32.items())[:5])
        more = len(self.float32) - 5
        return (
            f"{len(self.float32)} of {len(self.sites)} quantized Conv/MatMul/Gemm nodes run "
            f"in float32, not int8 (both operands computed on a CPU without bf16 "
            f"instructions, weights off a per-channel int8 grid, or no oneDNN): {names}"
            + (f" and {more} more" if more > 0 else "")
        )


def quantized_sites(model: onnx.ModelProto) -> dict[str, str]:
    """Label -> op type of each Conv/MatMul/Gemm whose data input a DequantizeLinear makes."""
    dequantized = {o for n in model.graph.node if n.op_type == "DequantizeLinear" for o in n.output}
    return {
        node_label(node, index): node.op_type
        for index, node in enumerate(model.graph.node)
        if node.op_type in _SITES and node.input and node.input[0] in dequantized
    }


def int8_coverage(model: onnx.ModelProto, mod: tvm.IRModule) -> Int8Coverage:
    """The quantized sites of `model` and those no int8 call of `mod` (lowered) computes."""
    sites = quantized_sites(model)
    attrs = mod.attrs
    tags = dict(attrs[TAGS_ATTR].items()) if attrs and TAGS_ATTR in attrs else {}
    int8_nodes: set[str] = set()
    for binding in module_bindings(mod):
        call = library_call(binding.value)
        if call is not None and (
            call.compute_type == onednn.COMPUTE_TYPES["int8"] or is_integer_product(call)
        ):
            int8_nodes.update(str(name) for name in tags.get(binding.var, []))
    rest = {name: op for name, op in sites.items() if name not in int8_nodes}
    return Int8Coverage(list(sites), rest)

"""Import a checked ONNX model into a Relax IRModule with TVM's ONNX importer."""

from __future__ import annotations

from typing import Any

import onnx

from ember.errors import UnsupportedModelError

from ..tvm_errors import summarize
from ..tvm_logs import quiet_tvm
from .checks import check_graph
from .conv_padding import explicit_auto_pads, fold_pads_into_convs
from .fold_constants import fold_constants
from .gelu_patterns import fuse_decomposed_gelu
from .node_tags import NodeTagger
from .quantized_gathers import gather_quantized_rows
from .shape_values import name_nodes, tensor_result_nodes
from .signature import Dim, TensorSignature


def import_model(model: onnx.ModelProto, inputs: list[TensorSignature], name: str = "model") -> Any:
    """Return the Relax IRModule of `model`, weights bound as constants.

    The module's attribute ``ember_node_tags`` names the ONNX node behind each binding of
    main (see `node_tags`), for the artifact's kernel-to-node map.

    `inputs` fixes each input's shape (symbolic dimensions stay symbolic) and dtype. Run
    `preflight.require_clean` first: it names every node the import would stop at.
    """
    check_graph(model, name)
    from tvm.relax.frontend.onnx import from_onnx

    from .converters import ConversionError, installed

    fixed = {
        s.name: tuple(int(d) for d in s.shape)
        for s in inputs
        if all(isinstance(d, int) for d in s.shape)
    }
    # Before folding: a small table's dequantizing would be folded into float32 first.
    gather_quantized_rows(model)
    fold_constants(model, fixed)
    fuse_decomposed_gelu(model)
    explicit_auto_pads(model)
    fold_pads_into_convs(model)
    name_nodes(model)
    tensor_nodes = tensor_result_nodes(model)

    # Symbolic dimensions stay as the model names them; only fully fixed shapes are passed.
    shape_dict = {name: list(shape) for name, shape in fixed.items()}
    dtype_dict = {s.name: s.dtype for s in inputs}
    tagger = NodeTagger(model)
    try:
        with installed(tensor_nodes, tagger.wrap), quiet_tvm():
            mod = from_onnx(
                model, shape_dict=shape_dict, dtype_dict=dtype_dict, keep_params_in_input=False
            )
    except ConversionError as err:  # the converter of one node failed: name it
        reason = conversion_failure(model, err)
        raise UnsupportedModelError(
            f"ONNX import failed at node '{err.node}' ({err.op_type}): {reason}"
        ) from err
    except Exception as err:  # TVM raises many types; report one line with the cause.
        raise UnsupportedModelError(f"ONNX import failed: {summarize(err)}") from err
    return tagger.attach(mod)


def output_signatures(mod: Any, model: onnx.ModelProto) -> list[TensorSignature]:
    """Names (from the ONNX graph), shapes and dtypes (from Relax) of the outputs."""
    from tvm import relax

    ret = mod["main"].ty.ret
    fields = list(ret.fields) if isinstance(ret, relax.TupleType) else [ret]
    names = [o.name for o in model.graph.output]
    if len(fields) != len(names):
        raise UnsupportedModelError(
            f"the model declares {len(names)} outputs but computes {len(fields)}"
        )
    return [_signature(name, t) for name, t in zip(names, fields, strict=True)]


def _signature(name: str, tensor_type: Any) -> TensorSignature:
    from tvm import tirx

    dims: list[Dim] = []
    shape = getattr(tensor_type.shape, "values", None)
    if shape is None:  # unknown at compile time; the run reports the real shape
        return TensorSignature(name, ("?",) * max(tensor_type.ndim, 0), str(tensor_type.dtype))
    for value in shape:
        dims.append(int(value.value) if isinstance(value, tirx.IntImm) else str(value))
    return TensorSignature(name, tuple(dims), str(tensor_type.dtype))


def conversion_failure(model: onnx.ModelProto, err: Any) -> str:
    """Why a node's converter failed (`err`, a ConversionError), with the input to bind if any."""
    reason = summarize(err.cause)
    return reason if "--bind" in reason else reason + _bind_hint(model, err.node)


def _bind_hint(model: onnx.ModelProto, node_name: str) -> str:
    """` (... --bind NAME=...)` when the node reads a graph input as an operand (not its data).

    TVM's converters need such operands (axes, shapes, k, pads, scales) as constants; the
    user can make one so with `--bind`.
    """
    initialized = {t.name for t in model.graph.initializer}
    runtime = {v.name for v in model.graph.input if v.name not in initialized}
    node = next((n for n in model.graph.node if n.name == node_name), None)
    if node is None:
        return ""
    operands = [name for name in node.input[1:] if name in runtime]
    if not operands:
        return ""
    names = ", ".join(f"'{name}'" for name in operands)
    binds = " ".join(f"--bind {name}=..." for name in operands)
    return f" (graph input {names} is known only at run time; compile it as a constant: {binds})"

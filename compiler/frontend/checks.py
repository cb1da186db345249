"""Checks a model must pass before TVM's importer sees it, each naming the node or input.

TVM's importer and passes assume a consistent graph: given one whose declared shapes
contradict its operators, or whose attributes are out of range, they fail deep inside a pass
(an `AssertionError` with no node in it) or, worse, compile code that reads out of bounds
(a constant Gather index past the end of the data). ONNX's own shape inference in strict mode
finds the first kind, as ONNX Runtime does when it loads a model, and names the node.
"""

from __future__ import annotations

import re

import numpy as np
import onnx
from onnx import numpy_helper

from ember.errors import ModelError

_NODE_ERROR = re.compile(r"\(op_type:([^,]*), node name: ([^)]*)\):\s*(.*)")


#: Types packed several to a byte: their raw size is not dims x itemsize.
_SUB_BYTE_TYPES = {
    getattr(onnx.TensorProto, t)
    for t in ("INT4", "UINT4", "FLOAT4E2M1", "INT2", "UINT2")
    if hasattr(onnx.TensorProto, t)
}

#: Shape inference works on a serialized proto, which protobuf limits to 2 GB.
_MAX_PROTO_BYTES = (1 << 31) - 1


def check_graph(model: onnx.ModelProto, name: str) -> None:
    """Run every check; the first problem becomes a one-line `ModelError`."""
    check_declarations(model, name)
    if model.ByteSize() >= _MAX_PROTO_BYTES:
        return  # too large for ONNX's inference; the importer still checks what it can
    check_shapes(model, name)
    check_constant_indices(model, name)


def check_declarations(model: onnx.ModelProto, name: str) -> None:
    """Initializers have known data types; declared dimensions are not negative."""
    g = model.graph
    if not g.output:
        raise ModelError(f"model '{name}' declares no outputs")
    known = set(onnx.TensorProto.DataType.values())
    for t in g.initializer:
        if t.data_type not in known or t.data_type == onnx.TensorProto.UNDEFINED:
            raise ModelError(
                f"model '{name}': initializer '{t.name}' has unknown data type {t.data_type}"
            )
        _check_raw_size(t, name)
    for kind, values in (("input", g.input), ("output", g.output)):
        for value in values:
            for i, dim in enumerate(value.type.tensor_type.shape.dim):
                if dim.HasField("dim_value") and dim.dim_value < 0:
                    raise ModelError(
                        f"model '{name}': {kind} '{value.name}' has dimension {i} = "
                        f"{dim.dim_value} (dimensions must be >= 0)"
                    )


def _check_raw_size(t: onnx.TensorProto, name: str) -> None:
    """Raw bytes must fill the declared dimensions exactly (fixed-width types only)."""
    if not t.HasField("raw_data") or t.data_location == onnx.TensorProto.EXTERNAL:
        return
    try:
        itemsize = onnx.helper.tensor_dtype_to_np_dtype(t.data_type).itemsize
    except (KeyError, ValueError, TypeError):
        return  # strings and sub-byte types: ONNX's own loader reports those
    if t.data_type in _SUB_BYTE_TYPES or t.data_type == onnx.TensorProto.STRING:
        return
    want = int(np.prod(t.dims, dtype=np.int64)) * itemsize
    if len(t.raw_data) != want:
        dims = "x".join(str(d) for d in t.dims) or "scalar"
        raise ModelError(
            f"model '{name}': initializer '{t.name}' holds {len(t.raw_data)} bytes, "
            f"but its dimensions ({dims}) need {want}"
        )


def check_shapes(model: onnx.ModelProto, name: str) -> None:
    """ONNX shape and type inference in strict mode must accept the graph.

    Failures inside the body of a function operator (MeanVarianceNormalization, ...) are
    ONNX's own inference gaps, not the model's: ONNX Runtime runs those models, so they pass.
    """
    try:
        onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    except (onnx.shape_inference.InferenceError, onnx.checker.ValidationError, ValueError) as err:
        if _inside_function_body(str(err), model):
            return
        raise ModelError(f"model '{name}': {_inference_message(str(err))}") from None


def _inside_function_body(text: str, model: onnx.ModelProto) -> bool:
    match = _NODE_ERROR.search(text) or re.search(r"\(op_type:([^)]*)\)", text)
    if match is None or text.count("Inference error(s)") < 2:
        return False
    op = match.group(1).strip()
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    try:
        schema = onnx.defs.get_schema(op, opset) if opset else onnx.defs.get_schema(op)
    except onnx.defs.SchemaError:
        return False
    # The stubs lack these attributes of onnx's C++ OpSchema binding.
    return bool(schema.has_function or schema.has_context_dependent_function)  # type: ignore[attr-defined]


def _inference_message(text: str) -> str:
    """`node 'relu' (Relu): <problem>` from ONNX's multi-line inference report."""
    for line in text.splitlines():
        match = _NODE_ERROR.search(line)
        if match:
            op, node, problem = match.groups()
            problem = re.sub(r"^\[\w+\]\s*", "", problem.strip())
            return f"node '{node}' ({op}) fails shape inference: {problem}"
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return "fails shape inference: " + (lines[0] if lines else "unknown error")


def check_constant_indices(model: onnx.ModelProto, name: str) -> None:
    """A Gather whose indices are an initializer must index inside its data's extent.

    TVM compiles Gather without a bounds check, so an index past the end would read outside
    the data at run time.
    """
    init = {t.name: t for t in model.graph.initializer}
    shapes = _static_shapes(model)
    for index, node in enumerate(model.graph.node):
        if node.op_type != "Gather" or len(node.input) < 2 or node.input[1] not in init:
            continue
        shape = shapes.get(node.input[0])
        axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
        if shape is None or not -len(shape) <= axis < len(shape):
            continue
        extent = shape[axis]
        if extent is None:
            continue
        try:
            indices = numpy_helper.to_array(init[node.input[1]])
        except (ValueError, TypeError):  # malformed data: the importer reports it
            continue
        bad = indices[(indices < -extent) | (indices >= extent)] if indices.size else indices
        if bad.size:
            raise ModelError(
                f"model '{name}': node '{node.name or f'#{index}'}' (Gather): index "
                f"{int(bad.flat[0])} is out of range for axis {axis} of extent {extent}"
            )


def _static_shapes(model: onnx.ModelProto) -> dict[str, list[int | None]]:
    """Known shapes of graph inputs, initializers and inferred values (None: unknown dim)."""
    shapes: dict[str, list[int | None]] = {}
    inferred = onnx.shape_inference.infer_shapes(model)
    g = inferred.graph
    for value in [*g.input, *g.value_info, *g.output]:
        if not value.type.tensor_type.HasField("shape"):
            continue
        dims = value.type.tensor_type.shape.dim
        shapes[value.name] = [d.dim_value if d.HasField("dim_value") else None for d in dims]
    for t in g.initializer:
        shapes[t.name] = [int(d) for d in np.asarray(t.dims)]
    return shapes

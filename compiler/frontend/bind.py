"""Bind graph inputs to constant values (`--bind NAME=VALUES`) before import.

Most operand inputs (axes, shapes, k, pads, scales) compile as run-time inputs: Ember's
converters read them in kernels or make the output extents they decide symbolic. A few
cannot (Tile's repeats or an Expand shape of unknown length, a Loop's trip count,
MelWeightMatrix's operands): an ahead-of-time compiler needs them as constants to type the
graph, and the importer's error names the input to bind (`importer.conversion_failure`).
Users who know the values pin them with `--bind` (`CompileOptions.bind_inputs`): the input
becomes an initializer and leaves the artifact's signature, and constant folding and the
importer see a constant.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ember.errors import OptionError

from ..options import parse_repeated


def bind_inputs(model: onnx.ModelProto, values: dict[str, np.ndarray]) -> None:
    """Turn each named graph input into an initializer holding its value, in place.

    The value is converted to the input's declared dtype (it must convert exactly) and takes
    the input's declared shape when the element counts agree; a declared dimension that
    contradicts the value is an error naming the input.
    """
    graph = model.graph
    initializers = {t.name for t in graph.initializer}
    declared = {v.name: v for v in graph.input if v.name not in initializers}
    for name, raw in values.items():
        if name not in declared:
            known = ", ".join(f"'{n}'" for n in declared) or "none"
            raise OptionError(f"--bind names unknown input '{name}' (inputs: {known})")
        value = _conform(name, np.asarray(raw), declared[name])
        graph.initializer.append(numpy_helper.from_array(value, name))
    if model.ir_version < 4:
        return  # before IR 4 every initializer must also be listed as a graph input
    kept = [v for v in graph.input if v.name not in values]
    del graph.input[:]
    graph.input.extend(kept)


def _conform(name: str, value: np.ndarray, info: onnx.ValueInfoProto) -> np.ndarray:
    tensor_type = info.type.tensor_type
    dtype = helper.tensor_dtype_to_np_dtype(tensor_type.elem_type)
    converted = value.astype(dtype)
    if value.dtype.kind in "fc" and dtype.kind in "iub" and not np.array_equal(converted, value):
        raise OptionError(f"--bind '{name}': values {value.tolist()} are not all {dtype}")
    if not tensor_type.HasField("shape"):
        return converted
    dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor_type.shape.dim]
    if len(dims) == converted.ndim and all(
        d is None or d == s for d, s in zip(dims, converted.shape, strict=True)
    ):
        return converted
    fixed = [int(d) for d in dims if d is not None]
    if len(fixed) == len(dims) and int(np.prod(fixed)) == converted.size:
        return converted.reshape(fixed)
    shape = "x".join(str(d if d is not None else "?") for d in dims) or "a scalar"
    raise OptionError(
        f"--bind '{name}': {converted.size} value(s) do not fit the input's shape ({shape})"
    )


def parse_bind(spec: str) -> tuple[str, np.ndarray]:
    """Parse ``NAME=1,2,3`` (numbers, comma-separated) into a name and a 1-D array.

    One number gives a 0-d array; `bind_inputs` fits either to the input's declared shape.
    """
    name, sep, text = spec.partition("=")
    if not sep or not name.strip():
        raise OptionError(f"invalid --bind '{spec}': expected NAME=VALUES, e.g. axes=0,2")
    items = [t.strip() for t in text.split(",")] if text.strip() else []
    try:
        numbers = [int(t) if _is_int(t) else float(t) for t in items]
    except ValueError:
        raise OptionError(
            f"invalid --bind '{spec}': values must be comma-separated numbers"
        ) from None
    array = np.array(
        numbers, dtype=np.float64 if any(isinstance(n, float) for n in numbers) else np.int64
    )
    return name.strip(), array.reshape(()) if array.size == 1 else array


def _is_int(text: str) -> bool:
    return text.lstrip("+-").isdigit()


def parse_binds(specs: list[str] | None) -> dict[str, np.ndarray]:
    """Parse repeated ``--bind`` options; a name given twice is an error."""
    return parse_repeated(specs, parse_bind, "--bind")

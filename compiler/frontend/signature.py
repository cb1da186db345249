"""The model's inputs as the manifest records them, and `--input-shape` overrides."""

from __future__ import annotations

from dataclasses import dataclass

import onnx
from onnx import helper

from ember.errors import OptionError, UnsupportedModelError

Dim = int | str


@dataclass(frozen=True)
class TensorSignature:
    """Name, shape (a symbolic dimension is its name) and NumPy dtype name of one tensor."""

    name: str
    shape: tuple[Dim, ...]
    dtype: str

    def manifest(self) -> dict[str, object]:
        """The manifest's entry for this tensor."""
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}


def graph_inputs(model: onnx.ModelProto) -> list[TensorSignature]:
    """The inputs a caller feeds: graph inputs that are not initializers, in graph order."""
    initializers = {t.name for t in model.graph.initializer}
    inputs = []
    for value in model.graph.input:
        if value.name in initializers:
            continue
        inputs.append(_signature(value))
    return inputs


def _signature(value: onnx.ValueInfoProto) -> TensorSignature:
    tensor_type = value.type.tensor_type
    if not value.type.HasField("tensor_type"):
        raise UnsupportedModelError(
            f"input '{value.name}' is not a tensor "
            "(sequences, maps and optionals are not supported)"
        )
    dims: list[Dim] = []
    for i, dim in enumerate(tensor_type.shape.dim):
        if dim.HasField("dim_value"):
            dims.append(int(dim.dim_value))
        elif dim.dim_param:
            dims.append(dim.dim_param)
        else:
            # An unnamed unknown dimension still needs a name to be checked at run time.
            dims.append(f"{value.name}_dim{i}")
    dtype = onnx_dtype_name(tensor_type.elem_type, f"input '{value.name}'")
    return TensorSignature(value.name, tuple(dims), dtype)


def onnx_dtype_name(elem_type: int, what: str = "tensor") -> str:
    """NumPy name of an ONNX tensor element type; `what` names the tensor in errors."""
    try:
        return str(helper.tensor_dtype_to_np_dtype(elem_type))
    except (KeyError, ValueError, TypeError):
        known = elem_type in onnx.TensorProto.DataType.values()
        name = onnx.TensorProto.DataType.Name(elem_type) if known else f"{elem_type} (unknown)"
        raise UnsupportedModelError(f"{what}: element type {name} is not supported") from None


def apply_shapes(
    inputs: list[TensorSignature], overrides: dict[str, tuple[int, ...]]
) -> list[TensorSignature]:
    """Replace input shapes with `--input-shape` values, checking name, rank and fixed dims."""
    by_name = {s.name: s for s in inputs}
    for name, dims in overrides.items():
        if name not in by_name:
            known = ", ".join(f"'{s.name}'" for s in inputs)
            raise OptionError(f"--input-shape names unknown input '{name}' (inputs: {known})")
        spec = by_name[name]
        if len(dims) != len(spec.shape):
            raise OptionError(
                f"--input-shape for '{name}' has {len(dims)} dimensions, "
                f"the model's input has {len(spec.shape)} ({_fmt(spec.shape)})"
            )
        for i, (want, have) in enumerate(zip(dims, spec.shape, strict=True)):
            if isinstance(have, int) and have != want:
                raise OptionError(
                    f"--input-shape for '{name}': dimension {i} is fixed to {have} "
                    f"in the model, got {want}"
                )
        by_name[name] = TensorSignature(name, dims, spec.dtype)
    return [by_name[s.name] for s in inputs]


def _fmt(shape: tuple[Dim, ...]) -> str:
    return "x".join(str(d) for d in shape)

"""Reading (and retyping) the oneDNN matmul and convolution calls the dispatch pass writes.

Their attributes are the function's leading ones (`onednn.LEADING_ATTRS`), then the fused
epilogue [has_bias, count, (kind, alpha, beta) x count], then optionally a compute type and
its values (runtime_cpp/plugins/common/epilogue.h).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import tvm
from tvm import relax
from tvm.relax.expr_functor import PyExprMutator, mutator

from ..ir.bindings import function_bindings
from ..ir.rewrite import rewrite_functions
from ..provenance.node_sources import AddedTags
from . import onednn

_CALL_PACKED = tvm.ir.Op.get("relax.call_dps_packed")


@dataclass(frozen=True)
class LibraryCall:
    """A oneDNN matmul or convolution call, taken apart."""

    #: The packed function, e.g. "ember.dnnl.conv_nhwc_epilogue".
    name: str
    #: Its tensor operands: source, weights (an int8 call's int8 weights followed by their
    #: scales per output channel), then bias and residual where it has them.
    tensors: list[relax.Expr]
    #: Its attributes as integers.
    values: list[int]
    #: The call itself, where it was taken apart from one.
    expr: relax.Call | None = None

    @property
    def leading(self) -> int:
        """How many attributes come before the epilogue (the last: the weights' hash)."""
        return onednn.LEADING_ATTRS[self.name]

    @property
    def epilogue_end(self) -> int:
        """Where the epilogue ends in `values` (`leading` when the call has none)."""
        if len(self.values) == self.leading:
            return self.leading
        return self.leading + 2 + 3 * self.values[self.leading + 1]

    @property
    def ends_in_softmax(self) -> bool:
        """Whether the epilogue's last step is a row softmax (whose output is float32)."""
        end = self.epilogue_end
        return end > self.leading + 2 and self.values[end - 3] == onednn.SOFTMAX_STEP

    @property
    def steps(self) -> list[tuple[int, int, int]]:
        """The epilogue's steps after the bias: (kind, alpha bits, beta bits) each."""
        begin, end = self.leading + 2, self.epilogue_end
        return [tuple(self.values[i : i + 3]) for i in range(begin, end, 3)]  # type: ignore[misc]

    def with_steps(self, steps: list[tuple[int, int, int]]) -> list[int]:
        """The attributes with `steps` as the epilogue's steps (the call must have one)."""
        begin, end = self.leading + 2, self.epilogue_end
        flat = [v for step in steps for v in step]
        return [*self.values[: begin - 1], len(steps), *flat, *self.values[end:]]

    @property
    def hashed(self) -> bool:
        """Whether the weights are constant: the compiler passed their content hash."""
        return self.values[self.leading - 1] != 0

    @property
    def compute_type(self) -> int | None:
        """The compute type after the epilogue, or None where the call has none (fp32)."""
        end = self.epilogue_end
        return self.values[end] if len(self.values) > end else None


def float_bits(value: float) -> int:
    """The float32 bit pattern of `value`, as call attributes hold floats (inf stays inf)."""
    return int(struct.unpack("<I", struct.pack("<f", value))[0])


def bits_float(bits: int) -> float:
    """The float32 whose bit pattern `float_bits` gave."""
    return float(struct.unpack("<f", struct.pack("<I", bits & 0xFFFFFFFF))[0])


def library_call(expr: relax.Expr) -> LibraryCall | None:
    """`expr` taken apart if it is a oneDNN matmul or convolution call, else None."""
    if not (isinstance(expr, relax.Call) and expr.op.same_as(_CALL_PACKED)):
        return None
    name = str(expr.args[0].global_symbol)
    if name not in onednn.LEADING_ATTRS:
        return None
    *tensors, attrs = list(expr.args[1].fields)
    return LibraryCall(name, tensors, [int(v) for v in attrs.values], expr)


#: The convolution calls: plain, with an epilogue, with a residual add (its operand after bias).
CONVS = (onednn.CONV_NHWC, onednn.CONV_NHWC_EPILOGUE, onednn.CONV_NHWC_RESIDUAL)
#: The matmul calls whose right operand may be constant weights, in the same order.
MATMULS = (onednn.MATMUL, onednn.MATMUL_EPILOGUE, onednn.MATMUL_RESIDUAL)
_RESIDUAL_CALLS = (onednn.CONV_NHWC_RESIDUAL, onednn.MATMUL_RESIDUAL)


@dataclass(frozen=True)
class Produced:
    """A call's output and the calls that read it (`sole_source_producers`)."""

    var: relax.Var
    #: The producing call, taken apart (its `expr` is the call).
    call: LibraryCall
    #: Each reading call, once per operand it reads the output as.
    readers: list[LibraryCall]

    def reads_as_residual(self, reader: LibraryCall) -> bool:
        """Whether `reader` adds the output as its residual (its last operand)."""
        return reader.name in _RESIDUAL_CALLS and reader.tensors[-1].same_as(self.var)


def sole_source_producers(
    func: Any,
    reads: Callable[[LibraryCall], bool],
    produces: Callable[[LibraryCall], bool],
    family: tuple[str, str, str] = CONVS,
    residuals: bool = False,
) -> list[Produced]:
    """Calls of `family` (convolutions, or matmuls) whose output only others of it read.

    A reader is a call of `family` that `reads` accepts, reading the output as its source (a
    matmul's left operand), or with `residuals` as the residual it adds; a producer is one
    that `produces` accepts, without a residual add (the family's first two) unless
    `residuals`, whose output nothing else uses (another operand, another op, the function's
    result). Such an output can be written in the type its readers compute in (bf16, 8-bit)
    and read as it is.
    """
    bindings = function_bindings(func)
    if not bindings:
        return []
    other_uses: set[Any] = set(relax.analysis.free_vars(func.body.body))
    readers: dict[Any, list[LibraryCall]] = {}
    for binding in bindings:
        call = library_call(binding.value)
        if call is None or call.name not in family or not reads(call):
            other_uses.update(relax.analysis.free_vars(binding.value))
            continue
        source, *rest = call.tensors
        read = [source]
        if residuals and call.name == family[2]:
            read.append(rest.pop())  # the residual, the call's last operand
        for tensor in read:
            readers.setdefault(tensor, []).append(call)
        for tensor in rest:
            other_uses.update(relax.analysis.free_vars(tensor))
    kinds = family if residuals else family[:2]
    producers = []
    for binding in bindings:
        call = library_call(binding.value)
        if binding.var not in readers or binding.var in other_uses or call is None:
            continue
        if call.name in kinds and produces(call):
            producers.append(Produced(binding.var, call, readers[binding.var]))
    return producers


def retype_outputs(
    mod: tvm.IRModule, outputs: list[tuple[relax.Call, str | None, list[int]]]
) -> tvm.IRModule:
    """`mod` with each call in `outputs` given its new output dtype and attributes.

    A dtype of None keeps the call's output type (only its attributes change: a reader of
    another call's retyped output).

    The readers' types follow the new output type. A retyped call is bound to a new variable
    (its type changed); it keeps the ONNX nodes of the one it replaces, which `ember profile`
    would otherwise attribute to the next kernel's nodes.
    """
    if not outputs:
        return mod
    retyped = _RetypedOutputs(mod, outputs)
    return retyped.tags.apply(rewrite_functions(mod, retyped))


@mutator
class _RetypedOutputs(PyExprMutator):
    def __init__(
        self, mod: tvm.IRModule, outputs: list[tuple[relax.Call, str | None, list[int]]]
    ) -> None:
        super().__init__(mod)
        self.outputs = outputs
        self.tags = AddedTags(mod)

    def visit_var_binding_(self, binding: relax.VarBinding) -> None:
        """The binding, re-emitted; a new variable for it takes the old one's nodes."""
        super().visit_var_binding_(binding)
        # Only a retyped call's variable is remapped; asking about any other would record a
        # null remap (the C++ map's operator[]).
        if any(binding.value.same_as(call) for call, _, _ in self.outputs):
            self.tags.tag(self.get_var_remap(binding.var), [binding.var])

    def visit_call_(self, call: relax.Call) -> relax.Expr:
        """`call`, retyped where `outputs` names it."""
        visited = super().visit_call_(call)
        found = next(((d, a) for c, d, a in self.outputs if call.same_as(c)), None)
        parts = library_call(visited) if found is not None else None
        if parts is None or found is None:
            return visited
        dtype, values = found
        shape = relax.ShapeExpr(values)
        ty = call.ty if dtype is None else relax.TensorType(call.ty.shape, dtype)
        return relax.op.call_dps_packed(parts.name, [*parts.tensors, shape], ty)

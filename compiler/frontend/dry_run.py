"""Preflight by doing: the real import and passes through legalization, without building.

The rule table in `preflight` names what Ember knows it cannot compile; anything else that
stops `ember compile` in the front end (a converter refusing an input, shape inference, a
legalization failing) is only found by running the same code. `ember check` runs it here, on
a copy of the model, and reports the failure as a `Problem` naming the node. A node whose
failing operand is a graph input gets the hint to bind it (`--bind`), since a constant is what
such converters need.
"""

from __future__ import annotations

import onnx

from ember.errors import EmberError

from ..target import Target
from ..tvm_errors import summarize
from .loader import default_opset
from .preflight import Problem, preflight

#: Pass phase the dry run stops before: everything up to legalization runs.
STOP_BEFORE = "fuse"


def check_problems(model: onnx.ModelProto, target: Target) -> list[Problem]:
    """The rule table's problems or, where it finds none, what the dry run meets.

    The import stops at the first node the rules name, so it could only repeat them.
    """
    return check_model(model, target)[0]


def check_model(model: onnx.ModelProto, target: Target) -> tuple[list[Problem], list[str]]:
    """`check_problems`, and notes on what compiles but runs slower than it could.

    The one note so far: the quantized Conv/MatMul/Gemm nodes that run in float32, not int8.
    """
    problems = preflight(model, target)
    if problems:
        return problems, []
    notes: list[str] = []
    return dry_run_problems(model, target, notes), notes


def dry_run_problems(
    model: onnx.ModelProto, target: Target, notes: list[str] | None = None
) -> list[Problem]:
    """What the import and the passes up to legalization fail on, as problems (or none).

    `notes`, where given, receives the int8 coverage of a quantized model's dry run.
    """
    from . import importer, signature
    from .converters import ConversionError

    copy = onnx.ModelProto()
    copy.CopyFrom(model)  # the import folds constants in place
    opset = default_opset(model)
    try:
        mod = importer.import_model(copy, signature.graph_inputs(copy))
    except EmberError as err:
        cause = err.__cause__
        if isinstance(cause, ConversionError):
            # The import named unnamed nodes in the copy; find the node there.
            reason = importer.conversion_failure(copy, cause)
            return [Problem(cause.node, cause.op_type, opset, reason)]
        return [Problem("import", "graph import", None, str(err))]
    return _pass_problems(mod, target, copy, notes)


def _pass_problems(
    mod: object, target: Target, model: onnx.ModelProto, notes: list[str] | None
) -> list[Problem]:
    from ..layout.conv_layout import choose_layout, is_quantized
    from ..passes.pipeline import run_pipeline
    from ..provenance.int8_coverage import int8_coverage

    try:
        # A quantized model's layout is chosen without timing (NHWC, where int8 kernels are),
        # and decides which of its convolutions run in int8.
        layout = choose_layout(mod, target, "auto").layout if is_quantized(mod) else "nchw"
        lowered = run_pipeline(mod, target, until=STOP_BEFORE, layout=layout)
    except EmberError as err:
        return [Problem("passes", "graph passes", None, str(err))]
    except Exception as err:  # TVM's passes raise many types
        return [Problem("passes", "graph passes", None, summarize(err))]
    note = int8_coverage(model, lowered).note()
    if notes is not None and note is not None:
        notes.append(note)
    return []

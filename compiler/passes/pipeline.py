"""Pass pipelines per target, as named phases.

Every phase is a list of passes; `run_pipeline` applies them in order and can write the IR
after each one (`ember compile --dump-ir DIR`). The same phases run at tune time and at
compile time, so tuning task hashes match.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import tvm
from tvm import relax

from ember.errors import TargetError

from ..target import Target
from .cpu_default_schedule import cpu_default_schedule
from .dispatch_cpu_kernels import dispatch_cpu_kernels

Phase = tuple[str, list[Any]]


def cpu_phases() -> list[Phase]:
    """The CPU pipeline: simplify, legalize, fuse, schedule."""
    return [
        (
            "simplify",
            [
                # BatchNorm after a convolution becomes part of its weights and bias.
                relax.transform.FoldBatchnormToConv2D(),
                # The remaining BatchNorms become arithmetic that fusion folds into a kernel.
                relax.transform.DecomposeOpsForInference(),
                relax.transform.CanonicalizeBindings(),
                relax.transform.FoldConstant(),
            ],
        ),
        ("dispatch", [dispatch_cpu_kernels]),
        (
            "legalize",
            [
                relax.transform.LegalizeOps(),
                relax.transform.AnnotateTIROpPattern(),
                relax.transform.FoldConstant(),
            ],
        ),
        ("fuse", [relax.transform.FuseOps(), relax.transform.FuseTIR()]),
        ("schedule", [cpu_default_schedule]),
    ]


def phases_for(target: Target) -> list[Phase]:
    """The phases for `target`."""
    if target.device == "cpu":
        return cpu_phases()

    raise TargetError(f"target '{target.name}': device '{target.device}' is not supported yet")


def run_pipeline(
    mod: tvm.IRModule,
    target: Target,
    dump_ir: Path | None = None,
    on_phase: Callable[[str], None] | None = None,
) -> tvm.IRModule:
    """Apply the target's phases to `mod` under the TVM target; optionally dump the IR."""
    if dump_ir is not None:
        dump_ir.mkdir(parents=True, exist_ok=True)
        (dump_ir / "00_imported.py").write_text(mod.script(), encoding="utf-8")
    with target.tvm_target():
        for index, (name, passes) in enumerate(phases_for(target), start=1):
            if on_phase is not None:
                on_phase(name)
            mod = tvm.transform.Sequential(passes, name=name)(mod)
            if dump_ir is not None:
                (dump_ir / f"{index:02d}_{name}.py").write_text(mod.script(), encoding="utf-8")
    return mod


def count_kernels(mod: tvm.IRModule) -> int:
    """Number of PrimFuncs (kernels, and tuning tasks) in a lowered module."""
    return sum(1 for f in mod.functions.values() if isinstance(f, tvm.tirx.PrimFunc))


def plugins_of(mod: tvm.IRModule) -> list[str]:
    """Kernel plugins the module calls (the runtime loads them before the model)."""
    attrs = mod.attrs
    if not attrs or "ember_plugins" not in attrs:
        return []
    return sorted(str(p) for p in attrs["ember_plugins"])

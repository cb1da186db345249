"""Tuning tasks: the kernels of a model exactly as `ember compile` has them before "schedule".

MetaSchedule finds records by the structural hash of a kernel, so the tasks must come out of
the same import and the same pass phases as a compile (`run_pipeline(until="schedule")`):
any other preprocessing changes the hashes and the records are never used.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..frontend import importer, loader, preflight, signature
from ..passes.dispatch_cpu_kernels import KernelChoice
from ..passes.pipeline import run_pipeline
from ..target import Target


@dataclass(frozen=True)
class Task:
    """One tuning task: a distinct kernel and how often the model calls it."""

    name: str
    #: The workload's structural hash, as MetaSchedule writes it in `database_workload.json`.
    key: str
    weight: float
    flop: float
    #: The tasks's MetaSchedule `TuneContext` input (an `IRModule` with one PrimFunc).
    mod: Any


def lowered_module(
    source: Path,
    target: Target,
    input_shapes: dict[str, tuple[int, ...]],
    layout: str = "nchw",
    choice: KernelChoice | None = None,
) -> Any:
    """Import `source` as `compile_model` does and run the phases before "schedule".

    `layout` is the convolutions' layout ("nchw" or "nhwc"); the kernels, hence the records,
    differ between the two, so tune in the layout the compile reports (manifest `layout`).
    `choice` (`library_race.GenerateAll` in a tune) turns library calls into tasks too.
    """
    model = loader.load_model(source)
    preflight.require_clean(model, target)
    inputs = signature.apply_shapes(signature.graph_inputs(model), input_shapes)
    mod = importer.import_model(model, inputs, str(source))
    return run_pipeline(mod, target, until="schedule", layout=layout, choice=choice)


def extract_tasks(mod: Any, target: Target) -> list[Task]:
    """The distinct kernels of a lowered module, with weights, FLOPs and workload keys."""
    from tvm.s_tir import meta_schedule as ms

    tvm_target = target.tvm_target()
    tasks = []
    for extracted in ms.relax_integration.extract_tasks(mod, tvm_target):
        task_mod = extracted.dispatched[0]
        if task_mod.attrs and task_mod.attrs.get("tirx.is_scheduled", False):
            continue  # already scheduled (a library kernel's glue): nothing to tune
        tasks.append(
            Task(
                name=str(extracted.task_name),
                key=str(ms.database.Workload(task_mod).as_json()[0]),
                weight=float(extracted.weight),
                flop=_flop(task_mod),
                mod=task_mod,
            )
        )
    return tasks


def _flop(mod: Any) -> float:
    from tvm.s_tir.analysis import estimate_tir_flops

    try:
        return float(estimate_tir_flops(mod))
    except Exception:  # FLOPs only label the table; some kernels have none TVM can count
        return 0.0

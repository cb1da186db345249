"""The Relax lowering `tvm.compile` runs on a scheduled module: TVM's own, plus size classes.

TVM's default pipeline for the target's backend (CPU or CUDA), with
`passes/size_class_allocations.py` right after `LowerAllocTensor`, so that buffers whose size
is known only at run time come in size classes the runtime's pool can hand back from one run to
the next. The manifest's `memory` field tells the runtime (`memory_manifest`).
"""

from __future__ import annotations

from typing import Any

import tvm
from tvm.relax.backend.cpu_generic import pipeline as cpu_pipeline
from tvm.relax.backend.cuda import pipeline as cuda_pipeline

from ember.errors import CompileError

from ..passes.size_class_allocations import CLASSES_PER_DOUBLING, size_class_allocations


def relax_pipeline(target: tvm.target.Target) -> tvm.transform.Pass:
    """TVM's pipeline for `target`'s backend, with run-time-sized allocations in classes."""
    backend = cuda_pipeline if target.kind.name == "cuda" else cpu_pipeline
    finalize = []
    for step in backend.finalize_passes(target):
        finalize.append(step)
        # After LowerAllocTensor every allocation is an alloc_storage of a byte size.
        if step.info.name == "LowerAllocTensor":
            finalize.append(size_class_allocations)
    if size_class_allocations not in finalize:
        raise CompileError("TVM's pipeline has no LowerAllocTensor pass to follow")
    return tvm.transform.Sequential(
        backend.library_dispatch_passes(target)
        + backend.legalize_passes(target)
        + backend.dataflow_lower_passes(target)
        + finalize
    )


def memory_manifest() -> dict[str, Any]:
    """What the artifact's manifest says of its allocations (`memory`), for the runtime.

    On the CPU the runtime keeps its pooled blocks while a run's dimensions stay in the same
    classes; a GPU's pool is never handed back, and the classes bound how many sizes it keeps.
    """
    return {"size_classes_per_doubling": CLASSES_PER_DOUBLING}

"""Tiny models and fabricated record stores for the tuning tests.

Float32 matmul and conv go to the OpenBLAS plugin on x86 and are not tuning tasks, so the
models here are elementwise and reduction kernels: one task each, fast to build and measure.
"""

from __future__ import annotations

import json
from pathlib import Path

import onnx
from onnx import TensorProto, helper

from ember.compiler.target import resolve
from ember.compiler.tuning import store
from ember.compiler.tuning.tasks import extract_tasks, lowered_module


def softmax_model(folder: Path, rows: int = 16, cols: int = 64) -> Path:
    """Softmax over rows x cols: one reduction task."""
    graph = helper.make_graph(
        [helper.make_node("Softmax", ["x"], ["y"], axis=-1)],
        "softmax",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [rows, cols])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [rows, cols])],
    )
    path = folder / "softmax.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def fake_store(
    path: Path,
    model: Path,
    target: str = "x86",
    seconds: float = 1e-5,
    mcpu: str | None = None,
    tvm_version: str | None = None,
) -> int:
    """A store with one record per task of `model`, written by TVM's JSONDatabase.

    The record's trace only annotates a block (MetaSchedule ignores empty traces), so applying
    it is cheap and visible: the kernel comes out with `tirx.is_scheduled`. Returns the number
    of records.
    """
    import tvm
    from tvm import s_tir
    from tvm.s_tir import meta_schedule as ms

    resolved = resolve(target)
    tvm_dict = dict(resolved.tvm, **({"mcpu": mcpu} if mcpu else {}))
    tasks = extract_tasks(lowered_module(model, resolved, {}), resolved)
    path.mkdir(parents=True, exist_ok=True)
    db = ms.database.JSONDatabase(work_dir=str(path), allow_missing=True)
    for task in tasks:
        workload = db.commit_workload(task.mod)
        sch = s_tir.Schedule(task.mod)
        sch.annotate(sch.get_child_blocks(sch.get_sblock("root"))[0], "ember_test", 1)
        record = ms.database.TuningRecord(
            sch.trace,
            workload,
            [seconds],
            tvm.target.Target(tvm_dict),
            ms.arg_info.ArgInfo.from_prim_func(task.mod["main"]),
        )
        db.commit_tuning_record(record)
    stamp = {"format": 1, "target": resolved.name, "tvm_target": tvm_dict}
    stamp["tvm_version"] = tvm_version or tvm.__version__
    (path / store.STAMP_FILE).write_text(json.dumps(stamp), encoding="utf-8")
    return len(tasks)


def record_lines(path: Path) -> list[str]:
    file = path / store.RECORD_FILE
    return file.read_text().splitlines() if file.exists() else []

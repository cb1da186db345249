"""The tuner: MetaSchedule with an XGBoost cost model over a model's tasks, into a store.

The trial budget counts what the store already holds for the model's tasks, so running the
same tune again continues where it stopped. The XGBoost model ranks candidates at random
until it has `num_warmup_samples` measurements, so that count is sized to the budget; the
model is saved beside the records after every batch and warm-starts the next tune.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..target import Target, resolve
from . import database, default_candidates, library_race, store
from .monitor import Event, TaskProgress, TuneMonitor
from .tasks import Task, extract_tasks, lowered_module

#: A LocalBuilder timeout that loaded 2-core machines meet (the default 30 s loses builds).
BUILDER_TIMEOUT_S = 90


@dataclass(frozen=True)
class TuneConfig:
    """One tune request (JSON-serialisable: it crosses to the worker process)."""

    model: str
    target: str
    trials: int
    records: str | None = None
    budget_s: float | None = None
    input_shapes: dict[str, list[int]] = field(default_factory=dict)
    rpc_tracker: str | None = None
    rpc_key: str | None = None
    trials_per_batch: int = 8
    #: Evolutionary search population (MetaSchedule's default 512; tests use fewer).
    population: int = 512
    #: XGBoost ranks at random below this many samples; None: min(32, trials / 4).
    warmup_samples: int | None = None
    warm_start: bool = True
    builder_workers: int = 2
    seed: int = 0
    #: Also tune the library's matmul/conv2d calls as kernels, racing the library (x86).
    race_library: bool = True
    #: The convolutions' layout ("nchw" or "nhwc"): records apply to compiles in that layout.
    layout: str = "nchw"

    def to_json(self) -> dict[str, Any]:
        """The config as a JSON object."""
        return dataclasses.asdict(self)

    def store_path(self, target: Target) -> Path:
        """The store tuned into: `records`, else the user's store for the target."""
        return Path(self.records) if self.records else store.default_store(target.name)


def warmup_samples(config: TuneConfig) -> int:
    """Measurements before XGBoost ranks candidates: a quarter of the budget, at most 32."""
    if config.warmup_samples is not None:
        return config.warmup_samples
    return max(1, min(32, config.trials // 4))


def run_tune(config: TuneConfig, emit: Callable[[Event], None]) -> None:
    """Tune `config.model` into its store, reporting events through `emit`."""
    # The budget covers the whole command (task extraction and default measurements too),
    # as the session's hard stop does.
    deadline = time.monotonic() + config.budget_s if config.budget_s else None
    target = resolve(config.target)
    path = config.store_path(target)
    db, problems = database.open_for_tuning(path, target)
    for problem in problems:
        emit({"event": "problem", "message": problem})
    shapes = {k: tuple(v) for k, v in config.input_shapes.items()}
    choice = _library_choice(config, target)
    lowered = lowered_module(Path(config.model), target, shapes, config.layout, choice)
    tasks = extract_tasks(lowered, target)
    if target.device == "cpu":
        _measure_defaults(config, target, path, db, tasks, choice, emit)
    progress = _prior_progress(path, target, tasks)
    if choice is not None:
        _time_library(path, choice, progress, emit)
    before = sum(t.trials for t in progress)
    remaining = config.trials - before
    emit(
        {
            "event": "start",
            "store": str(path),
            "trials": config.trials,
            "trials_before": before,
            "tasks": [t.event() for t in progress],
        }
    )
    if remaining <= 0 or not tasks:
        emit({"event": "end", "reason": "no tasks" if not tasks else "budget already spent"})
        return
    if deadline is not None and time.monotonic() >= deadline:
        emit({"event": "end", "reason": "time budget spent"})
        return
    reason = _search(config, target, path, db, tasks, progress, remaining, deadline, emit)
    emit({"event": "end", "reason": reason})


def _measure_defaults(
    config: TuneConfig,
    target: Target,
    path: Path,
    db: Any,
    tasks: list[Task],
    choice: library_race.GenerateAll | None,
    emit: Callable[[Event], None],
) -> None:
    """Commit each generated kernel's default schedule as a measured record (CPU targets).

    Kernels that race the library are left out: their rival is the library, not the default.
    """
    raced = set(choice.sites) if choice is not None else set()
    todo = [t for t in tasks if t.key not in raced]
    default_candidates.measure_defaults(
        path,
        todo,
        target.tvm_target(),
        db,
        _builder(config),
        _runner(config),
        on_start=lambda count: emit({"event": "defaults", "kernels": count}),
    )


def _builder(config: TuneConfig) -> Any:
    from tvm.s_tir import meta_schedule as ms

    return ms.builder.LocalBuilder(
        max_workers=config.builder_workers, timeout_sec=BUILDER_TIMEOUT_S
    )


def _library_choice(config: TuneConfig, target: Target) -> library_race.GenerateAll | None:
    """Race the library where the target has Ember's CPU plugin and measuring is local."""
    local_x86 = target.device == "cpu" and target.arch == "x86_64" and not config.rpc_tracker
    return library_race.GenerateAll() if config.race_library and local_x86 else None


def _time_library(
    path: Path,
    choice: library_race.GenerateAll,
    progress: list[TaskProgress],
    emit: Callable[[Event], None],
) -> None:
    """Time the library on each raced kernel not timed yet (appended to the store)."""
    times = library_race.read_library_times(path)
    todo = [site for key, site in choice.sites.items() if key not in times]
    if todo:
        emit({"event": "library", "kernels": len(todo)})
    for site in todo:
        times[site.key] = library_race.time_library(site)
        library_race.append_library_time(path, site, times[site.key])
    for task in progress:
        task.library_s = times.get(task.key)


def _prior_progress(path: Path, target: Target, tasks: list[Task]) -> list[TaskProgress]:
    """Each task with the trials and best latency already in the store."""
    lines = store.read_store(path, store.target_identity(target.tvm))
    counts, best = lines.records_per_workload(), lines.best_per_workload()
    return [
        TaskProgress(t.name, t.key, t.weight, t.flop, counts.get(t.key, 0), best.get(t.key))
        for t in tasks
    ]


def _search(
    config: TuneConfig,
    target: Target,
    path: Path,
    db: Any,
    tasks: list[Task],
    progress: list[TaskProgress],
    remaining: int,
    deadline: float | None,
    emit: Callable[[Event], None],
) -> str:
    """Run MetaSchedule for `remaining` trials; returns why it stopped."""
    from tvm.s_tir import meta_schedule as ms

    cost_model = _cost_model(config, path, emit)
    monitor = TuneMonitor(progress, emit, deadline, lambda: _save_cost_model(cost_model, path))
    callbacks = [*ms.measure_callback.MeasureCallback.create("default"), monitor.callback()]
    scheduler = ms.task_scheduler.GradientBased()
    with tempfile.TemporaryDirectory(prefix="ember-tune-") as work_dir, _budget_stop(monitor):
        ms.tune_tasks(
            tasks=_contexts(config, target, tasks),
            task_weights=[t.weight for t in tasks],
            work_dir=work_dir,
            max_trials_global=remaining,
            num_trials_per_iter=max(1, min(config.trials_per_batch, remaining)),
            builder=_builder(config),
            runner=_runner(config),
            database=db,
            cost_model=cost_model,
            measure_callbacks=callbacks,
            task_scheduler=scheduler,
        )
    _save_cost_model(cost_model, path)
    for task, record in zip(progress, scheduler.tasks_, strict=True):
        task.done = bool(record.is_terminated)
    emit(monitor.snapshot("final"))
    return "time budget spent" if monitor.out_of_time else "trials done"


@contextlib.contextmanager
def _budget_stop(monitor: TuneMonitor) -> Iterator[None]:
    """Let a stop at the deadline end the search however MetaSchedule takes it.

    The monitor terminates every task at the deadline; in the scheduler's first round, which
    hands out each task in turn without checking, the next task is then a terminated one and
    MetaSchedule fails its check. Every measured record is already in the store by then.
    """
    try:
        yield
    except Exception:
        if not monitor.out_of_time:
            raise


def _contexts(config: TuneConfig, target: Target, tasks: list[Task]) -> list[Any]:
    from tvm.s_tir import meta_schedule as ms

    # Plain loggers: MetaSchedule's own (`get_loggers_from_work_dir`) re-run logging's
    # dictConfig with the handlers already in the process, which failed on an unnamed one in
    # a pytest process after an earlier tune; their files went to a temporary folder anyway.
    loggers = [logging.getLogger(f"ember.tuning.task.{t.name}") for t in tasks]
    return [
        ms.TuneContext(
            mod=task.mod,
            target=target.tvm_target(),
            space_generator="post-order-apply",
            search_strategy=ms.search_strategy.EvolutionarySearch(
                population_size=config.population
            ),
            task_name=task.name,
            logger=logger,
            rand_state=config.seed + index,
            num_threads=config.builder_workers,
        ).clone()
        for index, (task, logger) in enumerate(zip(tasks, loggers, strict=True))
    ]


def _runner(config: TuneConfig) -> Any:
    """Measure locally, or on the devices registered with an RPC tracker under a key."""
    from tvm.s_tir import meta_schedule as ms

    if not config.rpc_tracker:
        return ms.runner.LocalRunner()
    host, _, port = config.rpc_tracker.rpartition(":")
    rpc = ms.runner.RPCConfig(
        tracker_host=host,
        tracker_port=int(port),
        tracker_key=config.rpc_key,
        session_timeout_sec=120,
    )
    return ms.runner.RPCRunner(rpc_config=rpc, max_workers=1)


def _cost_model(config: TuneConfig, path: Path, emit: Callable[[Event], None]) -> Any:
    """XGBoost sized to the budget, warm-started from the store's saved model when present."""
    from tvm.s_tir import meta_schedule as ms

    model = ms.cost_model.XGBModel(
        num_warmup_samples=warmup_samples(config), num_tuning_cores=config.builder_workers
    )
    saved = path / store.COST_MODEL_FILE
    if config.warm_start and saved.is_file():
        try:
            model.load(str(saved))
        except Exception as err:  # a damaged or foreign file costs the warm start only
            emit({"event": "problem", "message": f"cost model '{saved}' unreadable ({err})"})
        else:
            emit({"event": "warm_start", "samples": int(model.data_size)})
    return model


def _save_cost_model(model: Any, path: Path) -> None:
    """Save the model atomically (XGBModel.load fails on a file without a booster: skip)."""
    if getattr(model, "booster", None) is None:
        return
    tmp = path / f".{store.COST_MODEL_FILE}.tmp"
    model.save(str(tmp))
    tmp.replace(path / store.COST_MODEL_FILE)

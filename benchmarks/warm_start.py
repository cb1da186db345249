"""Does a saved cost model make the next tune converge faster? Cold vs warm, same trials.

    python benchmarks/warm_start.py --source runs/x86-avx2 --models gpt2_small,mlp \
        [--trials 48] [--target x86-avx2] [--out runs/warm-start]

`--source` is a store tuned on other models (its `cost_model.tar` is the warm start). Each
model is tuned twice into fresh stores, once without a cost model and once starting from the
source's, with the same trial budget and seed. The progress of a run after m trials (read
back from its store, where records are appended in measurement order) is the ideal kernel
time over its estimated kernel time, counted from the trial where every task has a
measurement: each task's best latency so far times its calls; the ideal takes each task's
best over both runs. Printed per model: when every task was measured and the % then, trials
until 90% of the ideal, and the final %.
The exported models come from `export.py`'s cache, as in `run.py`.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from ember.compiler.target import resolve
from ember.compiler.tuning import store
from ember.compiler.tuning.session import tune
from ember.compiler.tuning.store import COST_MODEL_FILE
from ember.compiler.tuning.tasks import extract_tasks, lowered_module
from ember.compiler.tuning.tuner import TuneConfig
from export import export
from torch_models import BENCHMARKS

ROOT = Path(__file__).resolve().parent.parent

Curve = list[tuple[int, dict[str, float]]]


def curve(path: Path) -> Curve:
    """(trials measured, best seconds per task key) after each record of a store, in order."""
    lines = store.read_store(path)
    best: dict[str, float] = {}
    points: Curve = []
    for measured, (index, body) in enumerate(lines.records, start=1):
        key, secs = lines.workloads[index][0], store.mean_seconds(body)
        if secs is not None and secs < best.get(key, float("inf")):
            best[key] = secs
        points.append((measured, dict(best)))
    return points


def task_weights(model: Path, target: str) -> dict[str, float]:
    """Calls per kernel of the model, by workload key (as the tuner extracts them)."""
    resolved = resolve(target)
    lowered = lowered_module(model, resolved, {})
    return {t.key: t.weight for t in extract_tasks(lowered, resolved)}


def progress(
    points: Curve, weights: dict[str, float], ideal: dict[str, float]
) -> list[tuple[int, float]]:
    """Ideal time / estimated time after each trial, from when every task has a measurement."""
    ideal_total = sum(weights.get(k, 1.0) * ideal[k] for k in ideal)
    out = []
    for measured, best in points:
        if all(k in best for k in ideal):
            total = sum(weights.get(k, 1.0) * best[k] for k in ideal)
            out.append((measured, ideal_total / total))
    return out


def trials_to(fraction: float, prog: list[tuple[int, float]]) -> int | None:
    """Trials measured when the run first reached `fraction` of the ideal."""
    return next((m for m, p in prog if p >= fraction), None)


def _ideal(finals: list[dict[str, float]]) -> dict[str, float]:
    """Each task's best latency over the final states of both runs."""
    ideal: dict[str, float] = {}
    for final in finals:
        for key, secs in final.items():
            ideal[key] = min(secs, ideal.get(key, secs))
    return ideal


def run(model: Path, folder: Path, args: argparse.Namespace, warm_from: Path | None) -> None:
    """One tune into a fresh store."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    if warm_from is not None:
        shutil.copyfile(warm_from / COST_MODEL_FILE, folder / COST_MODEL_FILE)
    config = TuneConfig(
        model=str(model),
        target=args.target,
        trials=args.trials,
        records=str(folder),
        warm_start=warm_from is not None,
        trials_per_batch=args.per_batch,
        race_library=False,  # the same tasks as the source's tunes
    )
    tune(config)


def main() -> None:
    """Cold and warm tune per model; print and save the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, required=True)
    parser.add_argument("--models", default="gpt2_small,mlp")
    parser.add_argument("--trials", type=int, default=48)
    parser.add_argument("--per-batch", type=int, default=4)
    parser.add_argument("--target", default="x86-avx2")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "warm-start")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache/ember/benchmarks")
    parser.add_argument("--analyse-only", action="store_true", help="re-read the stores only")
    args = parser.parse_args()
    if not (args.source / COST_MODEL_FILE).is_file():
        parser.error(f"--source '{args.source}' has no {COST_MODEL_FILE}: tune into it first")
    results = {}
    for bench in (b for b in BENCHMARKS if b.name in args.models.split(",")):
        model = export(bench, args.cache)
        cold, warm = args.out / f"{bench.name}-cold", args.out / f"{bench.name}-warm"
        if not args.analyse_only:
            run(model, cold, args, None)
            run(model, warm, args, args.source)
        weights = task_weights(model, args.target)
        curves = {"cold": curve(cold), "warm": curve(warm)}
        ideal = _ideal([points[-1][1] for points in curves.values() if points])
        row = {}
        for name, points in curves.items():
            prog = progress(points, weights, ideal)
            row[name] = {
                "all_tasks_measured_at": prog[0][0] if prog else None,
                "percent_then": round(100 * prog[0][1], 1) if prog else None,
                "trials_to_90": trials_to(0.9, prog),
                "final_percent": round(100 * prog[-1][1], 1) if prog else None,
                "trials": points[-1][0] if points else 0,
            }
        results[bench.name] = row
        print(f"{bench.name}: {json.dumps(row)}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()

"""Does a saved cost model make the next tune converge faster? Cold vs warm, same trials.

    python benchmarks/warm_start.py --source runs/x86-avx2 --models gpt2_small,mlp \
        [--trials 48] [--target x86-avx2] [--out runs/warm-start]

`--source` is a store tuned on other models (its `cost_model.tar` is the warm start). Each
model is tuned twice into fresh stores, once without a cost model and once starting from the
source's, with the same trial budget and seed. The progress of a run after m trials is the
ideal kernel time over its estimated kernel time: each task counts its best latency so far
(a task not measured yet counts its first measurement), the ideal takes each task's best over
both runs. Printed per model: trials until a run reaches 90% of the ideal, and its final %.
The exported models come from `export.py`'s cache, as in `run.py`.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

from ember.compiler.tuning.session import tune
from ember.compiler.tuning.store import COST_MODEL_FILE
from ember.compiler.tuning.tuner import TuneConfig
from export import export
from torch_models import BENCHMARKS

ROOT = Path(__file__).resolve().parent.parent

Curve = list[tuple[int, dict[str, float]]]


def curve(events: list[dict[str, Any]]) -> tuple[Curve, dict[str, float]]:
    """(trials measured, best seconds per task key) after each batch, and task weights."""
    points: Curve = []
    weights: dict[str, float] = {}
    for event in events:
        if event.get("event") != "batch":
            continue
        best = {t["key"]: t["best_ms"] / 1e3 for t in event["tasks"] if t["best_ms"] is not None}
        weights.update({t["key"]: t["weight"] for t in event["tasks"]})
        points.append((int(event["measured"]), best))
    return points, weights


def progress(
    points: Curve, weights: dict[str, float], ideal: dict[str, float]
) -> list[tuple[int, float]]:
    """Ideal time / estimated time after each batch (tasks not yet measured: first value)."""
    first: dict[str, float] = {}
    for _, best in points:
        for key, secs in best.items():
            first.setdefault(key, secs)
    ideal_total = sum(weights[k] * ideal[k] for k in ideal)
    out = []
    for measured, best in points:
        total = sum(weights[k] * best.get(k, first.get(k, ideal[k])) for k in ideal)
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


def run(model: Path, store: Path, args: argparse.Namespace, warm_from: Path | None) -> list[Any]:
    """One tune into a fresh store; the events it reported."""
    shutil.rmtree(store, ignore_errors=True)
    store.mkdir(parents=True)
    if warm_from is not None:
        shutil.copyfile(warm_from / COST_MODEL_FILE, store / COST_MODEL_FILE)
    config = TuneConfig(
        model=str(model),
        target=args.target,
        trials=args.trials,
        records=str(store),
        warm_start=warm_from is not None,
        trials_per_batch=args.per_batch,
        race_library=False,  # the same tasks as the source's tunes
    )
    return tune(config).events


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
    args = parser.parse_args()
    if not (args.source / COST_MODEL_FILE).is_file():
        parser.error(f"--source '{args.source}' has no {COST_MODEL_FILE}: tune into it first")
    results = {}
    for bench in (b for b in BENCHMARKS if b.name in args.models.split(",")):
        model = export(bench, args.cache)
        cold, cold_w = curve(run(model, args.out / f"{bench.name}-cold", args, None))
        warm, warm_w = curve(run(model, args.out / f"{bench.name}-warm", args, args.source))
        weights = {**cold_w, **warm_w}
        ideal = _ideal([points[-1][1] for points in (cold, warm) if points])
        row = {}
        for name, points in (("cold", cold), ("warm", warm)):
            prog = progress(points, weights, ideal)
            row[name] = {
                "trials_to_90": trials_to(0.9, prog),
                "final_percent": round(100 * prog[-1][1], 1) if prog else None,
                "trials": prog[-1][0] if prog else 0,
            }
        results[bench.name] = row
        print(f"{bench.name}: {json.dumps(row)}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()

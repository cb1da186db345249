"""Ember's conv layouts against each other and ONNX Runtime, interleaved in one process.

    python benchmarks/layouts.py [--models resnet50,mobilenet_v2] [--blocks 6] [--runs 5]

Each model is compiled three times (`--layout nchw`, `nhwc`, `auto`); the three artifacts
and ONNX Runtime then run in alternating blocks, so a busy machine slows all four alike and
the ratios between them stay meaningful where absolute times do not. Reported per variant:
median latency, ONNX Runtime median / variant median (above 1: Ember is faster), and for
auto the layout it chose with the compile-time totals it measured.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import ember
from ember.compiler.examples.reference import ort_session
from ember.timing import interleaved
from export import example_input, export
from torch_models import BENCHMARKS, Benchmark

THREADS = 2
LAYOUTS = ("nchw", "nhwc", "auto")


def compare(bench: Benchmark, folder: Path, blocks: int, runs: int) -> list[str]:
    """Table rows for one model: each layout's median and ratios, ONNX Runtime's median."""
    source = export(bench, folder)
    models = {
        layout: ember.load(
            ember.compile(source, output=folder / f"{bench.name}_{layout}.so", layout=layout),
            threads=THREADS,
        )
        for layout in LAYOUTS
    }
    session = ort_session(str(source), threads=THREADS)
    feed = {bench.input_name: example_input(bench).numpy()}
    runners = [lambda m=m: m.run(feed) for m in models.values()]
    latencies = interleaved([*runners, lambda: session.run(None, feed)], blocks, runs)
    medians = [lat.median for lat in latencies]
    ort = medians[-1]
    rows = []
    for (layout, model), ms in zip(models.items(), medians, strict=False):
        chosen = model.manifest["layout"]
        note = f"{chosen['conv']}: {chosen['reason']}" if layout == "auto" else ""
        rows.append(f"| {bench.name} | {layout} | {ms:.2f} | {ort / ms:.2f} | {note} |")
    rows.append(f"| {bench.name} | onnxruntime | {ort:.2f} | 1.00 | |")
    return rows


def main() -> None:
    """Compile, time and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="resnet50,mobilenet_v2")
    parser.add_argument("--blocks", type=int, default=6)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache/ember/benchmarks")
    args = parser.parse_args()
    print("| model | layout | median ms | ORT/Ember | auto's choice |")
    print("|---|---|---|---|---|")
    for bench in (b for b in BENCHMARKS if b.name in args.models.split(",")):
        for row in compare(bench, args.cache, args.blocks, args.runs):
            print(row, flush=True)


if __name__ == "__main__":
    main()

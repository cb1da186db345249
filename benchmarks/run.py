"""Ember against ONNX Runtime and OpenVINO on the benchmark networks: same inputs, same process.

    python benchmarks/run.py [--models resnet50,mlp] [--blocks 10] [--runs 10] [--out RESULTS.md]
                             [--layouts auto,nchw,nhwc] [--target x86-avx2] [--no-tuning-logs]
                             [--precision bf16]

Runs alternate in blocks (Ember, pause, ONNX Runtime, pause, OpenVINO, pause, ...) so that no
side's thread pool, still spinning after its run, steals the cores another is using; ONNX
Runtime's pool is also told not to spin. 2 threads each, float32 (OpenVINO's precision hint is
f32, latency hint, one stream). Reported: median and p90 latency of each, the ratios (peer median
/ Ember median: above 1 means Ember is faster), compile time, output error, and achieved GFLOP/s
against this machine's measured peak (a large float32 matmul in numpy). The header names the
CPU model and its vector ISA extensions.

`--precision bf16` compiles Ember with `--precision bf16` and gives OpenVINO the same precision
hint; ONNX Runtime stays float32 (its CPU provider has no bf16 kernels for these models). The
error column is then Ember's, and OpenVINO's, against ONNX Runtime's float32 output.

`--precision int8` quantizes each network first, as `ember quantize` does (QDQ, per-channel
int8 weights, uint8 activations, 8 calibration inputs drawn like the benchmark's input), and
all three run that QDQ model: Ember compiles it at its default precision (its convolutions
and matmuls become int8 kernels), ONNX Runtime and OpenVINO take their own int8 paths. The
error column is then against ONNX Runtime's output of the QDQ model; a peer that cannot
compile the QDQ model gets no column.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

import ember
from ember.compiler.examples.reference import ort_session, relative_error
from ember.peers import failure_line, openvino_available, openvino_runner
from ember.timing import interleaved
from export import example_input, export
from flops import model_flops
from torch_models import BENCHMARKS, Benchmark

THREADS = 2
#: Inputs the int8 error against float32 is averaged over (one input varies a lot).
INT8_ERROR_INPUTS = 8


@dataclass
class Row:
    """One model's measurements."""

    name: str
    ember_ms: list[float]
    ort_ms: list[float]
    openvino_ms: list[float]
    compile_s: float
    error: float
    gflop: float
    #: OpenVINO's output error against ONNX Runtime's (NaN when not run).
    openvino_error: float = float("nan")
    #: int8 only: mean error against the float32 network over `INT8_ERROR_INPUTS` inputs, of
    #: Ember's int8 run and of ONNX Runtime's (the issue's bar: no further from float32).
    int8_errors: tuple[float, float] = (float("nan"), float("nan"))


def measure(
    bench: Benchmark,
    folder: Path,
    blocks: int,
    runs: int,
    layout: str = "auto",
    target: str = "x86",
    tuning_logs: bool = True,
    precision: str = "fp32",
) -> Row:
    """Compile (convolutions in `layout`), check and time one benchmark network."""
    source = float32_source = export(bench, folder)
    if precision == "int8":
        source = quantized(bench, source, folder)
    start = time.perf_counter()
    suffix = ("" if layout == "auto" else f"_{layout}") + ("" if target == "x86" else f"_{target}")
    suffix += "" if precision == "fp32" else f"_{precision}"
    out = folder / f"{bench.name}{suffix}{'' if tuning_logs else '_untuned'}.so"
    artifact = ember.compile(
        source,
        target=target,
        output=out,
        layout=layout,
        tuning_logs=tuning_logs,
        precision="fp32" if precision == "int8" else precision,
    )
    compile_s = time.perf_counter() - start
    model = ember.load(artifact, threads=THREADS)
    session = ort_session(str(source), threads=THREADS)
    feed = {bench.input_name: example_input(bench).numpy()}
    reference = session.run(None, feed)[0]
    error = relative_error(model.run(feed)[0], reference)
    runners = [lambda: model.run(feed), lambda: session.run(None, feed)]
    openvino_error = float("nan")
    if openvino_available():
        try:
            openvino = openvino_runner(source, feed, THREADS, _OPENVINO_HINT.get(precision, "fp32"))
            openvino_error = relative_error(next(iter(openvino().values())), reference)
            runners.append(openvino)
        except RuntimeError as err:  # OpenVINO cannot compile some QDQ models
            print(f"{bench.name}: OpenVINO fails: {failure_line(err)}", flush=True)
    ember_lat, ort_lat, *ov_lat = interleaved(runners, blocks, runs)
    gflop = model_flops(onnx.load(source)) / 1e9
    chosen = model.manifest.get("layout", {}).get("conv", layout)
    name = f"{bench.name} ({layout}" + (f" -> {chosen})" if layout == "auto" else ")")
    ov_ms = list(ov_lat[0].samples) if ov_lat else []
    errors = (float("nan"),) * 2
    if precision == "int8":
        errors = int8_errors(bench, model, session, float32_source)
    return Row(
        name,
        list(ember_lat.samples),
        list(ort_lat.samples),
        ov_ms,
        compile_s,
        error,
        gflop,
        openvino_error,
        errors,
    )


def int8_errors(
    bench: Benchmark, model: ember.Model, session: Any, float32_source: Path
) -> tuple[float, float]:
    """Mean relative error against the float32 network of Ember's and ONNX Runtime's int8 runs.

    Over `INT8_ERROR_INPUTS` inputs drawn as the calibration's are, with another seed.
    """
    reference = ort_session(str(float32_source), threads=THREADS)
    rng = np.random.default_rng(2)
    ember_errors, ort_errors = [], []
    for _ in range(INT8_ERROR_INPUTS):
        feed = {bench.input_name: _draw(bench, rng, list(bench.input_shape))}
        want = reference.run(None, feed)[0]
        ember_errors.append(relative_error(model.run(feed)[0], want))
        ort_errors.append(relative_error(session.run(None, feed)[0], want))
    return float(np.mean(ember_errors)), float(np.mean(ort_errors))


def _draw(bench: Benchmark, rng: np.random.Generator, shape: list[int]) -> np.ndarray:
    """Inputs like the benchmark's: token ids below 1000, or standard-normal values."""
    if bench.input_dtype == torch.int64:
        return rng.integers(0, 1000, shape).astype(np.int64)
    return rng.standard_normal(shape).astype(np.float32)


#: `--precision` -> OpenVINO's hint (int8 models are quantized already: no downcast of the rest).
_OPENVINO_HINT = {"fp32": "fp32", "bf16": "bf16", "int8": "fp32"}


def quantized(bench: Benchmark, source: Path, folder: Path) -> Path:
    """`source` quantized to QDQ int8 on 8 inputs drawn like the benchmark's (cached)."""
    out = folder / f"{bench.name}_int8.onnx"
    if out.exists():
        return out
    from ember.compiler.quantize import quantize_model

    samples = _draw(bench, np.random.default_rng(1), [8, *bench.input_shape])
    calibration = folder / f"{bench.name}_calibration.npz"
    np.savez(calibration, **{bench.input_name: samples})
    return quantize_model(source, calibration, out).output


def machine_peak_gflops(size: int = 2048, repeats: int = 5) -> float:
    """GFLOP/s of numpy's float32 matmul on this machine, the best of a few runs.

    Measured in a child process without OPENBLAS_CORETYPE, so numpy's OpenBLAS uses the
    kernels of this CPU (a family forced for the system, e.g. Haswell on an AVX-512 CPU, would
    understate the peak as it once did Ember's speed).
    """
    script = (
        "import numpy as np, time\n"
        f"a = np.random.default_rng(0).standard_normal(({size}, {size})).astype(np.float32)\n"
        "a @ a\n"
        "best = float('inf')\n"
        f"for _ in range({repeats}):\n"
        "    t = time.perf_counter(); a @ a; best = min(best, time.perf_counter() - t)\n"
        "print(best)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    env["OPENBLAS_NUM_THREADS"] = str(THREADS)
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    return 2 * size**3 / float(done.stdout) / 1e9


def _geomean(values: list[float]) -> float:
    return float(np.exp(np.mean(np.log(values))))


def table(rows: list[Row], peak: float) -> str:
    """The results as a Markdown table."""
    lines = [
        "| model | Ember median / p90 ms | ORT median ms | OpenVINO median ms | ORT/Ember "
        "| OpenVINO/Ember | faster peer/Ember | compile s | rel. error (OpenVINO's) "
        "| Ember GFLOP/s (% peak) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    best_ratios, ort_ratios = [], []
    for r in rows:
        em, op = float(np.median(r.ember_ms)), float(np.median(r.ort_ms))
        ov = float(np.median(r.openvino_ms)) if r.openvino_ms else float("nan")
        best = min(op, ov) if r.openvino_ms else op
        ep = np.percentile(r.ember_ms, 90)
        gfs = r.gflop / (em / 1e3)
        best_ratios.append(best / em)
        ort_ratios.append(op / em)
        lines.append(
            f"| {r.name} | {em:.2f} / {ep:.2f} | {op:.2f} | {ov:.2f} | {op / em:.2f} "
            f"| {ov / em:.2f} | {best / em:.2f} | {r.compile_s:.1f} "
            f"| {r.error:.1e} ({r.openvino_error:.1e}) "
            f"| {gfs:.0f} ({100 * gfs / peak:.0f}%) |"
        )
    lines.append(
        f"\nGeometric mean ORT/Ember: {_geomean(ort_ratios):.2f}; "
        f"faster peer/Ember: {_geomean(best_ratios):.2f}"
    )
    return "\n".join(lines)


def int8_error_lines(rows: list[Row]) -> str:
    """Each model's int8 error against float32, Ember's beside ONNX Runtime's."""
    lines = [
        f"int8 error against the float32 network (mean over {INT8_ERROR_INPUTS} inputs), "
        "Ember / ONNX Runtime int8:"
    ]
    for r in rows:
        ours, theirs = r.int8_errors
        lines.append(f"- {r.name}: {ours:.2e} / {theirs:.2e}")
    return "\n".join(lines)


def cpu_description() -> str:
    """The CPU model and its vector extensions, as lscpu would name them (Linux)."""
    model, flags = platform.processor() or platform.machine(), set[str]()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    except OSError:
        pass
    wanted = ["avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_int8"]
    return f"{model} ({', '.join(f for f in wanted if f in flags) or 'no AVX2'})"


_PRECISION_LABELS = {
    "fp32": "fp32",
    "bf16": "bf16 (ONNX Runtime fp32)",
    "int8": "int8: the QDQ model, for all three",
}


def main() -> None:
    """Run the benchmarks and print (and optionally append) the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(b.name for b in BENCHMARKS))
    parser.add_argument("--blocks", type=int, default=10)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache/ember/benchmarks")
    parser.add_argument("--out", type=Path, help="append the table to this Markdown file")
    parser.add_argument(
        "--layouts", default="auto", help="conv layouts to compile each model in: auto,nchw,nhwc"
    )
    parser.add_argument("--target", default="x86", help="an x86 preset, e.g. x86-avx2")
    parser.add_argument(
        "--no-tuning-logs", action="store_true", help="compile without any tuning records"
    )
    parser.add_argument(
        "--precision",
        default="fp32",
        choices=["fp32", "bf16", "int8"],
        help="Ember's --precision and OpenVINO's precision hint (ONNX Runtime stays fp32); "
        "int8: all three run the network quantized to QDQ",
    )
    args = parser.parse_args()
    chosen = [b for b in BENCHMARKS if b.name in args.models.split(",")]
    peak = machine_peak_gflops()
    rows = []
    for bench in chosen:
        for layout in args.layouts.split(","):
            rows.append(
                measure(
                    bench,
                    args.cache,
                    args.blocks,
                    args.runs,
                    layout,
                    args.target,
                    not args.no_tuning_logs,
                    args.precision,
                )
            )
            print(f"{bench.name} ({layout}): done", flush=True)
    header = (
        f"## {dt.date.today()} · {cpu_description()} · "
        f"{THREADS} threads · target {args.target}"
        f"{' without tuning records' if args.no_tuning_logs else ''} · "
        f"{_PRECISION_LABELS[args.precision]} · "
        f"numpy float32 matmul peak {peak:.0f} GFLOP/s"
    )
    text = f"{header}\n\n{table(rows, peak)}\n"
    if args.precision == "int8":
        text += "\n" + int8_error_lines(rows) + "\n"
    print(text)
    if args.out:
        with args.out.open("a", encoding="utf-8") as f:
            f.write("\n" + text)


if __name__ == "__main__":
    main()

"""Time Ember's artifacts against PyTorch on the machine they run on (a bundle's check).

In a bundle made by make_bundle.py, on the GPU machine (PyTorch and transformers installed,
Ember and TVM not):

    python3 check.py --out DIR [--models resnet50,bert_base] [--no-torch] [--device cuda:0]

For each network: decompress the artifact, load it with Ember's runtime from the bundle, check
its outputs against ONNX Runtime's (refs/), time it with inputs already on the device, and time
PyTorch on the same architecture (torch_models.py, random weights: timings do not depend on
them) in eager mode with TF32 off, under torch.compile, and under torch.compile with CUDA
graphs (mode="reduce-overhead"); ResNet-50 and BERT-base also at their throughput batch (64 and
32) through the symbolic-batch artifacts. Prints a table of medians and writes
DIR/results.json. `--device cpu` runs the same check on the CPU (a bundle made with
`--target x86`), which is how the bundle itself is tested without a GPU.
"""

from __future__ import annotations

import argparse
import json
import lzma
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "runtime" / "lib" / "python" / "site-packages"))
sys.path.insert(1, str(HERE))

import ember  # noqa: E402


def relative_error(got: np.ndarray, want: np.ndarray) -> float:
    """Largest absolute difference over the largest magnitude of `want`."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    return float(np.max(np.abs(got - want)) / (np.max(np.abs(want)) + 1e-30))


class Timer:
    """Medians of single runs after warm-up, synchronizing the device after each."""

    def __init__(self, device: str, runs: int, budget_s: float) -> None:
        self.device, self.runs, self.budget_s = device, runs, budget_s

    def sync(self) -> None:
        """Wait for the device's queued work (a no-op on the CPU)."""
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.synchronize()

    def median_ms(self, fn: Callable[[], Any], warm: int = 5) -> float:
        """Median milliseconds of `fn` over `runs` runs, or as many as the budget allows."""
        for _ in range(warm):
            fn()
        self.sync()
        times: list[float] = []
        stop = time.perf_counter() + self.budget_s
        while len(times) < self.runs and (time.perf_counter() < stop or len(times) < 5):
            start = time.perf_counter()
            fn()
            self.sync()
            times.append((time.perf_counter() - start) * 1e3)
        return float(np.median(times))


def decompress(bundle: Path, into: Path) -> dict[str, Path]:
    """The bundle's artifacts, decompressed into `into`, by label."""
    into.mkdir(parents=True, exist_ok=True)
    artifacts = {}
    for packed in sorted((bundle / "art").glob("*.so.xz")):
        target = into / packed.name[: -len(".xz")]
        with lzma.open(packed) as src, target.open("wb") as dst:
            shutil.copyfileobj(src, dst, length=1 << 24)
        artifacts[target.name[: -len(".so")]] = target
    return artifacts


def reference(bundle: Path, label: str) -> tuple[dict[str, np.ndarray], list[np.ndarray]]:
    """The input and ONNX Runtime's outputs make_bundle.py saved for `label`."""
    saved = np.load(bundle / "refs" / f"{label}.npz")
    feed = {k[3:]: saved[k] for k in saved.files if k.startswith("in:")}
    outputs = [saved[f"out:{i}"] for i in range(sum(k.startswith("out:") for k in saved.files))]
    return feed, outputs


def batched(feed: dict[str, np.ndarray], batch: int) -> dict[str, np.ndarray]:
    """`feed` repeated `batch` times along the first axis."""
    return {k: np.repeat(v, batch, axis=0) for k, v in feed.items()}


def on_device(feed: dict[str, np.ndarray], device: str) -> dict[str, Any]:
    """The feed as device tensors (DLPack) on a GPU; as it is on the CPU."""
    if not device.startswith("cuda"):
        return feed
    import torch

    return {k: torch.from_numpy(v).to(device) for k, v in feed.items()}


def time_ember(label: str, path: Path, device: str, timer: Timer, bundle: Path) -> dict:
    """The artifact's error against the reference, and its time with device-resident inputs."""
    # The batch each symbolic-batch artifact (`<name>_batch`) is timed at.
    throughput_batch = json.loads((bundle / "bundle.json").read_text())["throughput_batch"]
    feed, want = reference(bundle, label)
    model = ember.load(str(path), device=device)
    got = model.run(feed)
    result: dict[str, Any] = {
        "rel_error": max(relative_error(g, w) for g, w in zip(got, want, strict=True))
    }
    base = label.removesuffix("_batch")
    batch = throughput_batch.get(base, 1) if label.endswith("_batch") else 1
    resident = on_device(batched(feed, batch) if batch > 1 else feed, device)
    result["batch"] = batch
    result["input"] = "x".join(str(d) for d in next(iter(resident.values())).shape)
    result["ember_ms"] = timer.median_ms(lambda: model.run(resident))
    return result


def time_torch(name: str, batch: int, device: str, timer: Timer, graphs: bool) -> dict:
    """PyTorch eager (TF32 off), torch.compile, and torch.compile with CUDA graphs."""
    import torch

    from export import example_input
    from torch_models import BENCHMARKS

    bench = next(b for b in BENCHMARKS if b.name == name)
    torch.manual_seed(0)
    net = bench.build().eval().to(device)
    x = example_input(bench)
    x = x.repeat(batch, *([1] * (x.dim() - 1))) if batch > 1 else x
    x = x.to(device)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    times: dict[str, float] = {}
    with torch.inference_mode():
        times["torch_eager_ms"] = timer.median_ms(lambda: net(x))
        compiled = torch.compile(net)
        times["torch_compile_ms"] = timer.median_ms(lambda: compiled(x), warm=3)
        if graphs and device.startswith("cuda"):
            torch._dynamo.reset()
            graphed = torch.compile(net, mode="reduce-overhead")
            times["torch_graphs_ms"] = timer.median_ms(lambda: graphed(x), warm=3)
    return times


def table(results: dict[str, dict]) -> list[str]:
    """The results as a Markdown table."""
    lines = [
        "| network | input | Ember ms | torch eager | torch.compile | + CUDA graphs |"
        " fastest torch / Ember | rel. error vs ORT |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, r in results.items():
        if "ember_ms" not in r:
            lines.append(f"| {label} | | failed: {r.get('error', '?')} | | | | | |")
            continue
        keys = ("torch_eager_ms", "torch_compile_ms", "torch_graphs_ms")
        torch_ms = [r[k] for k in keys if k in r]
        ratio = f"{min(torch_ms) / r['ember_ms']:.2f}" if torch_ms else ""

        def cell(key: str, r: dict = r) -> str:
            return f"{r[key]:.3f}" if key in r else ""

        lines.append(
            f"| {label} | {r['input']} | {r['ember_ms']:.3f} | {cell('torch_eager_ms')} | "
            f"{cell('torch_compile_ms')} | {cell('torch_graphs_ms')} | {ratio} | "
            f"{r['rel_error']:.1e} |"
        )
    return lines


def main() -> None:
    """Check and time every artifact of the bundle."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--device", default="cuda:0")
    parser.add_argument("--models", default="")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--budget-s", type=float, default=8.0, help="time cap per measurement")
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--no-graphs", action="store_true")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    timer = Timer(args.device, args.runs, args.budget_s)
    artifacts = decompress(HERE, args.out / "artifacts")
    wanted = [m for m in args.models.split(",") if m]
    results: dict[str, dict] = {}
    environment = {"ember": ember.__version__, "device": args.device, "compiler_loaded": False}
    for label, path in artifacts.items():
        if wanted and label.removesuffix("_batch") not in wanted:
            continue
        try:
            results[label] = time_ember(label, path, args.device, timer, HERE)
            if not args.no_torch:
                batch = results[label]["batch"]
                results[label].update(
                    time_torch(
                        label.removesuffix("_batch"), batch, args.device, timer, not args.no_graphs
                    )
                )
        except Exception as exc:  # one network failing must not hide the others
            results.setdefault(label, {})["error"] = f"{type(exc).__name__}: {exc}"
        print(label, json.dumps(results[label]), flush=True)
    # The bundle ships no compiler: loading must not have pulled TVM's Python package in.
    environment["compiler_loaded"] = "tvm.relax" in sys.modules
    if not args.no_torch:
        import torch

        environment["torch"] = torch.__version__
        if args.device.startswith("cuda"):
            environment["gpu"] = torch.cuda.get_device_name(args.device)
    (args.out / "results.json").write_text(
        json.dumps({"environment": environment, "results": results}, indent=1)
    )
    print("\n".join([json.dumps(environment), *table(results)]))


if __name__ == "__main__":
    main()

"""Export the benchmark networks to ONNX (fixed seeds, cached by name)."""

from __future__ import annotations

from pathlib import Path

import torch

from torch_models import BENCHMARKS, Benchmark

OPSET = 17


def example_input(bench: Benchmark) -> torch.Tensor:
    """A deterministic input: token ids below 1000, or standard-normal images/features."""
    gen = torch.Generator().manual_seed(0)
    if bench.input_dtype == torch.int64:
        return torch.randint(0, 1000, bench.input_shape, generator=gen)
    return torch.randn(bench.input_shape, generator=gen)


def export(bench: Benchmark, folder: Path) -> Path:
    """Write `<folder>/<name>.onnx` unless it exists; return its path."""
    path = folder / f"{bench.name}.onnx"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        export_to(bench, path)
    return path


def export_to(bench: Benchmark, path: Path, batch_axis: bool = False) -> None:
    """Write `bench` to `path` (fixed seed), its first axis symbolic when `batch_axis`."""
    torch.manual_seed(0)
    model = bench.build().eval()
    dynamic = {bench.input_name: {0: "batch"}, "output": {0: "batch"}} if batch_axis else None
    with torch.no_grad():
        torch.onnx.export(
            model,
            (example_input(bench),),
            str(path),
            input_names=[bench.input_name],
            output_names=["output"],
            opset_version=OPSET,
            dynamic_axes=dynamic,
            dynamo=False,
        )


def export_all(folder: Path) -> dict[str, Path]:
    """Export every benchmark network."""
    return {b.name: export(b, folder) for b in BENCHMARKS}

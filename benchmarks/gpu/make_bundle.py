"""Build a GPU benchmark bundle on a machine without a GPU (see README.md beside this file).

    python benchmarks/gpu/make_bundle.py BUNDLE [--models resnet50,bert_base] [--target cuda-sm90]

writes BUNDLE/ with:
- runtime/: `ember package`'s runtime-only folder (Ember's runtime and binding for the Python
  running this script, TVM's runtime libraries with CUDA's, no compiler);
- art/<name>.so.xz: the benchmark networks compiled for the target, their large weights
  replaced by a tiled random block with each tensor's mean and spread (kernel times do not
  depend on the values, and xz then shrinks BERT-base's 437 MB artifact to a few MB); ResNet-50
  and BERT-base also with a symbolic batch (`<name>_batch.so.xz`) for the throughput batches;
- refs/<name>.npz: inputs and ONNX Runtime (CPU) outputs of the same tiled networks;
- check.py and torch_models.py: run on the GPU machine, they time Ember against PyTorch on the
  same architectures.

The GPU machine must run the Python version this script runs under (the binding is built for
it), e.g. a Python 3.12 virtual environment with Ember installed.
"""

from __future__ import annotations

import argparse
import json
import lzma
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import ember  # noqa: E402
from ember.packaging import package  # noqa: E402
from ember.peers import onnxruntime_session  # noqa: E402
from export import example_input, export_to  # noqa: E402
from torch_models import BENCHMARKS, Benchmark  # noqa: E402

#: Networks also compiled with a symbolic batch, and the batch check.py times them at (it
#: reads them from the bundle's bundle.json).
THROUGHPUT_BATCH = {"resnet50": 64, "bert_base": 32}
#: Initializers at least this large are replaced by the tiled block.
_TILED_MIN_SIZE = 4096
#: The tiled block's length: prime, so its repeats do not line up with tensor dimensions.
_BLOCK = 16411


def make_compressible(path: Path) -> None:
    """Replace each large float initializer by a tiled random block of its mean and spread."""
    model = onnx.load(str(path))
    block = np.random.default_rng(0).standard_normal(_BLOCK)
    for tensor in model.graph.initializer:
        values = numpy_helper.to_array(tensor)
        if values.dtype != np.float32 or values.size < _TILED_MIN_SIZE:
            continue
        flat = values.astype(np.float64).ravel()
        tiled = flat.mean() + flat.std() * np.resize(block, flat.size)
        if flat.min() >= 0:  # e.g. a variance: keep it non-negative
            tiled = np.abs(tiled)
        replacement = numpy_helper.from_array(
            tiled.astype(np.float32).reshape(values.shape), tensor.name
        )
        tensor.CopyFrom(replacement)
    onnx.save(model, str(path))


def write_reference(source: Path, bench: Benchmark, path: Path) -> None:
    """The input and ONNX Runtime's outputs, as check.py reads them ("in:NAME", "out:I")."""
    feed = {bench.input_name: example_input(bench).numpy()}
    outputs = onnxruntime_session(str(source), threads=2).run(None, feed)
    arrays = {f"in:{k}": v for k, v in feed.items()}
    arrays.update({f"out:{i}": o for i, o in enumerate(outputs)})
    np.savez(path, **arrays)


def compress(artifact: Path, path: Path) -> None:
    """`artifact` xz-compressed into `path`."""
    with artifact.open("rb") as src, lzma.open(path, "wb", preset=6) as dst:
        shutil.copyfileobj(src, dst, length=1 << 24)


def main() -> None:
    """Build the bundle the command line names."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--models", default=",".join(b.name for b in BENCHMARKS))
    parser.add_argument("--target", default="cuda-sm90")
    args = parser.parse_args()
    known = {b.name: b for b in BENCHMARKS}
    names = [n for n in args.models.split(",") if n]
    unknown = [n for n in names if n not in known]
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}: choose from {', '.join(known)}")
    if args.bundle.exists():
        parser.error(f"{args.bundle} exists: name a new folder")
    work = Path(tempfile.mkdtemp(prefix="ember-gpu-bundle-"))
    staging = work / "bundle"
    for folder in ("art", "refs"):
        (staging / folder).mkdir(parents=True)
    artifacts: list[Path] = []
    try:
        for name in names:
            bench = known[name]
            variants = [(name, False)]
            if name in THROUGHPUT_BATCH:
                variants.append((f"{name}_batch", True))
            for label, batch_axis in variants:
                source = work / f"{label}.onnx"
                export_to(bench, source, batch_axis)
                make_compressible(source)
                artifact = ember.compile(source, target=args.target, output=work / f"{label}.so")
                artifacts.append(Path(artifact))
                compress(Path(artifact), staging / "art" / f"{label}.so.xz")
                write_reference(source, bench, staging / "refs" / f"{label}.npz")
                size = (staging / "art" / f"{label}.so.xz").stat().st_size / 1e6
                print(f"{label}: compiled for {args.target}, {size:.1f} MB compressed", flush=True)
        report = package(artifacts, staging / "runtime", copy_artifacts=False)
        facts = {"target": args.target, "throughput_batch": THROUGHPUT_BATCH}
        (staging / "bundle.json").write_text(json.dumps(facts))
        shutil.copy2(HERE / "check.py", staging / "check.py")
        shutil.copy2(HERE.parent / "torch_models.py", staging / "torch_models.py")
        shutil.copy2(HERE.parent / "export.py", staging / "export.py")
        shutil.move(str(staging), args.bundle)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    total = sum(p.stat().st_size for p in args.bundle.rglob("*") if p.is_file())
    print(f"bundle: {args.bundle} ({total / 1e6:.1f} MB; runtime for Python {report.python})")
    print(f"on the GPU machine: cd {args.bundle.name} && python{report.python} check.py --out DIR")


if __name__ == "__main__":
    main()

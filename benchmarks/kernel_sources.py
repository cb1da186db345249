"""oneDNN against OpenBLAS, kernel by kernel, on the benchmark models' matmul and conv shapes.

    python benchmarks/kernel_sources.py [--threads 2] [--rounds 30]

Each shape is run through both plugins' packed functions (the same entry points a compiled
model calls, on TVM's pool), the two alternating call by call; the figure is each side's
median over the rounds after a warm-up. This is the measurement behind the choice of kernel
source per operator family (docs/architecture.md).
"""

from __future__ import annotations

import argparse
import os
import time
from functools import partial

import numpy as np

#: (name, M, K, N) for matmuls: the MLP, BERT-base/GPT-2 (sequence 128), a classifier head.
MATMULS = [
    ("mlp 64x1024x1024", 64, 1024, 1024),
    ("bert qkv 128x768x768", 128, 768, 768),
    ("bert ffn up 128x768x3072", 128, 768, 3072),
    ("bert ffn down 128x3072x768", 128, 3072, 768),
    ("decode step 1x768x3072", 1, 768, 3072),
    ("resnet fc 1x2048x1000", 1, 2048, 1000),
]
#: (name, C, H, O, kernel, stride, groups) for NHWC convs of ResNet-50 and MobileNetV2.
CONVS = [
    ("resnet stem 7x7/2", 3, 224, 64, 7, 2, 1),
    ("resnet 3x3 64@56", 64, 56, 64, 3, 1, 1),
    ("resnet 1x1 256->64@56", 256, 56, 64, 1, 1, 1),
    ("resnet 3x3 512@7", 512, 7, 512, 3, 1, 1),
    ("mobilenet dw 3x3 96@112/2", 96, 112, 96, 3, 2, 96),
    ("mobilenet dw 3x3 576@14", 576, 14, 576, 3, 1, 576),
    ("mobilenet 1x1 32->192@56", 32, 56, 192, 1, 1, 1),
]


def _median_ms(fn, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def main() -> None:
    """Print one Markdown table row per shape."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    os.environ.setdefault("TVM_NUM_THREADS", str(args.threads))
    import tvm
    import tvm_ffi

    from ember._plugins import load_plugin
    from ember.compiler.libraries import onednn

    load_plugin("cpu_blas")
    load_plugin(onednn.PLUGIN)
    tvm.get_global_func("runtime.config_threadpool")(1, args.threads)
    rng = np.random.default_rng(0)

    def tensor(*shape: int) -> object:
        return tvm.runtime.tensor(rng.standard_normal(shape).astype(np.float32))

    print(
        f"oneDNN ISA: {tvm.get_global_func('ember.dnnl.isa')()}, "
        f"OpenBLAS: {tvm.get_global_func('ember.cpu.blas_core')()}, {args.threads} threads\n"
    )
    print("| shape | GFLOP | OpenBLAS ms | oneDNN ms | OpenBLAS/oneDNN |")
    print("|---|---|---|---|---|")
    blas_mm, dnnl_mm = (tvm.get_global_func(f) for f in ("ember.cpu.matmul", onednn.MATMUL))
    for name, m, k, n in MATMULS:
        a, b, out = tensor(m, k), tensor(k, n), tensor(m, n)
        attrs = tvm_ffi.Shape([onednn.content_hash(b.numpy())])
        runs = {"blas": partial(blas_mm, a, b, out), "dnnl": partial(dnnl_mm, a, b, attrs, out)}
        _row(name, 2 * m * k * n, runs, args.rounds)
    blas_conv, dnnl_conv = (
        tvm.get_global_func(f) for f in ("ember.cpu.conv2d_nhwc", onednn.CONV_NHWC)
    )
    for name, c, h, o, kernel, stride, groups in CONVS:
        pad = kernel // 2
        out_h = (h + 2 * pad - kernel) // stride + 1
        x, w = tensor(1, h, h, c), tensor(kernel, kernel, c // groups, o)
        y = tensor(1, out_h, out_h, o)
        base = [stride, stride, pad, pad, pad, pad, 1, 1, groups]
        hashed = tvm_ffi.Shape([*base, onednn.content_hash(w.numpy())])
        runs = {"dnnl": partial(dnnl_conv, x, w, hashed, y)}
        if groups == 1:  # OpenBLAS does not take depthwise convolutions
            plain = tvm_ffi.Shape(base)
            runs["blas"] = partial(blas_conv, x, w, plain, y)
        flops = 2 * out_h * out_h * o * (c // groups) * kernel * kernel
        _row(name, flops, runs, args.rounds)


def _row(name: str, flops: int, runs: dict, rounds: int) -> None:
    for fn in runs.values():
        fn()
        fn()
    times: dict[str, list[float]] = {key: [] for key in runs}
    for _ in range(rounds):
        for key, fn in runs.items():
            times[key].append(_median_ms(fn, 1))
    ms = {key: float(np.median(v)) for key, v in times.items()}
    blas = f"{ms['blas']:.3f}" if "blas" in ms else "n/a"
    ratio = f"{ms['blas'] / ms['dnnl']:.2f}" if "blas" in ms else "n/a"
    print(f"| {name} | {flops / 1e9:.3f} | {blas} | {ms['dnnl']:.3f} | {ratio} |")


if __name__ == "__main__":
    main()

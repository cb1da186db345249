"""Two builds of one model timed in one process, to tell whether a compiler change helps.

    python benchmarks/compare_artifacts.py before.so after.so [--shape past_k=4x1x2x255x64]
                                           [--blocks 20] [--runs 20] [--threads 2]

On a shared machine the speed moves by 10-30% within minutes, so two `ember bench` runs an hour
apart cannot show a 2% change. Here both artifacts are loaded at once and run the same random
inputs in alternating blocks (`ember.timing.interleaved`), so the ratio of their medians holds
even while the machine slows down. Also printed: the largest difference between their outputs
(0 when the change only moved work around) and how many kernels each calls per run.
"""

from __future__ import annotations

import argparse

import numpy as np

import ember
from ember.cli.run_shapes import input_shapes, parse_shape_specs
from ember.feeds import random_input
from ember.timing import interleaved


def main() -> None:
    """Load both artifacts, check they agree, time them in turn and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--shape", action="append", help="NAME=DxD...: a symbolic input's shape")
    parser.add_argument("--blocks", type=int, default=20)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    before = ember.load(args.before, threads=args.threads)
    after = ember.load(args.after, threads=args.threads)
    shapes = input_shapes(before.inputs, parse_shape_specs(args.shape))
    rng = np.random.default_rng(0)
    feed = {info.name: random_input(info, rng, shapes[info.name]) for info in before.inputs}

    outputs = zip(before.run(feed), after.run(feed), strict=True)
    diff = max(float(np.max(np.abs(a - b), initial=0.0)) for a, b in outputs)
    old, new = interleaved(
        [lambda: before.run(feed), lambda: after.run(feed)], args.blocks, args.runs
    )
    kernels = [len(m.manifest["kernel_sources"]) for m in (before, after)]
    print(
        f"before {old.median:.3f} ms, after {new.median:.3f} ms (medians of "
        f"{args.blocks} x {args.runs} runs each, {args.threads} threads): before / after "
        f"{old.median / new.median:.3f}; kernels {kernels[0]} -> {kernels[1]}; "
        f"largest output difference {diff:.3g}"
    )


if __name__ == "__main__":
    main()

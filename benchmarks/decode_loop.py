"""A decoder's generation loop in Ember and ONNX Runtime: the per-step latency users meet.

    python benchmarks/decode_loop.py decoder.onnx decoder.so [--past 240] [--steps 30]
                                     [--loops 3] [--threads 2]

The decoder follows `examples/generate.py`'s layout: `input_ids` [1, seq] and `past_k`/`past_v`
[layers, 1, kv_heads, past, head_dim] in, logits and the grown caches out. Each loop starts
from random caches of `--past` tokens and feeds one token at a time, greedy, the caches a step
returns being the next step's inputs, so every step asks for buffers one token longer (the
allocator's case a fixed-shape `ember bench` does not see). Ember's and ONNX Runtime's loops
alternate (ONNX Runtime's pool told not to spin); printed: each side's median step after the
first three of each loop, the ratio, and this process's resident memory after Ember's loops.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import psutil

import ember
from ember.peers import onnxruntime_session

Step = Callable[[dict[str, np.ndarray]], list[np.ndarray]]
WARM_STEPS = 3


def loop(step: Step, caches: tuple[np.ndarray, np.ndarray], steps: int) -> float:
    """The median step time in ms of `steps` greedy steps from `caches`."""
    past_k, past_v = caches
    ids = np.array([[1]], np.int64)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        logits, past_k, past_v = step({"input_ids": ids, "past_k": past_k, "past_v": past_v})
        times.append(time.perf_counter() - start)
        ids = np.array([[int(np.asarray(logits)[0, -1].argmax())]], np.int64)
    return float(np.median(times[WARM_STEPS:])) * 1e3


def main() -> None:
    """Time both loops in turn and print the figures (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("artifact")
    parser.add_argument("--past", type=int, default=240)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--loops", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    model = ember.load(args.artifact, threads=args.threads)
    session = onnxruntime_session(args.model, args.threads)
    spec = {s.name: s for s in model.inputs}["past_k"]
    layers, batch, heads, _, dim = spec.shape
    rng = np.random.default_rng(0)
    shape = (layers, batch, heads, args.past, dim)
    caches = tuple(rng.standard_normal(shape, dtype=np.float32) * 0.1 for _ in range(2))
    ours: list[float] = []
    theirs: list[float] = []
    for _ in range(args.loops):
        ours.append(loop(model.run, caches, args.steps))  # type: ignore[arg-type]
        theirs.append(loop(lambda feed: session.run(None, feed), caches, args.steps))
    rss = psutil.Process().memory_info().rss / 2**20
    e, o = float(np.median(ours)), float(np.median(theirs))
    print(
        f"past {args.past} -> {args.past + args.steps}, {args.threads} threads: "
        f"Ember {e:.2f} ms, ONNX Runtime {o:.2f} ms per step, ORT / Ember {o / e:.2f} "
        f"(loops: Ember {', '.join(f'{t:.2f}' for t in ours)}; "
        f"ONNX Runtime {', '.join(f'{t:.2f}' for t in theirs)}); RSS {rss:.0f} MiB"
    )


if __name__ == "__main__":
    main()

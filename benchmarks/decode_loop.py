"""A decoder's generation loop in Ember and ONNX Runtime: the per-step latency users meet.

    python benchmarks/decode_loop.py decoder.onnx decoder.so [--past 240] [--steps 30]
                                     [--loops 3] [--threads 2]

The decoder follows `examples/generate.py`'s layout: `input_ids` [1, seq] and `past_k`/`past_v`
[layers, 1, kv_heads, past, head_dim] in, logits and the grown caches out. Each loop starts
from random caches of `--past` tokens and feeds one token at a time, greedy, the caches a step
returns being the next step's inputs, so every step asks for buffers one token longer (the
allocator's case a fixed-shape `ember bench` does not see). Ember's and ONNX Runtime's loops
run in lockstep, one step of each in turn, so that a shared machine slowing down slows both
alike (ONNX Runtime's pool told not to spin); printed: each side's median step after the first
three of each loop, their ratio overall and per loop, and this process's resident memory.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import psutil

import ember
from ember.peers import onnxruntime_session

Step = Callable[[dict[str, np.ndarray]], list[np.ndarray]]
WARM_STEPS = 3


class _Generation:
    """One greedy generation loop: its own caches and last token, advanced a step at a time."""

    def __init__(self, step: Step, caches: tuple[np.ndarray, np.ndarray]) -> None:
        self.step = step
        self.past_k, self.past_v = caches
        self.ids = np.array([[1]], np.int64)

    def advance(self) -> float:
        """Run one step, feed its caches and token to the next; its time in ms."""
        feed = {"input_ids": self.ids, "past_k": self.past_k, "past_v": self.past_v}
        start = time.perf_counter()
        logits, self.past_k, self.past_v = self.step(feed)
        elapsed = time.perf_counter() - start
        self.ids = np.array([[int(np.asarray(logits)[0, -1].argmax())]], np.int64)
        return elapsed * 1e3


def lockstep(ours: Step, theirs: Step, caches: Any, steps: int) -> tuple[list[float], list[float]]:
    """Each side's step times after the warm-up, both loops run from `caches` in lockstep.

    One step of each in turn (which goes first alternates), so that a machine that slows
    down slows both alike.
    """
    a, b = _Generation(ours, caches), _Generation(theirs, caches)
    times: tuple[list[float], list[float]] = ([], [])
    for i in range(steps):
        if i % 2:
            tb, ta = b.advance(), a.advance()
        else:
            ta, tb = a.advance(), b.advance()
        if i >= WARM_STEPS:
            times[0].append(ta)
            times[1].append(tb)
    return times


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
    loops: list[tuple[float, float]] = []
    for _ in range(args.loops):
        e_times, o_times = lockstep(
            model.run,  # type: ignore[arg-type]
            lambda feed: session.run(None, feed),
            caches,
            args.steps,
        )
        ours += e_times
        theirs += o_times
        loops.append((float(np.median(e_times)), float(np.median(o_times))))
    rss = psutil.Process().memory_info().rss / 2**20
    e, o = float(np.median(ours)), float(np.median(theirs))
    print(
        f"past {args.past} -> {args.past + args.steps}, {args.threads} threads: "
        f"Ember {e:.2f} ms, ONNX Runtime {o:.2f} ms per step, ORT / Ember {o / e:.2f} "
        f"(per loop: {', '.join(f'{t / m:.2f}' for m, t in loops)}); RSS {rss:.0f} MiB"
    )


if __name__ == "__main__":
    main()

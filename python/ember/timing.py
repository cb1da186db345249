"""Latency measurement shared by `ember bench` and `benchmarks/run.py` (numpy only).

Two runners measured in one process take turns in blocks with a pause between them: thread
pools that spin after a run (ONNX Runtime's, OpenBLAS's) would otherwise steal the cores the
other side's pool is using and halve its speed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Latency:
    """Latency statistics of one runner, in milliseconds."""

    samples: tuple[float, ...]

    @property
    def median(self) -> float:
        """Median latency."""
        return float(np.median(self.samples))

    def percentile(self, q: float) -> float:
        """The q-th percentile latency."""
        return float(np.percentile(self.samples, q))

    @property
    def throughput(self) -> float:
        """Runs per second at the median latency (one run at a time)."""
        return 1e3 / self.median

    def summary(self) -> dict[str, float]:
        """Median, p90, p99, min and throughput, for printing or JSON."""
        return {
            "median_ms": self.median,
            "p90_ms": self.percentile(90),
            "p99_ms": self.percentile(99),
            "min_ms": float(min(self.samples)),
            "runs_per_s": self.throughput,
            "runs": float(len(self.samples)),
        }


def time_runs(fn: Callable[[], object], runs: int) -> list[float]:
    """Wall time of `runs` consecutive calls, in milliseconds each."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1e3)
    return samples


def interleaved(
    runners: Sequence[Callable[[], object]],
    blocks: int = 10,
    runs_per_block: int = 10,
    warmup: int = 3,
    pause_s: float = 0.1,
) -> list[Latency]:
    """Time each runner in alternating blocks after `warmup` calls each."""
    for fn in runners:
        for _ in range(warmup):
            fn()
    samples: list[list[float]] = [[] for _ in runners]
    for _ in range(blocks):
        for fn, out in zip(runners, samples, strict=True):
            out += time_runs(fn, runs_per_block)
            time.sleep(pause_s)
    return [Latency(tuple(s)) for s in samples]

"""Soak through the Python binding, in its own process (run by test_soak.py): RUNS inferences
and LOADS load/unload cycles, printing resident memory after warm-up and at the end as JSON.

Usage: python -m tests.reliability.soak_python MODEL.so RUNS LOADS
"""

from __future__ import annotations

import gc
import json
import os
import sys

import numpy as np

import ember

WARMUP_PERCENT = 10


def rss_kb() -> float:
    with open("/proc/self/statm") as statm:
        resident = int(statm.read().split()[1])
    return resident * os.sysconf("SC_PAGESIZE") / 1024


def soak(path: str, runs: int) -> dict[str, float]:
    model = ember.load(path)
    feed = {
        i.name: np.full([d if isinstance(d, int) else 2 for d in i.shape], 0.5, np.float32)
        for i in model.inputs
    }
    first = model.run(feed)
    mismatches, start = 0, rss_kb()
    for r in range(runs):
        if r == runs * WARMUP_PERCENT // 100:
            gc.collect()
            start = rss_kb()
        out = model.run(feed)
        mismatches += not all(np.array_equal(a, b) for a, b in zip(out, first, strict=True))
    gc.collect()
    return {
        "runs": runs,
        "rss_kb": start,
        "growth_pct": (rss_kb() - start) / start * 100,
        "mismatches": mismatches,
    }


def load_unload(path: str, loads: int) -> dict[str, float]:
    start = rss_kb()
    for i in range(loads):
        if i == loads * WARMUP_PERCENT // 100:
            gc.collect()
            start = rss_kb()
        model = ember.load(path)
        assert model.inputs
        del model
    gc.collect()
    return {"loads": loads, "rss_kb": start, "growth_kb": rss_kb() - start}


if __name__ == "__main__":
    artifact, runs, loads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    print(json.dumps({"soak": soak(artifact, runs), "load": load_unload(artifact, loads)}))

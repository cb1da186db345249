"""Time per kernel of a compiled model (`ember profile`), through TVM's VM instrumentation.

This is a developer tool: it imports TVM (lazily), unlike the deploy path.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._env import TVM_NUM_THREADS
from ._plugins import load_plugins
from .feeds import check_feed, read_inputs
from .runtime import manifest_inputs, read_manifest

# VM bookkeeping calls that are not kernels.
_BUILTIN_PREFIXES = ("vm.builtin.", "vm.", "relax.")


@dataclass(frozen=True)
class KernelTime:
    """Median time per inference of one kernel at the call sites that compute `nodes`.

    The median, not the mean: one inference stalled by the scheduler (common on shared VMs)
    would otherwise inflate whichever kernel it hit.

    `nodes` are the ONNX nodes the kernel computes there (from the manifest's
    `kernel_sources`; empty for artifacts without it). A kernel called for different nodes
    (the plugin's conv for each Conv) gets one row per call site.
    """

    name: str
    ms: float
    calls: int
    share: float
    nodes: tuple[str, ...] = ()

    @property
    def ops(self) -> str:
        """The operators fused into the kernel, read off its name (e.g. 'conv2d+add+relu')."""
        if self.name.startswith("ember.cpu."):
            return f"{self.name.removeprefix('ember.cpu.')} (OpenBLAS plugin)"
        if self.name.startswith("ember.dnnl."):
            return f"{self.name.removeprefix('ember.dnnl.')} (oneDNN plugin)"
        parts = [p.rstrip("0123456789") for p in self.name.removeprefix("fused_").split("_")]
        return "+".join(p for p in parts if p)


def _prepare(threads: int, plugins: list[str], artifact: str) -> None:
    # Both are read when the pools start: set them before TVM or OpenBLAS load.
    os.environ.setdefault(TVM_NUM_THREADS, str(threads))
    load_plugins(plugins, artifact)


def profile(
    path: str | os.PathLike[str],
    runs: int = 10,
    threads: int = 2,
    feed: dict[str, np.ndarray] | None = None,
) -> list[KernelTime]:
    """Kernels sorted by time per inference, after three warm-up runs.

    `feed` holds the inputs by name; by default random ones (`feeds.random_input`: symbolic
    dimensions 1, small integers for index inputs).
    """
    manifest = read_manifest(path)
    specs = manifest_inputs(manifest)
    if feed is None:
        feed = read_inputs(specs, None, seed=0)
    # The VM below does not check its arguments as `Model.run` does: check them here.
    check_feed(specs, feed, "profile inputs")
    _prepare(threads, list(manifest.get("plugins", [])), str(path))
    import tvm
    from tvm import relax

    # Views as the deploy runtime makes them (runtime_cpp/src/tensor_view.h): TVM's own put
    # the offset where generated kernels refuse it.
    tvm.get_global_func("ember.runtime.use_offset_free_views")()
    vm = relax.VirtualMachine(tvm.runtime.load_module(os.fspath(path)), tvm.cpu())
    tvm.get_global_func("runtime.config_threadpool")(1, threads)
    args = [tvm.runtime.tensor(np.ascontiguousarray(feed[s.name])) for s in specs]
    for _ in range(3):
        vm["main"](*args)
    clock = _SiteClock(_call_sites(manifest))
    vm.set_instrument(clock.instrument)
    for _ in range(runs):
        clock.new_inference()
        vm["main"](*args)
    return clock.rows(runs)


def blas_core() -> str | None:
    """The OpenBLAS kernel family the plugin runs (e.g. 'SkylakeX'), when it is loaded."""
    import tvm

    core = tvm.get_global_func("ember.cpu.blas_core", allow_missing=True)
    return None if core is None else str(core())


def onednn_isa() -> str | None:
    """The instruction set of oneDNN's kernels here (e.g. 'avx512_core'), when it is loaded."""
    import tvm

    isa = tvm.get_global_func("ember.dnnl.isa", allow_missing=True)
    return None if isa is None else str(isa())


class _SiteClock:
    """VM instrument: time per (kernel, call site), the site told by the call's order.

    The n-th call of a kernel within one inference is the n-th entry for that kernel in the
    manifest's `kernel_sources`, whose node names the row carries.
    """

    def __init__(self, sites: dict[str, list[tuple[str, ...]]]) -> None:
        self._sites = sites
        self._seen: dict[str, int] = defaultdict(int)
        self._started: dict[str, float] = {}
        # Seconds per inference at each (kernel, call site): one list entry per inference.
        self._times: dict[tuple[str, tuple[str, ...]], list[float]] = {}
        self._calls: dict[tuple[str, tuple[str, ...]], int] = defaultdict(int)
        self._inference = -1

    def new_inference(self) -> None:
        self._seen.clear()
        self._inference += 1

    def instrument(self, func: Any, name: str, before: bool, ret: Any, *rest: Any) -> int:
        if before:
            self._started[name] = time.perf_counter()
        elif not name.startswith(_BUILTIN_PREFIXES):
            known = self._sites.get(name, [])
            key = (name, known[self._seen[name] % len(known)] if known else ())
            self._seen[name] += 1
            times = self._times.setdefault(key, [])
            times.extend([0.0] * (self._inference + 1 - len(times)))
            times[self._inference] += time.perf_counter() - self._started[name]
            self._calls[key] += 1
        return 0  # VMInstrumentReturnKind.NO_OP

    def rows(self, runs: int) -> list[KernelTime]:
        medians = {
            key: float(np.median(times + [0.0] * (runs - len(times))))
            for key, times in self._times.items()
        }
        whole = sum(medians.values()) or 1.0
        rows = [
            KernelTime(name, 1e3 * t, self._calls[(name, nodes)] // runs, t / whole, nodes)
            for (name, nodes), t in medians.items()
        ]
        return sorted(rows, key=lambda r: -r.ms)


def _call_sites(manifest: dict[str, Any]) -> dict[str, list[tuple[str, ...]]]:
    """Kernel name -> the node names of each of its call sites, in execution order."""
    sites: dict[str, list[tuple[str, ...]]] = defaultdict(list)
    for site in manifest.get("kernel_sources") or []:
        sites[str(site["kernel"])].append(tuple(str(n) for n in site["nodes"]))
    return sites


def describe_nodes(nodes: tuple[str, ...], limit: int = 3) -> str:
    """'a, b, c and 4 more': the first `limit` node names of a kernel, for one table row."""
    shown = ", ".join(nodes[:limit])
    rest = len(nodes) - limit
    return f"{shown} and {rest} more" if rest > 0 else shown

"""The tuner against the library, per kernel: keep whichever is faster.

On x86, float32 matmul and conv2d run in Ember's plugins (oneDNN, OpenBLAS). A tune also
offers each of them to MetaSchedule as a kernel of its own (`kernels.standalone_kernel`) and
times the library on the same shapes, in the same process setup as MetaSchedule's local
runner (TVM's thread pool, all cores, the mean over runs of at least 100 ms). The library
times are kept beside the records (`library_times.json`, one JSON line per kernel,
appended). A compile then runs a call as the generated kernel only where a record beats the
library's time for that very kernel, and in the library otherwise: tuning can only make a
model faster.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..libraries import onednn
from . import store

if TYPE_CHECKING:  # the store functions work without TVM (`ember records`)
    from ..passes.dispatch_cpu_kernels import LibrarySite

LIBRARY_TIMES_FILE = "library_times.json"
#: Like MetaSchedule's LocalRunner: each timed run lasts at least this long, three runs.
MIN_RUN_S = 0.1
RUNS = 3


class GenerateAll:
    """The tune-time choice: every call becomes a generated kernel (a task); sites are kept."""

    def __init__(self) -> None:
        self.sites: dict[str, LibrarySite] = {}

    def use_generated(self, site: LibrarySite) -> bool:
        """Always the generated kernel, remembering the site for timing the library."""
        self.sites.setdefault(site.key, site)
        return True


@dataclass
class KernelRace:
    """The compile-time choice: the generated kernel only where its record beats the library."""

    generated_s: dict[str, float]
    library_s: dict[str, float]
    #: Sites that run generated, and sites that had both times but stayed in the library.
    won: list[LibrarySite] = field(default_factory=list)
    lost: list[LibrarySite] = field(default_factory=list)

    def use_generated(self, site: LibrarySite) -> bool:
        """True when a tuning record of this kernel is faster than the library on it."""
        generated, library = self.generated_s.get(site.key), self.library_s.get(site.key)
        if generated is None or library is None:
            return False
        (self.won if generated < library else self.lost).append(site)
        return generated < library

    def summary(self) -> dict[str, int]:
        """For the manifest: how many calls each side won."""
        return {"generated": len(self.won), "library": len(self.lost)}


def kernel_race(stores: list[Path], target_tvm: dict[str, Any]) -> KernelRace | None:
    """The race over `stores` (first store first), or None when none timed the library."""
    library: dict[str, float] = {}
    generated: dict[str, float] = {}
    identity = store.target_identity(target_tvm)
    for path in stores:
        for key, seconds in read_library_times(path).items():
            library.setdefault(key, seconds)
        if (path / store.RECORD_FILE).is_file():
            for key, seconds in store.read_store(path, identity).best_per_workload().items():
                generated.setdefault(key, seconds)
    return KernelRace(generated, library) if library else None


def read_library_times(path: Path) -> dict[str, float]:
    """Library seconds per kernel key in a store; lines that do not parse are skipped."""
    times: dict[str, float] = {}
    file = path / LIBRARY_TIMES_FILE
    if not file.is_file():
        return times
    for line in file.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(line)
            times[str(entry["key"])] = float(entry["seconds"])
        except (ValueError, KeyError, TypeError):
            continue  # a torn last line costs that kernel's time only
    return times


def append_library_time(path: Path, site: LibrarySite, seconds: float) -> None:
    """Append one kernel's library time to the store (one line, flushed)."""
    entry = {"key": site.key, "op": site.op, "shapes": site.shapes, "seconds": seconds}
    with (path / LIBRARY_TIMES_FILE).open("a", encoding="utf-8") as f:
        f.write(json.dumps(entry) + "\n")
        f.flush()


def copy_library_times(sources: list[Path], dest: Path, keys: set[str]) -> int:
    """Copy the library times of `keys` from `sources` into `dest` (merge, export)."""
    have = read_library_times(dest)
    lines = []
    for source in sources:
        file = source / LIBRARY_TIMES_FILE
        if not file.is_file():
            continue
        for line in file.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                key = str(json.loads(line)["key"])
            except (ValueError, KeyError, TypeError):
                continue
            if key in keys and key not in have:
                have[key] = 0.0
                lines.append(line)
    if lines:
        with (dest / LIBRARY_TIMES_FILE).open("a", encoding="utf-8") as f:
            f.writelines(line + "\n" for line in lines)
    return len(lines)


def time_library(site: LibrarySite) -> float:
    """Mean seconds of the plugin's kernel on `site`'s shapes (random operands)."""
    import numpy as np
    import tvm

    func = _plugin_function(site)
    rng = np.random.default_rng(0)
    *operands, out_shape = site.shapes
    values = [rng.standard_normal(s).astype("float32") for s in operands]
    args = [tvm.runtime.tensor(v) for v in values]
    attrs = site.attrs
    if site.plugin == onednn.PLUGIN:
        # The last attribute keys the plugin's packed copy of the right operand: that of the
        # random operand here, never the model's constant's, which would then find this copy.
        attrs = (*attrs[:-1], onednn.content_hash(values[1]))
    if attrs:
        args.append(tvm.runtime.ShapeTuple(attrs))
    out = tvm.runtime.empty(out_shape, "float32")
    func(*args, out)  # warm-up
    calls, runs = 1, list[float]()
    while len(runs) < RUNS:
        start = time.perf_counter()
        for _ in range(calls):
            func(*args, out)
        elapsed = time.perf_counter() - start
        if elapsed < MIN_RUN_S:
            calls = max(calls * 2, int(calls * MIN_RUN_S / max(elapsed, 1e-9)) + 1)
            continue
        runs.append(elapsed / calls)
    return sum(runs) / len(runs)


def _plugin_function(site: LibrarySite) -> Any:
    """The plugin's packed function, loading the plugin into this process once."""
    import tvm

    found = tvm.get_global_func(site.function, allow_missing=True)
    if found is not None:
        return found
    from ember._plugins import load_plugin

    load_plugin(site.plugin)
    return tvm.get_global_func(site.function)

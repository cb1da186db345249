"""Concurrent runs share a bounded pool of VMs: a burst queues (or fails fast by option) and
the memory it took is given back once the model has been idle for `idle_timeout`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from onnx import TensorProto, helper

import ember
from ember.errors import BusyError, InputError

ROWS, COLS = 1024, 2048  # 8 MiB per float32 tensor: each run's workspace is tens of MiB


@pytest.fixture(scope="module")
def big_workspace(compile_example):
    """y = sigmoid(x * x + x) * x: cheap elementwise kernels over large intermediates."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [ROWS, COLS])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [ROWS, COLS])
    nodes = [
        helper.make_node("Mul", ["x", "x"], ["sq"]),
        helper.make_node("Add", ["sq", "x"], ["sum"]),
        helper.make_node("Sigmoid", ["sum"], ["sig"]),
        helper.make_node("Mul", ["sig", "x"], ["y"]),
    ]
    graph = helper.make_graph(nodes, "big_workspace", [x], [y])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return compile_example("big_workspace", proto)[1]


def burst(run: Callable[[], Any], count: int = 64) -> list[BaseException]:
    """`count` threads call `run` at the same moment; the exceptions they raised."""
    start = threading.Barrier(count)
    errors: list[BaseException] = []

    def worker() -> None:
        start.wait()
        try:
            run()
        except Exception as err:
            errors.append(err)

    threads = [threading.Thread(target=worker) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


X = np.random.default_rng(0).standard_normal((ROWS, COLS), dtype=np.float32)


def expected(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-(x * x + x))) * x


def test_default_cap_is_the_usable_cores(big_workspace):
    model = ember.load(big_workspace, threads=1)
    outputs: list[np.ndarray] = []
    assert burst(lambda: outputs.append(model.run({"x": X})[0]), count=8) == []
    assert len(outputs) == 8
    np.testing.assert_allclose(outputs[-1], expected(X), rtol=1e-5, atol=1e-6)
    assert 1 <= model._handle.num_vms <= len(os.sched_getaffinity(0))


def test_waiting_callers_all_run_on_one_vm(big_workspace):
    model = ember.load(big_workspace, threads=1, max_concurrency=1)
    assert burst(lambda: model.run({"x": X}), count=16) == []
    assert model._handle.num_vms == 1


def test_fail_when_busy_raises_busy_error(big_workspace):
    model = ember.load(big_workspace, threads=1, max_concurrency=1, fail_when_busy=True)
    errors = burst(lambda: [model.run({"x": X}) for _ in range(5)], count=8)
    assert errors, "8 threads at once on one VM: some must find it busy"
    assert all(isinstance(err, BusyError) for err in errors), errors
    message = str(errors[0])
    assert "busy" in message and "\n" not in message
    assert model._handle.num_vms == 1
    model.run({"x": X})  # the model stays usable


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"idle_timeout": -1}, "idle_timeout"),
        ({"idle_timeout": float("nan")}, "idle_timeout"),
    ],
)
def test_bad_pool_options(big_workspace, options, message):
    with pytest.raises(InputError, match=message):
        ember.load(big_workspace, **options)


# Runs in a fresh process, so the RSS it reports is this model's alone.
RSS_SCRIPT = """
import json, resource, sys, threading, time
import numpy as np, psutil
import ember

model = ember.load(sys.argv[1], threads=1, max_concurrency=16, idle_timeout=0.2)
# 64-byte aligned, as the kernels want it: a misaligned input would be copied on every run.
buffer = np.random.default_rng(0).standard_normal(%(rows)d * %(cols)d + 16, dtype=np.float32)
skip = (-buffer.ctypes.data %% 64) // 4
x = buffer[skip : skip + %(rows)d * %(cols)d].reshape(%(rows)d, %(cols)d)
rss = lambda: psutil.Process().memory_info().rss

def warm():
    # Sequential runs until the RSS holds still for three runs: the allocators' caches fill.
    history = []
    while len(history) < 40 and (len(history) < 5 or len(set(history[-3:])) > 1):
        model.run({"x": x})
        history.append(rss())
    return history[-1]

steady = warm()
start = threading.Barrier(64)
vms = []
def worker():
    start.wait()
    model.run({"x": x})
    vms.append(model._handle.num_vms)
threads = [threading.Thread(target=worker) for _ in range(64)]
for t in threads: t.start()
for t in threads: t.join()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
deadline = time.monotonic() + 60
while time.monotonic() < deadline and (model._handle.num_vms > 1 or rss() > steady * 1.05):
    time.sleep(0.1)
idle = rss()

def largest_mappings():
    # Where resident memory sits (for a failure's message): the five largest mappings, in KiB.
    sizes, name = [], ""
    for line in open("/proc/self/smaps"):
        fields = line.split()
        if "-" in fields[0] and len(fields) >= 5:
            name = fields[5] if len(fields) > 5 else "[anon]"
        elif fields[0] == "Rss:":
            sizes.append((int(fields[1]), name))
    return sorted(sizes, reverse=True)[:5]

print(json.dumps({"steady": steady, "peak": peak, "idle": idle, "idle_where": largest_mappings(),
                  "again": warm(), "vms_in_burst": max(vms), "vms_idle": model._handle.num_vms}))
"""


def test_burst_memory_is_returned_after_idle_timeout(big_workspace, record_property):
    script = RSS_SCRIPT % {"rows": ROWS, "cols": COLS}
    # Every thread that runs a model gets its own TVM thread pool, which outlives the thread;
    # without spinning, the 64 pools' idle workers sleep instead of slowing the machine.
    env = {**os.environ, "TVM_THREAD_POOL_SPIN_COUNT": "0"}
    proc = subprocess.run(
        [sys.executable, "-c", script, str(big_workspace)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    mib = {k: round(v / 2**20) for k, v in figures.items() if isinstance(v, int) and "vms" not in k}
    record_property(
        "reliability",
        f"VM pool: 64 concurrent runs, RSS steady {mib['steady']} MiB, peak {mib['peak']} MiB, "
        f"idle after the burst {mib['idle']} MiB, warm again {mib['again']} MiB "
        f"({figures['vms_in_burst']} VMs at most in the burst, {figures['vms_idle']} idle)",
    )
    assert 1 < figures["vms_in_burst"] <= 16
    assert figures["vms_idle"] == 1
    assert figures["peak"] > figures["steady"] * 1.2, "the burst must have grown the memory"
    # At least 85% of what the burst added is given back. Not all of it: on a loaded machine the
    # C allocator once kept five freed 8 MiB blocks (40 of the burst's ~430 MiB) past every trim.
    kept = (figures["idle"] - figures["steady"]) / (figures["peak"] - figures["steady"])
    assert kept <= 0.15, f"{kept:.0%} kept; largest mappings: {figures['idle_where']}"
    # Warm again, the model is back at its steady state: nothing of the burst was kept. (Not
    # to 5%: where the allocator lands pages varies by a tensor or two on a busy machine.)
    assert figures["again"] <= figures["steady"] * 1.25


# Feeds a cache-growing step its own output for STEPS runs, in a fresh process; prints the RSS
# after the first 20 runs and after the last, and the page faults per run in between.
GROWING_SCRIPT = """
import json, resource, sys
import numpy as np, psutil
import ember
model = ember.load(sys.argv[1], threads=2)
cache = np.zeros((1, %(width)d, 0), np.float32)
step = np.ones((1, %(width)d, 1), np.float32)
rss, faults = [], []
for i in range(%(steps)d):
    (cache,) = model.run({"cache": cache, "step": step})
    if i in (19, %(steps)d - 1):
        rss.append(psutil.Process().memory_info().rss)
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt)
print(json.dumps({"early": rss[0], "late": rss[1], "length": cache.shape[2],
                  "faults_per_run": (faults[1] - faults[0]) / (%(steps)d - 20)}))
"""
WIDTH, STEPS = 2048, 300  # 8 KiB more per run: every run asks for buffers of new sizes


def test_a_growing_cache_does_not_grow_memory(compile_example, record_property):
    # A decoder's loop: each run's cache is one position longer than the last one's. Memory must
    # stay what one run needs, not keep a buffer of every length seen (30 MB per token before).
    cache = helper.make_tensor_value_info("cache", TensorProto.FLOAT, [1, WIDTH, "past"])
    step = helper.make_tensor_value_info("step", TensorProto.FLOAT, [1, WIDTH, 1])
    grown = helper.make_tensor_value_info("grown", TensorProto.FLOAT, [1, WIDTH, None])
    nodes = [
        helper.make_node("Concat", ["cache", "step"], ["joined"], axis=2),
        helper.make_node("Mul", ["joined", "joined"], ["grown"]),  # a second buffer per run
    ]
    graph = helper.make_graph(nodes, "growing_cache", [cache, step], [grown])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    artifact = compile_example("growing_cache", proto)[1]
    proc = subprocess.run(
        [sys.executable, "-c", GROWING_SCRIPT % {"width": WIDTH, "steps": STEPS}, str(artifact)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert figures["length"] == STEPS
    growth = (figures["late"] - figures["early"]) / 2**20
    faults = figures["faults_per_run"]
    record_property(
        "reliability",
        f"growing cache: {STEPS} runs, RSS +{growth:.0f} MiB, {faults:.0f} page faults a run",
    )
    # The last run's tensors are 2.3 MiB each; a block of every length would be ~650 MiB.
    assert growth < 40, f"RSS grew {growth:.0f} MiB over {STEPS - 20} runs"
    # Nor is each run's memory new: two tensors of ~1.2 MiB on average would fault ~600 pages
    # a run; with sizes in classes, the blocks of a class are reused until the next one.
    assert faults < 150, f"{faults:.0f} page faults a run"


# Runs a symbolic model RUNS times at one shape in a fresh process; prints the page faults of
# the last runs (after the warm-up ones).
STEADY_SCRIPT = """
import json, resource, sys
import numpy as np
import ember
model = ember.load(sys.argv[1], threads=2)
# 64-byte aligned, as the kernels want it: a misaligned input would be copied on every run.
buffer = np.ones(%(rows)d * %(cols)d + 16, np.float32)
skip = (-buffer.ctypes.data %% 64) // 4
x = buffer[skip : skip + %(rows)d * %(cols)d].reshape(%(rows)d, %(cols)d)
for _ in range(3):
    model.run({"x": x})
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(%(runs)d):
    model.run({"x": x})
after = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
print(json.dumps({"faults_per_run": (after - before) / %(runs)d}))
"""


def test_a_symbolic_model_at_one_shape_reuses_its_buffers(compile_example, record_property):
    # Exported models often leave the batch symbolic and are then run at one batch size. Their
    # buffers must be reused from run to run, not mapped afresh: 48 MiB tensors, above the
    # size malloc returns to the system at once, would fault 12,288 pages each per run.
    rows, cols, runs = 3072, 4096, 10
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", cols])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", cols])
    nodes = [
        helper.make_node("Mul", ["x", "x"], ["sq"]),
        helper.make_node("Sigmoid", ["sq"], ["s"]),  # an intermediate buffer of its own
        helper.make_node("Mul", ["s", "x"], ["y"]),
    ]
    graph = helper.make_graph(nodes, "symbolic_batch", [x], [y])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    _, artifact = compile_example("symbolic_batch", proto)
    script = STEADY_SCRIPT % {"rows": rows, "cols": cols, "runs": runs}
    proc = subprocess.run(
        [sys.executable, "-c", script, str(artifact)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    faults = json.loads(proc.stdout.strip().splitlines()[-1])["faults_per_run"]
    record_property("reliability", f"symbolic batch at one shape: {faults:.0f} page faults a run")
    assert faults < 1000, f"{faults:.0f} page faults a run"

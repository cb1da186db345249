"""Remote measurement: a tracker and two RPC servers on loopback serve one tune, which builds
locally and measures every candidate through the servers."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time

import pytest

from ember.compiler.tuning import store

from .helpers import record_lines, softmax_model
from .test_records_apply import ember

pytestmark = [pytest.mark.tuning, pytest.mark.slow]

KEY = "ember-test"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _wait_for_servers(port: int, count: int, timeout: float = 120.0) -> None:
    from tvm import rpc

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):  # the tracker may not listen yet
            queue = rpc.connect_tracker("127.0.0.1", port).summary()["queue_info"]
            if queue.get(KEY, {}).get("free", 0) >= count:
                return
        time.sleep(1.0)
    pytest.fail(f"{count} RPC servers did not register with the tracker in {timeout} s")


@pytest.fixture()
def tracker():
    port = _free_port()
    # --port-end must be set: its default (9199) makes any other port an empty range.
    tracker_args = ["--host=127.0.0.1", f"--port={port}", f"--port-end={port + 1}"]
    procs = [_start("tvm.exec.rpc_tracker", *tracker_args)]
    try:
        for _ in range(2):
            server_port = _free_port()
            procs.append(
                _start(
                    "tvm.exec.rpc_server",
                    f"--tracker=127.0.0.1:{port}",
                    f"--key={KEY}",
                    "--host=127.0.0.1",
                    f"--port={server_port}",
                    f"--port-end={server_port + 1}",
                )
            )
        _wait_for_servers(port, 2)
        yield f"127.0.0.1:{port}"
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 9)
            proc.wait()


def test_tune_measures_through_rpc_servers(tracker, tmp_path):
    path = tmp_path / "store"
    proc = ember(
        "tune",
        str(softmax_model(tmp_path)),
        "--records",
        str(path),
        "--trials",
        "4",
        "--per-batch",
        "4",
        "--population",
        "64",
        "--rpc-tracker",
        tracker,
        "--rpc-key",
        KEY,
        "--json",
    )
    assert proc.returncode == 0, proc.stderr + (path / "tune.log").read_text()
    summary = json.loads(proc.stdout)
    assert summary["tasks"][0]["trials"] == 4
    bodies = [json.loads(line)[1] for line in record_lines(path)]
    measured = [b for b in bodies if store.mean_seconds(b) is not None]
    assert measured, "no candidate was measured on the RPC servers"
    assert summary["tasks"][0]["best_ms"] > 0

"""Run an aarch64 artifact under qemu-aarch64 with the cross-built runner.

Inputs go to the runner as .npy files in the manifest's input order; it writes
`output_<i>.npy` in output order, which are read back. The artifact is checked (manifest,
checksum, architecture) by the aarch64 runtime itself, as on a real ARM machine.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .. import _runtime
from .._env import NUM_THREADS, TVM_RUNTIME_LIBRARY
from ..errors import ExecutionError, IncompatibleArtifactError, InputError, ToolchainError
from . import aarch64_runtime

QEMU = "qemu-aarch64"
QEMU_PACKAGE = "qemu-user"
#: The aarch64 C/C++ libraries of Debian's cross toolchain (libc6-arm64-cross & co.).
SYSROOT = Path("/usr/aarch64-linux-gnu")
_TIMEOUT_S = 1800


def run_emulated(
    artifact: Path,
    inputs: Mapping[str, np.ndarray],
    threads: int | None = None,
    say: aarch64_runtime.Say = lambda _: None,
) -> dict[str, np.ndarray]:
    """Run `artifact` (built for aarch64) on `inputs`; return the outputs by name."""
    manifest = json.loads(_runtime.read_manifest(os.fspath(artifact)))
    if manifest["target"]["arch"] != "aarch64":
        raise IncompatibleArtifactError(
            f"{artifact}: built for {manifest['target']['arch']}; --emulate runs aarch64 artifacts"
        )
    qemu = _require_qemu()
    runtime = aarch64_runtime.prepare(say)
    names = [spec["name"] for spec in manifest["inputs"]]
    missing = [n for n in names if n not in inputs]
    if missing:
        raise InputError(f"missing input '{missing[0]}'")
    with tempfile.TemporaryDirectory(prefix="ember-emulate-") as tmp:
        paths = [Path(tmp) / f"input_{i}.npy" for i in range(len(names))]
        for name, path in zip(names, paths, strict=True):
            np.save(path, np.ascontiguousarray(inputs[name]))
        command = [
            qemu,
            "-L",
            str(SYSROOT),
            str(runtime.runner),
            str(Path(artifact).resolve()),
            tmp,
        ]
        _execute([*command, *map(str, paths)], _environment(runtime, threads))
        outputs = [spec["name"] for spec in manifest["outputs"]]
        return {n: np.load(Path(tmp) / f"output_{i}.npy") for i, n in enumerate(outputs)}


def _require_qemu() -> str:
    qemu = shutil.which(QEMU)
    if qemu is None:
        raise ToolchainError(
            f"'{QEMU}' not found: --emulate runs aarch64 code with it; "
            f"install it with `apt-get install {QEMU_PACKAGE}`"
        )
    if not (SYSROOT / "lib").is_dir():
        raise ToolchainError(
            f"{SYSROOT} is missing: install the aarch64 C++ libraries with "
            f"`apt-get install {aarch64_runtime.CROSS_PACKAGE}`"
        )
    return qemu


def _environment(runtime: aarch64_runtime.Aarch64Runtime, threads: int | None) -> dict[str, str]:
    env = dict(os.environ)
    env[TVM_RUNTIME_LIBRARY] = str(runtime.tvm_runtime)
    if threads is not None:
        env[NUM_THREADS] = str(threads)
    return env


def _execute(command: list[str], env: dict[str, str]) -> None:
    try:
        proc = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        raise ExecutionError(f"the emulated run took over {_TIMEOUT_S} s") from None
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()] or [f"exit {proc.returncode}"]
        raise ExecutionError(f"emulated run failed: {lines[-1].removeprefix('error: ')}")

"""A CUDA driver for building GPU code: the real one when present, else Ember's stub.

TVM embeds compiled GPU code (a fatbin from nvcc) only when its CUDA runtime,
`libtvm_runtime_cuda.so`, loaded at `import tvm`; that library needs `libcuda.so.1`, which a
build machine without a GPU lacks, and without it the library would hold CUDA source needing
NVRTC at load time. The stub (`cuda_driver_stub.c`) exports the driver symbols TVM imports and
reports "no device". `import tvm` resolves the driver once per process, so the build runs in a
subprocess whose environment this module prepares; the stub never enters a process that runs
models.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import subprocess
from pathlib import Path

from ember._cache import cache_root, cached_entry
from ember.errors import ToolchainError

from .toolchain import HOST_CC, require

_STUB_SOURCE = Path(__file__).with_name("cuda_driver_stub.c")
_SONAME = "libcuda.so.1"


def has_real_driver() -> bool:
    """Whether this machine has an NVIDIA driver library (a GPU may still be absent)."""
    try:
        ctypes.CDLL(_SONAME)
    except OSError:
        return False
    return True


def stub_driver_dir() -> Path:
    """A folder holding the stub `libcuda.so.1`, compiled with gcc on first use."""
    source = _STUB_SOURCE.read_bytes()
    name = "cuda-stub-" + hashlib.sha256(source).hexdigest()[:12]
    return cached_entry(cache_root(), name, _build_stub)


def _build_stub(folder: Path) -> None:
    cc = require(HOST_CC, HOST_CC, "building the stub CUDA driver for GPU-less builds")
    command = [cc, "-shared", "-fPIC", f"-Wl,-soname,{_SONAME}", str(_STUB_SOURCE)]
    proc = subprocess.run(
        [*command, "-o", str(folder / _SONAME)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        why = (proc.stderr.strip().splitlines() or ["?"])[-1]
        raise ToolchainError(f"building the stub CUDA driver failed: {why}")


def build_environment() -> dict[str, str]:
    """The environment of a subprocess that compiles CUDA kernels into a fatbin."""
    env = dict(os.environ)
    # nvcc writes a fatbin; TVM's default (NVRTC) needs the cuda-bindings package and a GPU.
    env["TVM_CUDA_COMPILE_MODE"] = "nvcc"
    if not has_real_driver():
        paths = [str(stub_driver_dir()), env.get("LD_LIBRARY_PATH", "")]
        env["LD_LIBRARY_PATH"] = os.pathsep.join(p for p in paths if p)
    return env

"""Load a kernel plugin into this process the way the C++ runtime does (plugin_loader.cc).

A leaf module (stdlib only) so that the compiler, which times plugin kernels while it compiles
and tunes, loads them with the same settings as a deployed artifact.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

from ._env import BLAS_CORETYPE, OPENBLAS_CORETYPE, OPENBLAS_NUM_THREADS

LIB_DIR = Path(__file__).resolve().parent / "lib"


def load_plugin(name: str) -> Path:
    """Dlopen `libember_<name>.so` globally (its kernels register by name); returns its path.

    OpenBLAS starts its pool and picks its kernels when it loads: the plugins run it on one
    thread per call, and with the kernel family of EMBER_BLAS_CORETYPE or else of this CPU, not
    the OPENBLAS_CORETYPE meant for the system's OpenBLAS (restored afterwards).
    """
    path = LIB_DIR / f"libember_{name}.so"
    os.environ.setdefault(OPENBLAS_NUM_THREADS, "1")
    inherited = os.environ.pop(OPENBLAS_CORETYPE, None)
    chosen = os.environ.get(BLAS_CORETYPE)
    if chosen:
        os.environ[OPENBLAS_CORETYPE] = chosen
    try:
        ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL)
    finally:
        os.environ.pop(OPENBLAS_CORETYPE, None)
        if inherited is not None:
            os.environ[OPENBLAS_CORETYPE] = inherited
    return path

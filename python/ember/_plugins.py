"""Load a kernel plugin into this process the way the C++ runtime does (plugin_loader.cc).

A leaf module (stdlib only) so that the compiler, which times plugin kernels while it compiles
and tunes, loads them with the same settings as a deployed artifact.
"""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path

from ._env import BLAS_CORETYPE, ONEDNN, OPENBLAS_CORETYPE, OPENBLAS_NUM_THREADS

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


#: plugin -> (its library, the plugin standing in for it, that one's library, the entry point
#: that registers the stand-ins); the runtime's table is kStandIns in plugin_loader.cc.
STAND_INS = {
    "cpu_dnnl": ("oneDNN", "cpu_blas", "OpenBLAS", "ember_cpu_blas_stand_in_for_onednn"),
}


def load_plugins(names: list[str], artifact: str) -> None:
    """Load an artifact's plugins as the runtime does.

    One that cannot load (or that EMBER_ONEDNN=0 turns off) is replaced by its stand-in, with
    one warning line on stderr.
    """
    for name in names:
        why = f"{ONEDNN}=0" if name == "cpu_dnnl" and os.environ.get(ONEDNN) == "0" else ""
        if not why:
            try:
                load_plugin(name)
                continue
            except OSError as err:
                why = str(err)
        if name not in STAND_INS:
            raise OSError(f"{artifact}: needs the kernel plugin '{name}', which can't load ({why})")
        library, stand_in, stand_in_library, entry = STAND_INS[name]
        handle = ctypes.CDLL(str(load_plugin(stand_in)), mode=ctypes.RTLD_GLOBAL)
        if getattr(handle, entry)() != 0:
            continue  # the plugin's own kernels are registered already: they run
        print(
            f"warning: {artifact}: {library} is unavailable ({why}); "
            f"its calls run on {stand_in_library} instead, slower",
            file=sys.stderr,
        )

"""An aarch64 build of Ember's C++ runtime and its runner, cached under the user's cache dir.

The runner is `examples/cpp/main.cc` (`ember_run MODEL.so OUT_DIR IN0.npy ...`) linked with
`runtime_cpp/src/*.cc` by `aarch64-linux-gnu-g++`, against the aarch64 `libtvm_ffi.so` and
`libtvm_runtime.so` taken from PyPI's manylinux aarch64 wheels of the same `apache-tvm` /
`apache-tvm-ffi` versions as the installed (x86) ones. Headers come from the installed x86
`tvm_ffi` package (they are architecture independent). Both steps run once; later runs reuse
`~/.cache/ember/aarch64/`.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .. import __version__
from .._cache import cache_root, cached_entry
from ..errors import ToolchainError

CROSS_CXX = "aarch64-linux-gnu-g++"
CROSS_PACKAGE = "g++-aarch64-linux-gnu"
_PLATFORM = "manylinux_2_28_aarch64"
# (distribution, file inside its wheel) for each library the runner needs.
_WHEEL_LIBS = (
    ("apache-tvm-ffi", "tvm_ffi/lib/libtvm_ffi.so"),
    ("apache-tvm", "tvm/lib/libtvm_runtime.so"),
)

Say = Callable[[str], None]


@dataclass(frozen=True)
class Aarch64Runtime:
    """The cross-built runner and the folder of aarch64 libraries it loads."""

    runner: Path
    lib_dir: Path

    @property
    def tvm_runtime(self) -> Path:
        """The aarch64 libtvm_runtime.so (the runtime dlopens it by this path)."""
        return self.lib_dir / "libtvm_runtime.so"


def prepare(say: Say) -> Aarch64Runtime:
    """The aarch64 runtime, downloaded and built on first use (`say` reports progress)."""
    cxx = shutil.which(CROSS_CXX)
    if cxx is None:
        raise ToolchainError(
            f"'{CROSS_CXX}' not found: emulation cross-builds Ember's runtime with it; "
            f"install it with `apt-get install {CROSS_PACKAGE}`"
        )
    folder = cache_root() / "aarch64"
    versions = "-".join(importlib.metadata.version(dist) for dist, _ in _WHEEL_LIBS)
    lib_dir = cached_entry(folder, f"libs-{versions}", lambda tmp: _fetch_libs(tmp, say))
    key = _source_key(cxx, lib_dir)
    build = cached_entry(folder, f"runner-{key}", lambda tmp: _build_runner(tmp, cxx, lib_dir, say))
    return Aarch64Runtime(build / "ember_run", lib_dir)


def _fetch_libs(dest: Path, say: Say) -> None:
    wanted = [f"{dist}=={importlib.metadata.version(dist)}" for dist, _ in _WHEEL_LIBS]
    say(
        f"downloading the aarch64 TVM runtime ({', '.join(wanted)}, about 100 MB) into "
        f"{dest.parent} (first use only)"
    )
    with tempfile.TemporaryDirectory(prefix="ember-wheels-") as tmp:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                   "--platform", _PLATFORM, "--only-binary=:all:", "--python-version", "3.11",
                   "--dest", tmp, *wanted]  # fmt: skip
        proc = subprocess.run(command, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            why = (proc.stderr.strip().splitlines() or ["?"])[-1]
            raise ToolchainError(f"downloading the aarch64 TVM wheels failed: {why}")
        for (dist, member), wheel in zip(_WHEEL_LIBS, _wheels(Path(tmp)), strict=True):
            _extract(wheel, member, dest / Path(member).name, dist)


def _wheels(folder: Path) -> list[Path]:
    """The downloaded wheels in `_WHEEL_LIBS` order (ffi first, then tvm)."""
    found = sorted(folder.glob("*.whl"))
    ffi = [w for w in found if w.name.startswith("apache_tvm_ffi-")]
    tvm = [w for w in found if w.name.startswith("apache_tvm-")]
    if len(ffi) != 1 or len(tvm) != 1:
        raise ToolchainError(f"unexpected downloads in {folder}: {[w.name for w in found]}")
    return [ffi[0], tvm[0]]


def _extract(wheel: Path, member: str, dest: Path, dist: str) -> None:
    with zipfile.ZipFile(wheel) as archive:
        try:
            data = archive.read(member)
        except KeyError:
            raise ToolchainError(f"the aarch64 wheel of {dist} lacks {member}") from None
    dest.write_bytes(data)


def _sources() -> tuple[Path, Path]:
    """(runtime_cpp folder, examples/cpp folder), from the wheel or from a checkout."""
    package = Path(__file__).parent.parent
    for root in (package / "src", Path(__file__).resolve().parents[3]):
        runtime, runner = root / "runtime_cpp", root / "examples" / "cpp"
        if (runtime / "src").is_dir() and (runner / "main.cc").is_file():
            return runtime, runner
    raise ToolchainError(f"Ember's runtime sources are missing from {package / 'src'}")


def _source_key(cxx: str, lib_dir: Path) -> str:
    """A digest of everything the runner build reads, so a change rebuilds it."""
    runtime, runner = _sources()
    digest = hashlib.sha256(str(lib_dir).encode())
    digest.update(subprocess.run([cxx, "--version"], capture_output=True, check=False).stdout)
    for path in sorted([*runtime.rglob("*.[ch]*"), *runner.glob("*.[ch]*")]):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:12]


def _include_dirs() -> list[str]:
    command = [sys.executable, "-m", "tvm_ffi.config"]
    dirs = set()
    for flag in ("--includedir", "--dlpack-includedir"):
        proc = subprocess.run([*command, flag], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise ToolchainError("the tvm_ffi package (for its C++ headers) is not installed")
        dirs.add(proc.stdout.strip())
    return sorted(dirs)


def _build_runner(dest: Path, cxx: str, lib_dir: Path, say: Say) -> None:
    runtime, runner = _sources()
    say(f"cross-building Ember's runtime for aarch64 with {CROSS_CXX} (first use only)")
    sources = [*sorted((runtime / "src").glob("*.cc")), runner / "main.cc"]
    includes = [runtime / "include", runtime / "src", *_include_dirs()]
    command = [cxx, "-std=c++17", "-O2", f"-DEMBER_VERSION=\"{__version__}\"",
               *(f"-I{d}" for d in includes), *map(str, sources),
               f"-L{lib_dir}", "-ltvm_ffi", "-ldl", "-lpthread", f"-Wl,-rpath,{lib_dir}",
               "-o", str(dest / "ember_run")]  # fmt: skip
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        errors = [ln for ln in proc.stderr.splitlines() if "error" in ln] or ["?"]
        raise ToolchainError(f"cross-building the aarch64 runtime failed: {errors[0]}")

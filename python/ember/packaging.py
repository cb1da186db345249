"""`ember package`: a folder that runs artifacts with Ember's runtime alone.

What a deployment needs besides its artifacts: Ember's Python runtime and binding, the kernel
plugins the artifacts name (with the stand-in that replaces oneDNN where it cannot load), and
the shared libraries those load: TVM's runtime (not its compiler), tvm-ffi, OpenBLAS, oneDNN.
No TVM Python package, no ONNX, no compiler: 7 MB besides artifacts that need no plugin, 84 MB
with oneDNN's (its library 53 MB, OpenBLAS for its stand-in 24 MB), and NumPy is the one thing
the target machine must have.

The folder mirrors an installed environment, so every library finds the others through the
search paths it was built with (relative to itself) and the runtime finds TVM's runtime beside
its own package, as in a normal install:

    DIR/<artifacts>
    DIR/lib/libdnnl.so.3                          (when an artifact uses oneDNN)
    DIR/lib/python/site-packages/ember/...        (runtime modules, binding, plugins)
    DIR/lib/python/site-packages/tvm/lib/         (libtvm_runtime*.so)
    DIR/lib/python/site-packages/tvm_ffi/lib/     (libtvm_ffi.so)
    DIR/lib/python/site-packages/scipy_openblas32/lib/  (when a plugin uses OpenBLAS)
    DIR/README.txt                                (how to run it)

The binding is the one of this Python (e.g. CPython 3.11 on x86-64 Linux): the folder runs
under the same Python version and platform. It is written next to DIR and renamed into place
once complete, so a failed run leaves nothing half-written.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ._plugins import LIB_DIR, STAND_INS
from .errors import ArtifactNotFoundError, InputError
from .runtime import read_manifest

#: Where the runtime's modules go inside the folder (mirrors a virtual environment's layout).
SITE = Path("lib/python/site-packages")
#: Parts of the installed package a runtime-only folder leaves out: the compiler's inputs
#: (targets, tuning records) and what only C++ builds need (headers, sources, CMake files).
_LEFT_OUT = {
    "compiler",
    "tuning_logs",
    "targets",
    "include",
    "src",
    "cmake",
    "__pycache__",
    "ruff.toml",
}
#: Libraries each plugin loads besides tvm-ffi: (the package folder under site-packages that
#: holds it, or "" for the environment's lib/ folder, and its file name).
_PLUGIN_LIBRARIES = {
    "cpu_blas": [("scipy_openblas32/lib", "libscipy_openblas.so")],
    # The soname the plugin links (oneDNN 3.x, pinned in pyproject.toml), not its aliases.
    "cpu_dnnl": [("", "libdnnl.so.3")],
}


@dataclass
class PackageReport:
    """What `package` wrote."""

    folder: Path
    artifacts: list[str]
    plugins: list[str]
    size_bytes: int
    python: str

    def lines(self) -> list[str]:
        """A summary a person reads."""
        run = f"PYTHONPATH={self.folder / SITE} python{self.python}"
        return [
            f"wrote {self.folder} ({self.size_bytes / 1e6:.1f} MB): "
            f"{', '.join(self.artifacts)}; plugins: {', '.join(self.plugins) or 'none'}",
            f"runs with Python {self.python} on {platform.machine()} Linux with NumPy: {run}",
        ]


def _site_packages_of(module: str) -> Path:
    """The site-packages folder an installed package lives in."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise InputError(f"cannot package the runtime: the package '{module}' is not installed")
    return Path(spec.origin).resolve().parent.parent


def _copy_file(source: Path, destination: Path, what: str) -> None:
    """`source` copied to `destination` (its folder made), or one error naming `what`."""
    if not source.is_file():
        raise InputError(f"cannot package {what}: {source} is missing")
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, destination)


def _copy_runtime_package(into: Path) -> None:
    """Ember's Python runtime (modules and binding), without the compiler's parts."""
    package = Path(__file__).resolve().parent
    target = into / "ember"

    def ignore(folder: str, names: list[str]) -> set[str]:
        # Each library under lib/ is copied on its own (only the plugins the artifacts use).
        skip = {
            n
            for n in names
            if n in _LEFT_OUT or n.startswith(".") or n.endswith((".pyc", ".pyi", ".so"))
        }
        return skip | ({"lib"} if Path(folder) == package else set())

    shutil.copytree(package, target, ignore=ignore)
    binding = importlib.util.find_spec("ember._runtime")
    if binding is None or binding.origin is None:
        raise InputError("cannot package the runtime: Ember's binding (ember._runtime) is missing")
    shutil.copy2(binding.origin, target / Path(binding.origin).name)
    # The version is read from the distribution's metadata (ember/_version.py).
    metadata = importlib.metadata.distribution("ember")
    info = into / f"ember-{metadata.version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(metadata.read_text("METADATA") or "")
    runtime = "libember_runtime.so"
    _copy_file(LIB_DIR / runtime, target / "lib" / runtime, "Ember's runtime")


def _plugins_needed(manifests: list[dict]) -> list[str]:
    """The plugins the artifacts name, with the stand-in of each that has one."""
    needed: list[str] = []
    for manifest in manifests:
        for name in manifest.get("plugins", []):
            for plugin in (name, *([STAND_INS[name][1]] if name in STAND_INS else [])):
                if plugin not in needed:
                    needed.append(plugin)
    return needed


def _copy_plugin(name: str, site: Path, root: Path) -> None:
    """A plugin and the libraries it loads, where its search paths look for them."""
    library = f"libember_{name}.so"
    _copy_file(LIB_DIR / library, site / "ember" / "lib" / library, f"the plugin '{name}'")
    installed_site = _site_packages_of("tvm_ffi")
    for folder, file in _PLUGIN_LIBRARIES.get(name, []):
        # "" is the environment's lib/ folder: three levels above site-packages.
        source = installed_site / folder if folder else installed_site.parents[2] / "lib"
        destination = site / folder if folder else root / "lib"
        _copy_file(source / file, destination / file, f"the plugin '{name}'")


def _copy_tvm_runtime(site: Path, cuda: bool) -> None:
    """TVM's runtime libraries (CUDA's too for CUDA artifacts) and tvm-ffi; no compiler."""
    tvm_lib = _site_packages_of("tvm") / "tvm" / "lib"
    for name in ["libtvm_runtime.so", *(["libtvm_runtime_cuda.so"] if cuda else [])]:
        _copy_file(tvm_lib / name, site / "tvm" / "lib" / name, "TVM's runtime")
    ffi = Path("tvm_ffi/lib/libtvm_ffi.so")
    _copy_file(_site_packages_of("tvm_ffi") / ffi, site / ffi, "tvm-ffi")


def _readme(artifacts: list[str], python: str) -> str:
    first = artifacts[0]
    return (
        "Ember runtime folder: run these artifacts without installing Ember or TVM.\n\n"
        f"Needs Python {python} on {platform.machine()} Linux, with NumPy.\n\n"
        "    cd <this folder>\n"
        f"    PYTHONPATH=$PWD/{SITE} python{python} -c \\\n"
        f"      'import ember; m = ember.load(\"{first}\"); print(m.inputs)'\n\n"
        f"Artifacts: {', '.join(artifacts)}\n"
    )


def _folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def package(artifacts: list[Path], out: Path, copy_artifacts: bool = True) -> PackageReport:
    """Write `out`: the artifacts and what runs them (the module docstring's layout).

    Without `copy_artifacts`, only what runs them (a bundle that ships them compressed).
    """
    if not artifacts:
        raise InputError("ember package: name at least one artifact")
    manifests = []
    for artifact in artifacts:
        if not artifact.is_file():
            raise ArtifactNotFoundError(f"{artifact}: no such artifact")
        manifests.append(read_manifest(artifact))  # a file that is not an artifact: its error
    names = [a.name for a in artifacts]
    if len(set(names)) != len(names):
        raise InputError("ember package: two artifacts have the same file name")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"{out} already exists and is not empty: choose another folder")
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    plugins = _plugins_needed(manifests)
    cuda = any(m.get("target", {}).get("device") == "cuda" for m in manifests)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        site = staging / SITE
        site.mkdir(parents=True)
        _copy_runtime_package(site)
        _copy_tvm_runtime(site, cuda)
        for plugin in plugins:
            _copy_plugin(plugin, site, staging)
        for artifact in artifacts if copy_artifacts else []:
            shutil.copy2(artifact, staging / artifact.name)
        (staging / "README.txt").write_text(_readme(names, python))
        if out.exists():
            out.rmdir()  # empty (checked above)
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return PackageReport(out, names, plugins, _folder_size(out), python)

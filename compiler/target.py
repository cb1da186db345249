"""Targets: presets in `targets/*.toml`, validated on load, resolved to a TVM target."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ember.errors import TargetError

# The ISA extensions a compiled artifact may require, named as the runtime checks them,
# with the LLVM feature name each comes from.
_CHECKED_FEATURES = {
    "sse4.2": "sse4.2",
    "avx": "avx",
    "avx2": "avx2",
    "fma": "fma",
    "f16c": "f16c",
    "avx512f": "avx512f",
    "avx512bw": "avx512bw",
    "avx512dq": "avx512dq",
    "avx512vl": "avx512vl",
    "avx512cd": "avx512cd",
    "avx512vnni": "avx512vnni",
    "neon": "neon",
}
_DEVICES = ("cpu", "cuda")
_ARCHES = ("x86_64", "aarch64")


@dataclass(frozen=True)
class Target:
    """A resolved compilation target: what TVM compiles for and what the runtime checks."""

    name: str
    description: str
    device: str
    arch: str
    tvm: dict[str, Any]
    cpu_features: tuple[str, ...]
    defaults: dict[str, Any] = field(default_factory=dict)

    def tvm_target(self) -> Any:
        """The `tvm.target.Target` (TVM 0.27 accepts only the dict form)."""
        import tvm

        return tvm.target.Target(dict(self.tvm))

    def manifest(self) -> dict[str, Any]:
        """The manifest's `target` entry."""
        return {
            "name": self.name,
            "device": self.device,
            "arch": self.arch,
            "triple": self.tvm.get("mtriple", ""),
            "mcpu": self.tvm.get("mcpu", ""),
            "cpu_features": list(self.cpu_features),
            "cuda_arch": self.tvm.get("arch") if self.device == "cuda" else None,
            "tvm": dict(self.tvm),
        }


def presets_dir() -> Path:
    """The folder of preset files: `ember/targets` when installed, `targets/` in a checkout."""
    return Path(__file__).resolve().parent.parent / "targets"


def preset_names() -> list[str]:
    """Names of every preset, sorted."""
    return sorted(p.stem for p in presets_dir().glob("*.toml"))


def resolve(name_or_path: str) -> Target:
    """Resolve a preset name or a path to a `.toml` file into a `Target`."""
    path = Path(name_or_path)
    if name_or_path.endswith(".toml") or os.sep in name_or_path:
        if not path.is_file():
            raise TargetError(f"target file '{name_or_path}' does not exist")
    else:
        path = presets_dir() / f"{name_or_path}.toml"
        if not path.is_file():
            known = ", ".join(preset_names())
            raise TargetError(f"unknown target '{name_or_path}' (known targets: {known})")
    return _from_table(_read_toml(path), path)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise TargetError(f"target file '{path}' cannot be read: {err}") from None


def _from_table(table: dict[str, Any], path: Path) -> Target:
    problems = _schema_problems(table)
    if problems:
        raise TargetError(f"target file '{path}' is invalid: " + "; ".join(problems))
    tvm_table = dict(table["tvm"])
    features = table.get("capabilities", {}).get("cpu_features", [])
    if tvm_table.get("mcpu") == "host" or features == "host":
        host_cpu, host_features = _host_cpu()
        if tvm_table.get("mcpu") == "host":
            tvm_table["mcpu"] = host_cpu
        if features == "host":
            features = host_features
    if table["device"] == "cpu":
        tvm_table.setdefault("num-cores", _usable_cores())
    return Target(
        name=table["name"],
        description=table["description"],
        device=table["device"],
        arch=table["arch"],
        tvm=tvm_table,
        cpu_features=tuple(features),
        defaults=dict(table.get("defaults", {})),
    )


def _schema_problems(table: dict[str, Any]) -> list[str]:
    problems = []
    for key in ("name", "description", "device", "arch"):
        if not isinstance(table.get(key), str):
            problems.append(f"'{key}' must be a string")
    if table.get("device") not in _DEVICES:
        problems.append(f"'device' must be one of {', '.join(_DEVICES)}")
    if table.get("arch") not in _ARCHES:
        problems.append(f"'arch' must be one of {', '.join(_ARCHES)}")
    if not isinstance(table.get("tvm"), dict) or "kind" not in table.get("tvm", {}):
        problems.append("a [tvm] table with 'kind' is required")
    features = table.get("capabilities", {}).get("cpu_features", [])
    if features != "host":
        if not isinstance(features, list):
            problems.append("'capabilities.cpu_features' must be a list or \"host\"")
        else:
            unknown = [f for f in features if f not in _CHECKED_FEATURES]
            if unknown:
                problems.append(f"unknown cpu_features {unknown}")
    return problems


def _host_cpu() -> tuple[str, list[str]]:
    """The LLVM name of this machine's CPU and the checked ISA extensions it has."""
    import tvm
    from tvm.target import codegen

    cpu = str(codegen.llvm_get_system_cpu())
    probe = tvm.target.Target({"kind": "llvm", "mcpu": cpu})
    llvm_features = {str(f) for f in codegen.llvm_get_cpu_features(probe)}
    return cpu, [name for name, llvm in _CHECKED_FEATURES.items() if llvm in llvm_features]


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1

"""Targets: presets in `targets/*.toml`, validated on load, resolved to a TVM target."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
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
# The TVM target kind each device compiles with.
_KINDS = {"cpu": "llvm", "cuda": "cuda"}
# "sm_90", "sm_90a", "sm_100f"; "local" is the GPU of the compiling machine.
_CUDA_ARCH_RE = re.compile(r"^sm_[0-9]{2,3}[af]?$")
_LOCAL = "local"
_STRING_DEFAULTS = ("layout", "cross_compiler", "cross_compiler_package", "cuda_arch_fallback")


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

    @property
    def cuda_arch(self) -> str | None:
        """The GPU architecture (``"sm_90"``) of a CUDA target, else None."""
        return str(self.tvm["arch"]) if self.device == "cuda" else None

    @property
    def cross_compiler(self) -> str | None:
        """The C++ compiler that links the library for another CPU, or None for the host's."""
        value = self.defaults.get("cross_compiler")
        return str(value) if value else None

    def tvm_target(self) -> Any:
        """The `tvm.target.Target` (TVM 0.27 accepts only the dict form)."""
        import tvm

        table = dict(self.tvm)
        host = table.pop("host", None)
        if host is None:
            return tvm.target.Target(table)
        return tvm.target.Target(table, host=dict(host))

    def manifest(self) -> dict[str, Any]:
        """The manifest's `target` entry."""
        return {
            "name": self.name,
            "device": self.device,
            "arch": self.arch,
            "triple": self.tvm.get("mtriple", self.tvm.get("host", {}).get("mtriple", "")),
            "mcpu": self.tvm.get("mcpu", ""),
            "cpu_features": list(self.cpu_features),
            "cuda_arch": self.cuda_arch,
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
    if tvm_table.get("arch") == _LOCAL:
        tvm_table["arch"] = _local_cuda_arch(table.get("defaults", {}), path)
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
    else:
        problems += _tvm_problems(table)
    problems += _defaults_problems(table.get("defaults", {}))
    features = table.get("capabilities", {}).get("cpu_features", [])
    if features != "host":
        if not isinstance(features, list):
            problems.append("'capabilities.cpu_features' must be a list or \"host\"")
        else:
            unknown = [f for f in features if f not in _CHECKED_FEATURES]
            if unknown:
                problems.append(f"unknown cpu_features {unknown}")
    return problems


def _tvm_problems(table: dict[str, Any]) -> list[str]:
    """The [tvm] table must agree with `device` and `arch`."""
    tvm_table, device = table["tvm"], table.get("device")
    problems = []
    if device in _KINDS and tvm_table["kind"] != _KINDS[device]:
        problems.append(f"device '{device}' needs tvm.kind = \"{_KINDS[device]}\"")
    triple = tvm_table.get("mtriple", "")
    if device == "cpu" and triple and not str(triple).startswith(str(table.get("arch"))):
        problems.append(f"tvm.mtriple '{triple}' does not match arch '{table.get('arch')}'")
    if device == "cuda":
        arch = tvm_table.get("arch")
        if arch != _LOCAL and not _CUDA_ARCH_RE.match(str(arch)):
            problems.append(f'tvm.arch must be "sm_XY" or "{_LOCAL}", got {arch!r}')
        if not isinstance(tvm_table.get("host", {}), dict):
            problems.append("[tvm.host] must be a table")
    return problems


def _defaults_problems(defaults: Any) -> list[str]:
    if not isinstance(defaults, dict):
        return ["[defaults] must be a table"]
    problems = [
        f"'defaults.{k}' must be a string"
        for k in _STRING_DEFAULTS
        if k in defaults and not isinstance(defaults[k], str)
    ]
    if "tuning_trials" in defaults and not isinstance(defaults["tuning_trials"], int):
        problems.append("'defaults.tuning_trials' must be an integer")
    fallback = defaults.get("cuda_arch_fallback")
    if isinstance(fallback, str) and not _CUDA_ARCH_RE.match(fallback):
        problems.append(f"'defaults.cuda_arch_fallback' must be \"sm_XY\", got {fallback!r}")
    return problems


def _local_cuda_arch(defaults: dict[str, Any], path: Path) -> str:
    """The compute capability of GPU 0 as "sm_XY", else the preset's documented fallback."""
    found = _nvidia_smi_compute_cap()
    if found:
        return found
    fallback = defaults.get("cuda_arch_fallback")
    if not fallback:
        raise TargetError(
            f"target file '{path}': no GPU is visible and 'defaults.cuda_arch_fallback' is unset"
        )
    return str(fallback)


def _nvidia_smi_compute_cap() -> str | None:
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    try:
        proc = subprocess.run(
            [smi, "--query-gpu=compute_cap", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    first = proc.stdout.strip().splitlines()[0] if proc.stdout.strip() else ""
    major, _, minor = first.strip().partition(".")
    if proc.returncode != 0 or not (major.isdigit() and minor.isdigit()):
        return None
    return f"sm_{major}{minor}"


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

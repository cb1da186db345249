"""Build a CUDA library in a subprocess that sees a CUDA driver (see cuda_driver.py).

The parent writes the scheduled module as TVM JSON and runs this file as a module; the child
compiles it under the target (TVM's nvcc callback reads the arch from the current target),
exports the library and exits. The parent then checks that the library holds a fatbin for
the asked arch.

Usage (internal): ``python -m ember.compiler.codegen.cuda_build MODULE.json TARGET.json OUT.so``
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from ember.errors import CompileError

from ..target import Target
from . import cuda_driver, fatbin
from .toolchain import require_nvcc

_TIMEOUT_S = 3600


def build_cuda_library(mod: Any, target: Target, output: Path) -> None:
    """Compile `mod` for the CUDA `target` into the shared library `output`."""
    import tvm

    require_nvcc(target)
    env = cuda_driver.build_environment()
    with tempfile.TemporaryDirectory(prefix="ember-cuda-") as tmp:
        mod_json, target_json = Path(tmp) / "module.json", Path(tmp) / "target.json"
        mod_json.write_text(tvm.ir.save_json(mod), encoding="utf-8")
        target_json.write_text(json.dumps(target.tvm), encoding="utf-8")
        command = [sys.executable, "-m", __name__, str(mod_json), str(target_json), str(output)]
        proc = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=_TIMEOUT_S, check=False
        )
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error: ")]
        why = lines[-1][len("error: ") :] if lines else (proc.stderr.strip() or "?")[-300:]
        raise CompileError(f"CUDA code generation failed: {why}")
    _check_gpu_code(output, target)


def _check_gpu_code(output: Path, target: Target) -> None:
    code = fatbin.inspect_library(output)
    if target.cuda_arch not in code.arches or code.has_cuda_source:
        raise CompileError(
            f"the built library holds no {target.cuda_arch} fatbin "
            f"(found {sorted(code.arches) or 'none'}); TVM fell back to CUDA source"
        )


def _child(mod_json: str, target_json: str, output: str) -> None:
    import tvm

    from ..tvm_errors import summarize
    from .relax_pipeline import relax_pipeline

    if tvm.get_global_func("device_api.cuda", allow_missing=True) is None:
        sys.exit("error: TVM's CUDA runtime (libtvm_runtime_cuda.so) did not load")
    table = json.loads(Path(target_json).read_text(encoding="utf-8"))
    host = table.pop("host", None)
    target = tvm.target.Target(table, host=host) if host else tvm.target.Target(table)
    mod = tvm.ir.load_json(Path(mod_json).read_text(encoding="utf-8"))
    try:
        with target:  # nvcc takes the arch from the current target
            executable = tvm.compile(mod, target=target, relax_pipeline=relax_pipeline(target))
        executable.export_library(output)
    except Exception as err:  # TVM raises many types; the parent reads one line
        sys.exit(f"error: {summarize(err)}")


if __name__ == "__main__":
    _child(*sys.argv[1:4])

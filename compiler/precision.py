"""`--precision`: which precisions a target can run today, and a one-line error otherwise.

Ember computes a reduced precision only where it is faster than float32 and not emulated:
fp16 on CUDA targets (tensor cores; `passes.mixed_precision`); bf16 on x86 CPUs with
AVX512-BF16 or AMX-BF16, in oneDNN's matmuls and convolutions (`passes.library_precision`;
the rest stays float32), so it needs the oneDNN plugin. Targets without those instructions are
refused rather than emulated; int8 is refused until QDQ models compile to int8 kernels.
"""

from __future__ import annotations

from ember.errors import OptionError

from .target import Target

#: Precisions `--precision` accepts, in the order the help lists them.
PRECISIONS = ("fp32", "bf16", "fp16", "int8")

#: LLVM's names of the x86 features that compute bf16 dot products.
_BF16_X86_FEATURES = ("avx512bf16", "amx-bf16")
#: oneDNN's instruction sets (`onednn.kernel_isa`) that include one of them.
_BF16_ONEDNN_ISAS = (
    "avx512_core_bf16",
    "avx512_core_fp16",
    "avx512_core_amx",
    "avx512_core_amx_fp16",
)


def check_precision(precision: str, target: Target) -> str:
    """`precision` in lower case if `target` runs it, else an `OptionError` saying why not."""
    value = precision.lower()
    if value not in PRECISIONS:
        raise OptionError(
            f"invalid --precision '{precision}': expected one of {', '.join(PRECISIONS)}"
        )
    if value == "fp32":
        return value
    if value == "int8":
        raise OptionError(
            "--precision int8 quantizes nothing by itself: quantize the model first "
            "(ember quantize model.onnx --calibration data.npz -o model_int8.onnx) and compile "
            "that without --precision; its convolutions and matmuls then run in int8"
        )
    if target.device == "cuda":
        if value == "bf16":
            raise OptionError(
                f"--precision bf16 is not supported yet on CUDA (target {target.name}): "
                "Ember's mixed-precision pass makes fp16; use --precision fp16"
            )
        return value
    if target.arch == "x86_64" and value == "bf16":
        problem = _x86_bf16_problem(target)
        if problem is not None:
            raise OptionError(problem)
        return value
    raise OptionError(
        f"--precision {value} needs a CUDA target; target {target.name} ({target.arch} CPU) "
        f"has no {value} arithmetic in Ember faster than fp32"
    )


def has_bf16_instructions(target: Target) -> bool:
    """Whether oneDNN's bf16 kernels run natively on x86 `target` (as `--precision bf16` needs)."""
    return target.arch == "x86_64" and _x86_bf16_problem(target) is None


def _x86_bf16_problem(target: Target) -> str | None:
    """Why bf16 cannot run on this x86 target (no bf16 instructions, or no oneDNN), or None."""
    from .libraries import onednn

    mcpu = target.tvm.get("mcpu", "?")
    if not any(f in llvm_features(target) for f in _BF16_X86_FEATURES) and not (
        _is_this_cpu(target) and onednn.kernel_isa() in _BF16_ONEDNN_ISAS
    ):
        return (
            f"--precision bf16 needs AVX512-BF16 or AMX-BF16, and target {target.name} "
            f"({mcpu}) has neither: bf16 would be emulated, slower than fp32"
        )
    reason = onednn.unavailable_reason()
    if reason is not None:
        return (
            f"--precision bf16 on x86 runs in oneDNN's kernels, and oneDNN is not used ({reason})"
        )
    return None


def llvm_features(target: Target) -> set[str]:
    """The LLVM features of the target's CPU (mcpu), as LLVM names them."""
    import tvm
    from tvm.target import codegen

    table = {k: v for k, v in target.tvm.items() if k in ("kind", "mcpu", "mtriple", "mattr")}
    return {str(f) for f in codegen.llvm_get_cpu_features(tvm.target.Target(table))}


def _is_this_cpu(target: Target) -> bool:
    """Whether `target` is this machine's CPU model, as LLVM names it (`--target x86`).

    LLVM names a CPU by its model, and a virtual machine's model can be one that lacks
    extensions the CPU has (a Xeon with AMX reported as Rocket Lake): for this machine's CPU,
    what oneDNN finds at run time counts too.
    """
    from tvm.target import codegen

    return target.tvm.get("mcpu") == str(codegen.llvm_get_system_cpu())

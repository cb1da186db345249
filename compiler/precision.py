"""`--precision`: which precisions a target can run today, and a one-line error otherwise.

Ember computes a reduced precision only where it is faster than float32 and not emulated:
fp16 on CUDA targets (tensor cores; `passes.mixed_precision`). bf16 on x86 needs AVX512-BF16
or AMX-BF16 and kernels that use them, which Ember does not have yet, so it is refused rather
than emulated; int8 is refused until QDQ models compile to int8 kernels.
"""

from __future__ import annotations

from ember.errors import OptionError

from .target import Target

#: Precisions `--precision` accepts, in the order the help lists them.
PRECISIONS = ("fp32", "bf16", "fp16", "int8")

#: LLVM's names of the x86 features that compute bf16 dot products.
_BF16_X86_FEATURES = ("avx512bf16", "amx-bf16")


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
            "--precision int8 is not supported yet: Ember compiles QDQ models "
            "(QuantizeLinear/DequantizeLinear) at fp32, dequantizing weights and activations; "
            "compile without --precision"
        )
    if target.device == "cuda":
        if value == "bf16":
            raise OptionError(
                f"--precision bf16 is not supported yet on CUDA (target {target.name}): "
                "Ember's mixed-precision pass makes fp16; use --precision fp16"
            )
        return value
    if target.arch == "x86_64" and value == "bf16":
        raise OptionError(_x86_bf16_problem(target))
    raise OptionError(
        f"--precision {value} needs a CUDA target; target {target.name} ({target.arch} CPU) "
        f"has no {value} arithmetic in Ember faster than fp32"
    )


def _x86_bf16_problem(target: Target) -> str:
    """Why bf16 cannot run on this x86 target: no bf16 instructions, or no Ember kernels."""
    mcpu = target.tvm.get("mcpu", "?")
    found = [f for f in _BF16_X86_FEATURES if f in llvm_features(target)]
    if not found:
        return (
            f"--precision bf16 needs AVX512-BF16 or AMX-BF16, and target {target.name} "
            f"({mcpu}) has neither: bf16 would be emulated, slower than fp32"
        )
    return (
        f"--precision bf16 is not yet supported on x86: target {target.name} ({mcpu}) has "
        f"{' and '.join(found)}, but Ember's CPU matmul and convolution kernels are fp32 only "
        "(no bf16 kernels use them yet, and Ember does not emulate bf16)"
    )


def llvm_features(target: Target) -> set[str]:
    """The LLVM features of the target's CPU (mcpu), as LLVM names them."""
    import tvm
    from tvm.target import codegen

    table = {k: v for k, v in target.tvm.items() if k in ("kind", "mcpu", "mtriple", "mattr")}
    return {str(f) for f in codegen.llvm_get_cpu_features(tvm.target.Target(table))}

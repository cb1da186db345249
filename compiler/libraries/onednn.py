"""oneDNN, the x86 plugin's library for float32 matmuls and NHWC convolutions.

Why oneDNN (measured, `benchmarks/RESULTS.md`): its JIT kernels pick the instruction set at
run time from the CPU's features (AVX2, AVX-512, AMX; Intel and AMD alike), cover every
convolution Ember meets (grouped, depthwise, dilated, strided, 1-D) with direct kernels rather
than im2col, read weights packed once into their own blocked layout, and have bf16 and int8
paths for reduced precision. OpenBLAS stays for NCHW convolutions, whose layout oneDNN runs
through a slower GEMM-based path, and as the fallback where oneDNN cannot load.

The compiler loads the plugin into its own process (as the runtime will) before routing any
call to it; where that fails, the calls go to OpenBLAS and the compile says why in one line.
"""

from __future__ import annotations

import functools
import hashlib
import os

import numpy as np

from ember._env import ONEDNN

PLUGIN = "cpu_dnnl"
MATMUL = "ember.dnnl.matmul"
CONV_NHWC = "ember.dnnl.conv_nhwc"
#: The same kernels with a bias and activations applied to their output (an epilogue).
MATMUL_EPILOGUE = "ember.dnnl.matmul_epilogue"
CONV_NHWC_EPILOGUE = "ember.dnnl.conv_nhwc_epilogue"
#: ... and also add a tensor shaped like the output (a residual connection).
MATMUL_RESIDUAL = "ember.dnnl.matmul_residual"
CONV_NHWC_RESIDUAL = "ember.dnnl.conv_nhwc_residual"
#: A matmul whose right operand is a run-time tensor stored [..., N, K], read transposed: the
#: attention scores against a key cache, without copying the cache into [..., K, N] first.
#: Attributes [0], then only a compute type (bf16 under `--precision bf16`): no epilogue is
#: fused into it, and int8 needs constant weights, which it never has.
MATMUL_BT = "ember.dnnl.matmul_bt"
#: The same convolutions computed by Winograd's algorithm (3 x 3, stride 1, float32; the
#: plugin picks F(4 x 4, 3 x 3) or F(2 x 2, 3 x 3) by the image's size): what
#: `passes/winograd_convolutions.py` makes of the calls that suit it. Same attributes.
CONV_WINOGRAD = "ember.dnnl.conv_winograd"
CONV_WINOGRAD_EPILOGUE = "ember.dnnl.conv_winograd_epilogue"
CONV_WINOGRAD_RESIDUAL = "ember.dnnl.conv_winograd_residual"
#: Softmax over the last axis, for widths TVM's default schedule cannot vectorize whole.
SOFTMAX = "ember.dnnl.softmax"
#: Attributes each matmul and convolution call starts with, before its epilogue
#: (matmul: the weights' content hash; conv: strides, padding, dilation, groups, hash).
LEADING_ATTRS = {
    MATMUL: 1,
    MATMUL_EPILOGUE: 1,
    MATMUL_RESIDUAL: 1,
    MATMUL_BT: 1,
    CONV_NHWC: 10,
    CONV_NHWC_EPILOGUE: 10,
    CONV_NHWC_RESIDUAL: 10,
    CONV_WINOGRAD: 10,
    CONV_WINOGRAD_EPILOGUE: 10,
    CONV_WINOGRAD_RESIDUAL: 10,
}
#: Compute type -> its code after a call's epilogue (plugins/common/epilogue.h): `--precision`
#: gives fp32 or bf16; int8 comes from the model's own quantization (quantized_library_calls).
COMPUTE_TYPES = {"fp32": 0, "bf16": 1, "int8": 2}
#: Epilogue step kinds (plugins/common/epilogue.h): a clip to [alpha, beta], and a residual add.
CLIP_STEP = 0
RESIDUAL_STEP = 5
#: The epilogue step kind of a row softmax (plugins/common/epilogue.h): it ends a matmul's
#: chain and is computed in float32 by the plugin after the kernel.
SOFTMAX_STEP = 6
#: The epilogue step kind `alpha * x + beta` (plugins/common/epilogue.h): the scales of an
#: integer product (passes/integer_products.py), applied to its sums first.
LINEAR_STEP = 7
#: The epilogue step kind `round_half_even(x / alpha)` (plugins/common/epilogue.h): with a
#: clip and a LINEAR_STEP by alpha after it, a QDQ rounding to the grid of scale alpha.
ROUND_STEP = 8


@functools.cache
def unavailable_reason() -> str | None:
    """Why oneDNN cannot be used in this process, or None when its plugin loaded."""
    if os.environ.get(ONEDNN, "1") == "0":
        return f"{ONEDNN}=0"
    from ember._plugins import LIB_DIR, load_plugin

    if not (LIB_DIR / f"libember_{PLUGIN}.so").is_file():
        return "the oneDNN plugin was not built"
    try:
        load_plugin(PLUGIN)
    except OSError as err:
        return f"its plugin does not load: {err}"
    return None


def kernel_isa() -> str:
    """The instruction set oneDNN's kernels use on this CPU (loads the plugin)."""
    import tvm

    if unavailable_reason() is not None:
        return "unavailable"
    return str(tvm.get_global_func("ember.dnnl.isa")())


def content_hash(values: np.ndarray) -> int:
    """A 64-bit hash of a constant's bytes, never 0: the plugin's key for its packed copy.

    Models holding the same weights share one packed copy; a different constant that happens
    to sit at the same address is never mistaken for it.
    """
    digest = hashlib.blake2b(np.ascontiguousarray(values).tobytes(), digest_size=8).digest()
    value = int.from_bytes(digest, "little", signed=True)
    return value if value != 0 else 1

"""Every environment variable Ember reads, in one place (the C++ runtime reads the same)."""

from __future__ import annotations

#: Worker threads per run when `threads` is not given (default: every usable core).
NUM_THREADS = "EMBER_NUM_THREADS"
#: Path of libtvm_runtime.so, when it is not beside the installed `tvm` package.
TVM_RUNTIME_LIBRARY = "EMBER_TVM_RUNTIME_LIBRARY"
#: Show full tracebacks from the CLI (same as --verbose).
VERBOSE = "EMBER_VERBOSE"
#: Comma-separated ISA extensions the runtime treats as absent (tests of the load-time check).
HIDE_CPU_FEATURES = "EMBER_HIDE_CPU_FEATURES"
#: TVM's own: the size of each thread pool, read when a pool starts (the runtime sets it).
TVM_NUM_THREADS = "TVM_NUM_THREADS"
#: OpenBLAS's own: its pool size. The CPU kernel plugin runs OpenBLAS on TVM's pool, so 1.
OPENBLAS_NUM_THREADS = "OPENBLAS_NUM_THREADS"
#: OpenBLAS's own: its kernel family, meant for the system's OpenBLAS; the plugins' copy ignores it.
OPENBLAS_CORETYPE = "OPENBLAS_CORETYPE"
#: The plugins' OpenBLAS kernel family (an OPENBLAS_CORETYPE value); unset, detected from the CPU.
BLAS_CORETYPE = "EMBER_BLAS_CORETYPE"
#: "0" compiles x86 matmuls and convolutions for OpenBLAS instead of oneDNN (to compare them).
ONEDNN = "EMBER_ONEDNN"
#: Folder for Ember's downloads and builds (aarch64 runtime, CUDA stub driver); by default
#: $XDG_CACHE_HOME/ember or ~/.cache/ember.
CACHE_DIR = "EMBER_CACHE_DIR"

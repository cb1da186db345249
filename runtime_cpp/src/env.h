/*!
 * \file env.h
 * \brief Every environment variable the runtime reads, in one place.
 */
#ifndef EMBER_RUNTIME_CPP_SRC_ENV_H_
#define EMBER_RUNTIME_CPP_SRC_ENV_H_

namespace ember {
namespace env {

/*! \brief Full path of `libtvm_runtime.so`; overrides the search next to the `tvm` package. */
constexpr const char* kTvmRuntimeLibrary = "EMBER_TVM_RUNTIME_LIBRARY";
/*! \brief Default worker threads per run when `LoadOptions::num_threads` is 0. */
constexpr const char* kNumThreads = "EMBER_NUM_THREADS";
/*!
 * \brief Comma-separated CPU features to treat as missing (e.g. "avx512f,avx2"), so tests can
 *        exercise the "built for ..., this machine is ..." refusal on any machine.
 */
constexpr const char* kHideCpuFeatures = "EMBER_HIDE_CPU_FEATURES";
/*!
 * \brief OpenBLAS's own variable: threads of its pool. The CPU kernel plugin runs OpenBLAS on
 *        TVM's pool instead, so it is set to 1 (unless the user set it) before OpenBLAS loads.
 */
constexpr const char* kOpenBlasNumThreads = "OPENBLAS_NUM_THREADS";
/*!
 * \brief OpenBLAS's own variable: the kernel family it uses ("Haswell", "SkylakeX", ...), read
 *        when it loads. Meant for the system's OpenBLAS; Ember's private copy ignores it.
 */
constexpr const char* kOpenBlasCoreType = "OPENBLAS_CORETYPE";
/*!
 * \brief The OpenBLAS kernel family for Ember's plugins (an OPENBLAS_CORETYPE value); unset, it
 *        detects the CPU, as ONNX Runtime's kernels do.
 */
constexpr const char* kBlasCoreType = "EMBER_BLAS_CORETYPE";
/*!
 * \brief "0" turns the oneDNN plugin off: an artifact that calls it runs those calls on the
 *        OpenBLAS plugin (the compiler reads it too, and then compiles for OpenBLAS).
 */
constexpr const char* kOneDnn = "EMBER_ONEDNN";
/*!
 * \brief TVM's own variable: the capacity of each thread pool, read when a pool is created.
 *        The runtime sets it (when unset) so that a pool may use every core it is allowed.
 */
constexpr const char* kTvmNumThreads = "TVM_NUM_THREADS";

}  // namespace env
}  // namespace ember

#endif  // EMBER_RUNTIME_CPP_SRC_ENV_H_

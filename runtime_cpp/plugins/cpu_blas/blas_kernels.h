/*!
 * \file blas_kernels.h
 * \brief The OpenBLAS plugin's float32 kernels, for the calls it registers itself and for the
 *        oneDNN calls it stands in for (onednn_stand_in.cc).
 */
#ifndef EMBER_RUNTIME_CPP_PLUGINS_CPU_BLAS_BLAS_KERNELS_H_
#define EMBER_RUNTIME_CPP_PLUGINS_CPU_BLAS_BLAS_KERNELS_H_

#include <tvm/ffi/container/tensor.h>

#include "conv_geometry.h"

namespace ember {
namespace blas {

/*! \brief The first float of `t`: the VM places tensors at byte offsets inside shared storage. */
float* Out(const tvm::ffi::TensorView& t);
const float* In(const tvm::ffi::TensorView& t);

/*! \brief Throws unless `t` is contiguous float32 (`what` names it in the error). */
void CheckFloat32(const tvm::ffi::TensorView& t, const char* what);

/*!
 * \brief out[..., M, N] = a[..., M, K] @ b[K, N], or batched: a[B..., M, K] @ b[B..., K, N];
 *        with `trans_b`, b is stored [..., N, K] and read transposed.
 */
void MatmulInto(const tvm::ffi::TensorView& a, const tvm::ffi::TensorView& b,
                const tvm::ffi::TensorView& out, bool trans_b = false);

/*! \brief NHWC data, HWIO weights, NHWC output: im2col + GEMM over TVM's pool. */
void ConvNhwcInto(const ConvGeometry& g, const float* x, const float* w, float* y);

}  // namespace blas
}  // namespace ember

#endif  // EMBER_RUNTIME_CPP_PLUGINS_CPU_BLAS_BLAS_KERNELS_H_

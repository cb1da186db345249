/*!
 * \file operands.h
 * \brief Checks of the operands the compiler passes to a plugin's kernels, shared by the
 *        oneDNN plugin and its OpenBLAS stand-in so that both refuse the same calls with the
 *        same words.
 */
#ifndef EMBER_RUNTIME_CPP_PLUGINS_COMMON_OPERANDS_H_
#define EMBER_RUNTIME_CPP_PLUGINS_COMMON_OPERANDS_H_

#include <tvm/ffi/container/tensor.h>

#include <cstdint>

namespace ember {
namespace plugins {

/*!
 * \brief Throw a TypeError "<prefix>: <what> must be contiguous float32" unless `t` is one.
 * \param prefix The calls' namespace ("ember.dnnl"), which names the plugin in the message.
 */
void CheckFloat32(const tvm::ffi::TensorView& t, const char* prefix, const char* what);

/*!
 * \brief Check the operands of `ember.dnnl.softmax` (last-axis softmax): both contiguous
 *        float32, the output as large as the input.
 * \return The width of a row (the last axis), or 0 when there is nothing to compute.
 */
int64_t SoftmaxRowWidth(const tvm::ffi::TensorView& x, const tvm::ffi::TensorView& out);

}  // namespace plugins
}  // namespace ember

#endif  // EMBER_RUNTIME_CPP_PLUGINS_COMMON_OPERANDS_H_

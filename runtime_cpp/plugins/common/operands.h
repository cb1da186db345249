/*!
 * \file operands.h
 * \brief Checks of the operands the compiler passes to a plugin's kernels, shared by the
 *        oneDNN plugin and its OpenBLAS stand-in so that both refuse the same calls with the
 *        same words.
 */
#ifndef EMBER_RUNTIME_CPP_PLUGINS_COMMON_OPERANDS_H_
#define EMBER_RUNTIME_CPP_PLUGINS_COMMON_OPERANDS_H_

#include <tvm/ffi/container/shape.h>
#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/function.h>

#include <cstdint>
#include <optional>
#include <vector>

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

/*!
 * \brief A matmul's or convolution's operands as the compiler passes them (DPS): the source,
 *        the weights, their scales per output channel where the weights are int8 (a quantized
 *        model's, stored so in the artifact: weight = integer x scale), more tensors (bias,
 *        residual), the attributes, then the output.
 */
struct LibraryOperands {
  tvm::ffi::TensorView source;
  tvm::ffi::TensorView weights;
  std::optional<tvm::ffi::TensorView> weight_scales;  //!< float32, with int8 weights only
  std::vector<tvm::ffi::TensorView> extra;  //!< bias, then residual, where the call has them
  tvm::ffi::Shape attrs;
  tvm::ffi::TensorView out;

  /*!
   * \brief `args` of the call `name` taken apart, with `extra` tensors after the weights (and
   *        their scales); throws a TypeError naming the call when the count or types differ.
   */
  static LibraryOperands Read(tvm::ffi::PackedArgs args, int extra, const char* name);

  /*!
   * \brief The float32 data of `extra[i]` (a bias, a residual), or null where the call has
   *        fewer; throws unless it is contiguous float32 (`what` names it in the error).
   */
  const float* ExtraFloats(size_t i, const char* what) const;

  /*! \brief The weights' scales, or null where the weights are not int8. */
  const tvm::ffi::TensorView* WeightScales() const {
    return weight_scales ? &*weight_scales : nullptr;
  }

  const char* call;  //!< the call's name, for errors
};

/*! \brief Whether `t` holds int8 elements (a quantized model's weights). */
bool IsInt8(const tvm::ffi::TensorView& t);

/*!
 * \brief Throws unless `scales` holds one float32 scale for each of `channels` output channels
 *        (`prefix` names the call).
 */
void CheckWeightScales(const tvm::ffi::TensorView& scales, int64_t channels, const char* prefix);

}  // namespace plugins
}  // namespace ember

#endif  // EMBER_RUNTIME_CPP_PLUGINS_COMMON_OPERANDS_H_

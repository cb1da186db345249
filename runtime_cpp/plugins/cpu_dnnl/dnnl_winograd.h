/*!
 * \file dnnl_winograd.h
 * \brief 3 x 3, stride 1 convolutions as Winograd's F(4 x 4, 3 x 3) (a quarter of the direct
 *        convolution's multiplications) or F(2 x 2, 3 x 3), the products in oneDNN.
 *
 * Each 4 x 4 block of output pixels (a tile) reads a 6 x 6 window of the input. The window is
 * transformed (B^T d B), and so are the weights, once per process (G g G^T); the 36 points of
 * the transform are then 36 independent [tiles, C] x [C, O] products (one batched oneDNN
 * matmul), and the inverse transform (A^T m A) gives the 4 x 4 outputs, to which the call's
 * epilogue is applied. Tiles are taken in chunks whose size depends on the shape alone, and
 * each chunk is transformed, multiplied and transformed back by one thread while it is in
 * cache; so every output is summed alike whatever the thread count.
 *
 * Which convolutions run so is the compiler's choice (compiler/passes/winograd_convolutions.py:
 * `ember.dnnl.conv_winograd*`); the tile size is the plugin's: 4 x 4 on images of at least
 * kLargeTilePixels output pixels, else 2 x 2 (F(2 x 2, 3 x 3): 16 products, weights 16 / 9 of
 * their size rather than 36 / 9, where the weights outweigh the image).
 */
#ifndef EMBER_RUNTIME_CPP_PLUGINS_CPU_DNNL_DNNL_WINOGRAD_H_
#define EMBER_RUNTIME_CPP_PLUGINS_CPU_DNNL_DNNL_WINOGRAD_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "../common/epilogue.h"
#include "dnnl_context.h"

namespace ember {
namespace dnnl_plugin {

/*! \brief A 3 x 3, stride 1, undilated, ungrouped NHWC convolution with HWIO weights. */
struct WinogradConv {
  int64_t batch, in_h, in_w, in_c, out_h, out_w, out_c;
  int64_t pad_top, pad_left;
  int64_t weight_hash;  //!< the compiler's hash of the constant weights (nonzero)
};

/*!
 * \brief What a call resolves once from its shape and epilogue (the convolution's plan keeps
 *        it): the tile size, the two product kernels (chunks differ by a tile at most), the
 *        cache keys of their transformed weights, and how the epilogue is split between the
 *        output transform and a pass after it.
 */
struct WinogradPlan {
  WinogradConv conv;
  int tile = 4;  //!< output pixels per tile side: F(4 x 4, 3 x 3) or F(2 x 2, 3 x 3)
  std::shared_ptr<const Kernel> small, large;
  //! The transformed weights' cache keys; `large_pack` is empty where both kernels read one.
  std::string small_pack, large_pack;
  bool bias = false;
  //! The leading clips and residual add, applied by the output transform after the bias.
  std::vector<plugins::EpilogueStep> finish;
  //! The steps after those (an activation such as GELU), applied tile by tile.
  plugins::EpilogueSpec rest;
  std::vector<float> zeros;  //!< in_c zeros: the padding's pixels

  static std::shared_ptr<const WinogradPlan> Make(const WinogradConv& c, bool bias,
                                                  const std::vector<plugins::EpilogueStep>& steps);
};

/*!
 * \brief out [N, OH, OW, O] = the convolution of data [N, H, W, C] with weight [3, 3, C, O],
 *        then `bias` [O] (where the plan has one) and the epilogue's steps (`residual` is
 *        shaped like the output), on TVM's pool.
 */
void RunWinograd(const WinogradPlan& plan, const float* data, const float* weight,
                 const float* bias, const float* residual, float* out);

}  // namespace dnnl_plugin
}  // namespace ember

#endif  // EMBER_RUNTIME_CPP_PLUGINS_CPU_DNNL_DNNL_WINOGRAD_H_

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

#include "../common/epilogue.h"

namespace ember {
namespace dnnl_plugin {

/*! \brief A 3 x 3, stride 1, undilated, ungrouped NHWC convolution with HWIO weights. */
struct WinogradConv {
  int64_t batch, in_h, in_w, in_c, out_h, out_w, out_c;
  int64_t pad_top, pad_left;
  int64_t weight_hash;  //!< the compiler's hash of the constant weights (nonzero)
};

/*!
 * \brief out [N, OH, OW, O] = the convolution of data [N, H, W, C] with weight [3, 3, C, O],
 *        then `bias` [O] (where the epilogue has one) and the epilogue's steps (`residual` is
 *        shaped like the output), on TVM's pool.
 */
void RunWinograd(const WinogradConv& c, const float* data, const float* weight, const float* bias,
                 const float* residual, const plugins::EpilogueSpec& epilogue, float* out);

}  // namespace dnnl_plugin
}  // namespace ember

#endif  // EMBER_RUNTIME_CPP_PLUGINS_CPU_DNNL_DNNL_WINOGRAD_H_

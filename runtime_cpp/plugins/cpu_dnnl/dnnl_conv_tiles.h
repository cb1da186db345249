/*!
 * \file dnnl_conv_tiles.h
 * \brief How `ember.dnnl.conv_nhwc` cuts a convolution into tiles (dnnl_conv.cc runs them):
 *        its geometry, row tiles sized by the shape alone (so each output pixel is computed by
 *        the same kernel whatever the thread count), the input rows each tile reads, and
 *        channel tiles for images of few pixels and many output channels.
 */
#ifndef EMBER_RUNTIME_CPP_PLUGINS_CPU_DNNL_DNNL_CONV_TILES_H_
#define EMBER_RUNTIME_CPP_PLUGINS_CPU_DNNL_DNNL_CONV_TILES_H_

#include <tvm/ffi/container/shape.h>
#include <tvm/ffi/container/tensor.h>

#include <cstdint>

namespace ember {
namespace dnnl_plugin {

// A convolution's geometry as the plugin reads it: NHWC data, HWIO weights, one or more groups.
struct Conv {
  int64_t batch, in_h, in_w, in_c, out_h, out_w, out_c, kernel_h, kernel_w;
  int64_t stride_h, stride_w, pad_top, pad_left, pad_bottom, pad_right, dilation_h, dilation_w;
  int64_t groups, weight_hash;
  // A one-row image turned on its side for tiling (AsColumn): oneDNN is still given it as a
  // row, since its kernels vectorize along the width.
  bool sideways = false;

  // data [N, H, W, C] (or [N, W, C]), weight [KH, KW, C / groups, O] (or [KW, C / groups, O]),
  // out [N, OH, OW, O]; attrs [sh, sw, pt, pl, pb, pr, dh, dw, groups, weight hash].
  static Conv From(const tvm::ffi::TensorView& data, const tvm::ffi::TensorView& weight,
                   const tvm::ffi::TensorView& out, const tvm::ffi::Shape& attrs);
  int64_t InPerGroup() const { return in_c / groups; }
};

// Row tiles per image: up to kMaxTilesPerImage over the batch, none under kTileFlops of work
// unless the image itself is smaller, at most one per row. From the shape alone, so each output
// pixel is computed by the same kernel whatever the thread count; or, with `threads` > 0, up to
// one per thread instead, for a call whose numbers do not depend on its tiles (an int8 call's
// sums are exact): fewer, larger tiles run faster (MobileNetV2 int8 8.7%, ResNet-50 int8 3%
// faster in 2 tiles than in 8 on 2 threads, AMD EPYC Zen 4).
int64_t TilesPerImage(const Conv& c, int64_t threads);

// The first output row of tile `i` of `tiles`: the rows spread so that tile sizes differ by
// one at most and any run of consecutive tiles (what one thread of the pool takes) holds its
// share of the rows: 14 rows in 8 tiles are 1,2,2,2,1,2,2,2, so each half holds 7.
int64_t FirstRow(const Conv& c, int64_t i, int64_t tiles);

// The convolution seen as one column of pixels where that is the same arithmetic and memory,
// since tiles split rows: a one-row image (a 1-D convolution: wav2vec2's feature extractor,
// Whisper's front end) is turned on its side, window and all, for tiling (oneDNN still sees
// each tile as a row: `sideways`), and a pointwise convolution's image is flattened, H x W
// pixels in one column. NHWC bytes do not change either way.
Conv AsColumn(Conv c);

// Input rows [first, first + count) and the padding a tile of output rows [r0, r1) needs.
struct RowWindow {
  int64_t first, count, pad_top, pad_bottom;
};

RowWindow WindowOf(const Conv& c, int64_t r0, int64_t r1);

// Output channels per channel tile (all of them: tile by rows), from the shape alone (or, with
// `threads` > 0, at most one tile per thread, as in TilesPerImage). At most `wanted` tiles, of
// a width that splits evenly over 2 threads, then over 4, then the narrowest: MobileNetV2's
// 160 channels in 5 tiles of 32 kept one of 2 threads idle for a fifth of each call; in 2
// tiles of 80 neither waits.
int64_t ChannelTileWidth(const Conv& c, int64_t threads);

}  // namespace dnnl_plugin
}  // namespace ember

#endif  // EMBER_RUNTIME_CPP_PLUGINS_CPU_DNNL_DNNL_CONV_TILES_H_

#include "dnnl_conv_tiles.h"

#include <tvm/ffi/error.h>

#include <algorithm>
#include <utility>

#include "dnnl_context.h"

namespace ember {
namespace dnnl_plugin {

using tvm::ffi::Shape;
using tvm::ffi::TensorView;

namespace {

// Work of one tile worth a task of the pool: below it, the fixed cost of running a primitive
// (microseconds) is a visible share of the tile's time.
constexpr int64_t kTileFlops = int64_t{1} << 20;
constexpr int64_t kDepthwiseTileDivisor = 8;
// Tiles per image at most: enough to keep a few threads busy on batch 1.
constexpr int64_t kMaxTilesPerImage = 8;

// Output channels per channel tile: a multiple of oneDNN's 16-channel blocks.
constexpr int64_t kChannelBlock = 16;
// Images of at most this many output pixels are tiled by output channels when they have
// enough of them: tiles of a few pixels would each read all the weights (4 MB in ResNet-50's
// last stage) for little arithmetic, and 7 rows do not split evenly over 2 threads.
constexpr int64_t kChannelTilePixels = 64;
constexpr int64_t kChannelTileMinChannels = 128;

// Tiles an image may take: one per thread where `threads` > 0 (see TilesPerImage), else
// kMaxTilesPerImage.
int64_t MostTiles(int64_t threads) { return threads > 0 ? threads : kMaxTilesPerImage; }

}  // namespace

Conv Conv::From(const TensorView& data, const TensorView& weight, const TensorView& out,
                const Shape& attrs) {
  const bool one_d = data.ndim() == 3;
  if (data.ndim() != (one_d ? 3 : 4) || weight.ndim() != data.ndim() || out.ndim() != data.ndim() ||
      attrs.size() < 10) {
    TVM_FFI_THROW(ValueError) << "ember.dnnl.conv_nhwc: unexpected operand ranks";
  }
  auto dim = [one_d](const TensorView& t, int i) -> int64_t {
    if (!one_d) return t.shape()[i];
    return i == 0 ? t.shape()[0] : (i == 1 ? 1 : t.shape()[i - 1]);
  };
  Conv c{dim(data, 0), dim(data, 1), dim(data, 2),   dim(data, 3),   dim(out, 1),
         dim(out, 2),  dim(out, 3),  dim(weight, 0), dim(weight, 1), attrs[0],
         attrs[1],     attrs[2],     attrs[3],       attrs[4],       attrs[5],
         attrs[6],     attrs[7],     attrs[8],       attrs[9],       false};
  if (one_d) {  // a 1-D window along the width
    c.kernel_h = 1;
    c.kernel_w = weight.shape()[0];
  }
  return c;
}

int64_t TilesPerImage(const Conv& c, int64_t threads) {
  const int64_t row_flops = 2 * c.out_w * c.out_c * c.InPerGroup() * c.kernel_h * c.kernel_w;
  // A depthwise convolution does a few flops per byte it moves: its tiles are worth a task at
  // a fraction of the flops.
  const int64_t tile_flops = c.InPerGroup() == 1 ? kTileFlops / kDepthwiseTileDivisor : kTileFlops;
  const int64_t by_work = std::max<int64_t>(1, c.out_h * row_flops / tile_flops);
  const int64_t by_batch = std::max<int64_t>(1, CeilDiv(MostTiles(threads), c.batch));
  return std::min({c.out_h, by_work, by_batch});
}

int64_t FirstRow(const Conv& c, int64_t i, int64_t tiles) { return i * c.out_h / tiles; }

Conv AsColumn(Conv c) {
  const bool one_row = c.in_h == 1 && c.out_h == 1 && c.kernel_h == 1 && c.pad_top == 0 &&
                       c.pad_bottom == 0 && c.in_w > 1;
  if (one_row) {
    std::swap(c.in_h, c.in_w);
    std::swap(c.out_h, c.out_w);
    std::swap(c.kernel_h, c.kernel_w);
    std::swap(c.stride_h, c.stride_w);
    std::swap(c.dilation_h, c.dilation_w);
    c.pad_top = c.pad_left;
    c.pad_bottom = c.pad_right;
    c.pad_left = c.pad_right = 0;
    c.sideways = true;
  }
  const bool pointwise = c.kernel_h == 1 && c.kernel_w == 1 && c.stride_h == 1 && c.stride_w == 1 &&
                         c.pad_top == 0 && c.pad_left == 0 && c.pad_bottom == 0 && c.pad_right == 0;
  if (!pointwise) return c;
  c.sideways = false;  // a pointwise kernel runs as well on a column
  c.in_h = c.out_h = c.out_h * c.out_w;
  c.in_w = c.out_w = 1;
  return c;
}

RowWindow WindowOf(const Conv& c, int64_t r0, int64_t r1) {
  const int64_t begin = r0 * c.stride_h - c.pad_top;
  const int64_t end = (r1 - 1) * c.stride_h - c.pad_top + (c.kernel_h - 1) * c.dilation_h + 1;
  const int64_t first = std::max<int64_t>(0, begin), last = std::min(c.in_h, end);
  return {first, std::max<int64_t>(0, last - first), first - begin, end - std::max(first, last)};
}

int64_t ChannelTileWidth(const Conv& c, int64_t threads) {
  if (c.groups != 1 || c.out_c < kChannelTileMinChannels ||
      c.out_h * c.out_w > kChannelTilePixels) {
    return c.out_c;
  }
  const int64_t flops = 2 * c.out_h * c.out_w * c.out_c * c.in_c * c.kernel_h * c.kernel_w;
  const int64_t wanted = std::clamp<int64_t>(flops / kTileFlops, 1, MostTiles(threads));
  int64_t best = std::min(c.out_c, RoundUp(CeilDiv(c.out_c, wanted), kChannelBlock));
  const auto cost = [&](int64_t width) {
    return std::make_pair(TileImbalance(c.out_c, width, 2), TileImbalance(c.out_c, width, 4));
  };
  for (int64_t width = best + kChannelBlock; width < c.out_c; width += kChannelBlock) {
    if (cost(width) < cost(best)) best = width;
  }
  return best;
}

}  // namespace dnnl_plugin
}  // namespace ember

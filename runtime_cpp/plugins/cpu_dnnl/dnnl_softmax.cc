/*!
 * \file dnnl_softmax.cc
 * \brief `ember.dnnl.softmax`: softmax over the last axis of a float32 tensor, in oneDNN.
 *
 * The compiler sends only softmaxes whose rows TVM's default schedule cannot vectorize whole
 * (a width that is not a multiple of 8: ViT's 197 tokens, Whisper's 1500 frames); oneDNN's
 * kernel handles any width, the tail included. Tiles are runs of whole rows, sized by the
 * shape alone; each row is computed by one primitive whatever the thread count.
 */
#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/function.h>
#include <tvm/ffi/reflection/registry.h>

#include <algorithm>
#include <cstdint>
#include <dnnl.hpp>
#include <string>

#include "../common/operands.h"
#include "../common/parallel_for.h"
#include "dnnl_context.h"

namespace ember {
namespace dnnl_plugin {
namespace {

using dnnl::memory;
using tvm::ffi::TensorView;

// Elements per tile: enough work to be worth a task of the pool, small enough for L2.
constexpr int64_t kTileElements = int64_t{1} << 15;
// Rows per call on a matmul tile: its tiles have at most 64 or 256 rows; one call for them all.
constexpr int64_t kTileRowsInPlace = 256;

std::shared_ptr<const Kernel> RowsKernel(int64_t rows, int64_t width) {
  const std::string key = "softmax|" + std::to_string(rows) + '|' + std::to_string(width);
  return CachedKernel(key, [&] {
    const memory::desc rows_desc({rows, width}, memory::data_type::f32, memory::format_tag::ab);
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    const dnnl::softmax_forward::primitive_desc pd(Engine(), dnnl::prop_kind::forward_inference,
                                                   dnnl::algorithm::softmax_accurate, rows_desc,
                                                   rows_desc, /*axis=*/1, attr);
    return Kernel{dnnl::softmax_forward(pd),
                  pd.src_desc(),
                  memory::desc(),  // no weights
                  pd.dst_desc(),
                  pd.scratchpad_desc().get_size(),
                  memory::desc(),  // no bias
                  -1,
                  {},  // the source is read as given
                  {}};
  });
}

}  // namespace

void SoftmaxRowsInPlace(float* data, int64_t rows, int64_t width) {
  for (int64_t first = 0; first < rows; first += kTileRowsInPlace) {
    const int64_t count = std::min(kTileRowsInPlace, rows - first);
    Execute(*RowsKernel(count, width), data + first * width, nullptr, data + first * width);
  }
}

namespace {

void Softmax(TensorView x, TensorView out) {
  const int64_t width = plugins::SoftmaxRowWidth(x, out);
  if (width == 0) return;
  const int64_t rows = x.numel() / width;
  const int64_t rows_per_tile = std::clamp<int64_t>(kTileElements / width, 1, rows);
  const int64_t tiles = (rows + rows_per_tile - 1) / rows_per_tile;
  const float* src = Data(x);
  float* dst = Data(out);
  plugins::ParallelFor(tiles, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t first = t * rows_per_tile;
      const int64_t count = std::min(rows_per_tile, rows - first);
      const auto kernel = RowsKernel(count, width);
      Execute(*kernel, src + first * width, nullptr, dst + first * width);
    }
  });
}

}  // namespace
}  // namespace dnnl_plugin
}  // namespace ember

TVM_FFI_STATIC_INIT_BLOCK() {
  namespace refl = tvm::ffi::reflection;
  refl::GlobalDef().def("ember.dnnl.softmax", ember::dnnl_plugin::Softmax);
}

/*!
 * \file dnnl_conv.cc
 * \brief `ember.dnnl.conv_nhwc`: NHWC/HWIO conv2d (and NWC/WIO conv1d, as height 1) in oneDNN,
 *        every group count included (depthwise too), any stride, padding and dilation;
 *        `ember.dnnl.conv_nhwc_epilogue` also adds a bias and applies activations (Epilogue).
 *
 * Tiles: blocks of output rows of one image, sized by the shape alone, so each output pixel is
 * computed by the same kernel whatever the thread count (an int8 call's, whose sums are exact
 * in any tile, follow the thread count: fewer, larger tiles). A block reads the input rows its
 * windows cover, with the padding of the image's edges where it touches them. A pointwise
 * convolution (1 x 1, stride 1, no padding) is tiled by pixels instead, the image flattened to
 * one column: a 7 x 7 image's 49 pixels split evenly where its 7 rows cannot; a 1-D convolution
 * (one row) is turned on its side, its pixels tiled as rows. An image of few
 * pixels and many output channels (ResNet-50's last stage) is tiled by output channels: each
 * tile reads only its slice of the weights, not all of them for a few pixels; it writes a dense
 * buffer that is copied into place (oneDNN runs strided outputs on its reference kernel).
 * Depthwise tiles are smaller: little arithmetic per byte. The weights, a constant the compiler
 * hashed, are packed once (per channel tile) into the layout the kernel reads; in a bf16 call
 * they are stored as bf16, and each tile's input rows are rounded just before its kernel reads
 * them (channel tiles share one rounded image); an int8 call's are int8, with their scales
 * per output channel as an operand of their own.
 */
#include <tvm/ffi/container/shape.h>
#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/error.h>
#include <tvm/ffi/function.h>
#include <tvm/ffi/reflection/registry.h>

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "../common/operands.h"
#include "../common/parallel_for.h"
#include "dnnl_context.h"
#include "dnnl_conv_tiles.h"
#include "dnnl_winograd.h"

namespace ember {
namespace dnnl_plugin {
namespace {

using dnnl::memory;
using tvm::ffi::Shape;
using tvm::ffi::TensorView;

// The weights as stored (HWIO: float32, or a bf16 or int8 call's bf16 or int8), described in
// oneDNN's logical order ([g,] O, I, KH, KW); with `channels`, only that many output channels of
// them (a channel tile, ungrouped).
memory::desc PlainWeights(const Conv& c, int64_t channels = 0,
                          memory::data_type type = memory::data_type::f32) {
  const int64_t i = c.InPerGroup(), o = c.out_c;
  // As oneDNN is given the window: a sideways conv's column window is a row again.
  const int64_t kh = c.sideways ? c.kernel_w : c.kernel_h;
  const int64_t kw = c.sideways ? c.kernel_h : c.kernel_w;
  if (c.groups == 1) {
    return memory::desc({channels > 0 ? channels : o, i, kh, kw}, type,
                        memory::dims{1, o, kw * i * o, i * o});
  }
  return memory::desc({c.groups, o / c.groups, i, kh, kw}, type,
                      memory::dims{o / c.groups, 1, o, kw * i * o, i * o});
}

// The output-channel dimensions of PlainWeights: int8 scales are per output channel.
int ChannelMask(const Conv& c) { return c.groups == 1 ? 1 << 0 : (1 << 0) | (1 << 1); }

// The kernel of a tile of `rows` output rows and `channels` output channels (all of them, or a
// channel tile, which writes a dense [rows, out_w, channels] buffer of its own).
// A bf16 or int8 kernel with packed weights reads its source as bf16 or 8-bit: converted per
// tile, or already (`rounded_src`: by the caller, or written so by the call before); it
// writes `out_type` (float32, or bf16 or 8-bit for the call after) and adds a residual of
// `residual_type` where the epilogue has one.
std::shared_ptr<const Kernel> TileKernel(const Conv& c, const RowWindow& w, int64_t rows,
                                         int64_t channels, const Epilogue& epilogue,
                                         bool rounded_src, memory::data_type out_type,
                                         memory::data_type residual_type) {
  std::ostringstream key;
  key << "conv|" << c.in_w << '|' << c.in_c << '|' << c.out_w << '|' << c.out_c << '|' << c.kernel_h
      << '|' << c.kernel_w << '|' << c.stride_h << '|' << c.stride_w << '|' << c.pad_left << '|'
      << c.pad_right << '|' << c.dilation_h << '|' << c.dilation_w << '|' << c.groups << '|'
      << w.count << '|' << w.pad_top << '|' << w.pad_bottom << '|' << rows << '|' << channels << '|'
      << (c.weight_hash != 0 ? 'p' : 'u') << '|' << c.sideways << '|' << rounded_src
      << static_cast<int>(out_type) << '|' << static_cast<int>(residual_type) << '|'
      << epilogue.key;
  return CachedKernel(key.str(), [&] {
    // One image's rows, dense NHWC: the image stride is that of the tile itself. A sideways
    // tile is one row of `rows` pixels (the same bytes).
    const int64_t in_rows = c.sideways ? 1 : w.count, in_cols = c.sideways ? w.count : c.in_w;
    const int64_t out_rows = c.sideways ? 1 : rows, out_cols = c.sideways ? rows : c.out_w;
    // Weights read as stored stay float32 (Epilogue::Attributes rounds them inside).
    const bool packed = c.weight_hash != 0;
    const memory::data_type src_type = packed ? epilogue.SourceType() : memory::data_type::f32;
    const memory::data_type weights_type = packed ? epilogue.WeightsType() : memory::data_type::f32;
    const memory::dims src_dims{1, c.in_c, in_rows, in_cols};
    const memory::dims src_strides{in_rows * in_cols * c.in_c, 1, in_cols * c.in_c, c.in_c};
    const memory::desc given_src(src_dims, memory::data_type::f32, src_strides);
    const memory::desc src(src_dims, src_type, src_strides);
    memory::desc dst(
        {1, channels, out_rows, out_cols}, out_type,
        memory::dims{out_rows * out_cols * channels, 1, out_cols * channels, channels});
    memory::desc plain = PlainWeights(c, channels == c.out_c ? 0 : channels);
    memory::desc weights =
        packed ? memory::desc(plain.get_dims(), weights_type, memory::format_tag::any) : plain;
    const dnnl::primitive_attr attr =
        epilogue.Attributes(dst, !packed, ChannelMask(c), residual_type);
    memory::dims strides{c.stride_h, c.stride_w};
    memory::dims dilates{c.dilation_h - 1, c.dilation_w - 1};
    memory::dims pad_begin{w.pad_top, c.pad_left}, pad_end{w.pad_bottom, c.pad_right};
    if (c.sideways) {
      for (memory::dims* pair : {&strides, &dilates, &pad_begin, &pad_end}) {
        std::swap((*pair)[0], (*pair)[1]);
      }
    }
    auto make = [&](const memory::desc* bias) {
      const auto kind = dnnl::prop_kind::forward_inference;
      const auto algorithm = dnnl::algorithm::convolution_direct;
      if (bias == nullptr) {
        return dnnl::convolution_forward::primitive_desc(Engine(), kind, algorithm, src, weights,
                                                         dst, strides, dilates, pad_begin, pad_end,
                                                         attr);
      }
      return dnnl::convolution_forward::primitive_desc(Engine(), kind, algorithm, src, weights,
                                                       *bias, dst, strides, dilates, pad_begin,
                                                       pad_end, attr);
    };
    const memory::desc bias({channels}, memory::data_type::f32, memory::format_tag::a);
    auto pd = make(epilogue.bias ? &bias : nullptr);
    Kernel kernel = KernelOf<dnnl::convolution_forward>(pd, epilogue);
    kernel.residual_type = residual_type;
    return rounded_src ? kernel : WithSourceConversion(std::move(kernel), given_src);
  });
}

// The convolution as Winograd sees it.
WinogradConv AsWinograd(const Conv& c) {
  return {c.batch, c.in_h,  c.in_w,    c.in_c,     c.out_h,
          c.out_w, c.out_c, c.pad_top, c.pad_left, c.weight_hash};
}

// Throws unless the call can run as Winograd's algorithm (the compiler sends only those:
// compiler/passes/winograd_convolutions.py): a float32 3 x 3, stride 1 convolution of constant
// weights, one group, no dilation.
void CheckWinograd(const Conv& c, const Epilogue& epilogue, memory::data_type in_type,
                   memory::data_type out_type) {
  const auto f32 = memory::data_type::f32;
  if (c.kernel_h != 3 || c.kernel_w != 3 || c.stride_h != 1 || c.stride_w != 1 ||
      c.dilation_h != 1 || c.dilation_w != 1 || c.groups != 1 || c.sideways) {
    TVM_FFI_THROW(ValueError) << "ember.dnnl.conv_winograd: needs a 3 x 3, stride 1, undilated, "
                                 "ungrouped convolution";
  }
  if (in_type != f32 || out_type != f32 || epilogue.bf16 || epilogue.int8 || epilogue.softmax ||
      c.weight_hash == 0) {
    TVM_FFI_THROW(ValueError) << "ember.dnnl.conv_winograd: needs float32 data and constant "
                                 "weights";
  }
}

// What a call resolves from its shapes and attributes: each tile of an image (a few kernels
// differ: tiles differ by a row at most, and the top and bottom edges' padding; or channel
// tiles, the last maybe narrower) and the packed weights they read.
struct ConvPlan {
  Conv conv;
  struct Tile {
    RowWindow window;
    int64_t first_row;
    int64_t first_channel, channels;  // all of the output's, or a channel tile
    std::shared_ptr<const Kernel> kernel;
    int pack;  // index into packs, or -1: the weights are read as stored
  };
  struct Pack {
    std::string key;
    int64_t first_channel;  // where its slice of the stored weights starts
    memory::desc plain;     // that slice as stored
    memory::desc layout;    // as the kernel reads it
  };
  std::vector<Tile> tiles;
  std::vector<Pack> packs;
  Epilogue epilogue;
  // bf16 and int8 channel tiles: each reads the whole image, so it is converted once for all.
  bool round_source = false;
  // The operands' element types: bf16 or 8-bit where the call before wrote it so, or the
  // call after reads it (the compiler decides: passes/library_precision.py and
  // quantized_library_calls.py).
  memory::data_type in_type = memory::data_type::f32, out_type = memory::data_type::f32;
  // Run as Winograd's algorithm instead (no tiles or packs of its own here), or null.
  std::shared_ptr<const WinogradPlan> winograd = nullptr;

  bool ChannelTiled() const { return tiles.size() > 0 && tiles[0].channels != conv.out_c; }

  // `threads`: the pool's, for an int8 call's tiles (TilesPerImage); 0 for others.
  static ConvPlan Make(const Conv& c, const Epilogue& epilogue, memory::data_type in_type,
                       memory::data_type out_type, memory::data_type residual_type,
                       memory::data_type weights_type, bool winograd, int64_t threads) {
    const auto f32 = memory::data_type::f32, bf16 = memory::data_type::bf16;
    const bool bf16_in = in_type == bf16, bf16_out = out_type == bf16;
    const bool int8_in = in_type != f32 && !bf16_in, int8_out = out_type != f32 && !bf16_out;
    if (int8_in && (!epilogue.int8 || in_type != epilogue.SourceType())) {
      TVM_FFI_THROW(TypeError) << "ember.dnnl.conv_nhwc: 8-bit data needs an int8 call "
                                  "quantizing its source to the same type";
    }
    if (int8_out && (!epilogue.quantized_output ||
                     (out_type == memory::data_type::s8) != epilogue.output.is_signed)) {
      TVM_FFI_THROW(TypeError) << "ember.dnnl.conv_nhwc: an 8-bit output needs an int8 call "
                                  "with the output's grid";
    }
    if (epilogue.softmax) {
      TVM_FFI_THROW(ValueError) << "ember.dnnl.conv_nhwc: a softmax epilogue is for matmuls only";
    }
    CheckStoredWeights(epilogue, weights_type, c.weight_hash != 0, "ember.dnnl.conv_nhwc");
    if ((bf16_in || bf16_out) && (!epilogue.bf16 || c.weight_hash == 0)) {
      TVM_FFI_THROW(TypeError) << "ember.dnnl.conv_nhwc: bfloat16 data or output needs a bf16 "
                                  "call with constant weights";
    }
    // An 8-bit residual is added as its integers: the compiler scales around the add.
    const bool int8_residual =
        residual_type == memory::data_type::u8 || residual_type == memory::data_type::s8;
    if (residual_type != f32 && !(residual_type == bf16 && epilogue.bf16) &&
        !(int8_residual && epilogue.int8)) {
      TVM_FFI_THROW(TypeError) << "ember.dnnl.conv_nhwc: a residual is float32, bfloat16 in a "
                                  "bf16 call, or 8-bit in an int8 call";
    }
    ConvPlan plan{c, {}, {}, epilogue};
    plan.in_type = in_type;
    plan.out_type = out_type;
    if (winograd) {
      // A bf16 residual needs a bf16 call (checked above), which Winograd's is not.
      CheckWinograd(c, epilogue, in_type, out_type);
      plan.winograd = WinogradPlan::Make(AsWinograd(c), epilogue.bias, epilogue.steps);
      return plan;
    }
    const int64_t width = ChannelTileWidth(c, threads);
    const int64_t channel_tiles = CeilDiv(c.out_c, width);
    plan.round_source = (epilogue.bf16 || epilogue.int8) && c.weight_hash != 0 &&
                        channel_tiles > 1 && in_type == f32;
    const int64_t row_tiles = channel_tiles > 1 ? 1 : TilesPerImage(c, threads);
    for (int64_t i = 0; i < row_tiles * channel_tiles; ++i) {
      const int64_t r0 = FirstRow(c, i % row_tiles, row_tiles);
      const int64_t r1 = FirstRow(c, i % row_tiles + 1, row_tiles);
      const int64_t c0 = (i / row_tiles) * width;
      const int64_t channels = std::min(width, c.out_c - c0);
      Tile tile{WindowOf(c, r0, r1), r0, c0, channels, nullptr, -1};
      if (tile.window.count == 0) {
        TVM_FFI_THROW(ValueError) << "ember.dnnl.conv_nhwc: output rows see only padding";
      }
      tile.kernel = TileKernel(c, tile.window, r1 - r0, channels, epilogue,
                               plan.round_source || in_type != f32, out_type, residual_type);
      if (c.weight_hash != 0) {
        const memory::desc& layout = tile.kernel->weights;
        auto known = std::find_if(plan.packs.begin(), plan.packs.end(), [&](const Pack& p) {
          return p.first_channel == c0 && p.layout == layout;
        });
        if (known == plan.packs.end()) {
          const memory::desc plain =
              PlainWeights(c, channels == c.out_c ? 0 : channels, weights_type);
          plan.packs.push_back(
              {PackKey(c.weight_hash, c0, plain, layout, epilogue), c0, plain, layout});
          known = std::prev(plan.packs.end());
        }
        tile.pack = static_cast<int>(known - plan.packs.begin());
      }
      plan.tiles.push_back(std::move(tile));
    }
    return plan;
  }
};

// `weight_scales`: int8 weights' scales per output channel (an int8 call's), else null.
void Run(const TensorView& data, const TensorView& weight, const TensorView* weight_scales,
         const float* bias, const TensorView* residual, const Shape& attrs, const TensorView& out,
         bool winograd = false) {
  const memory::data_type in_type = ActivationType(data, "conv data");
  const memory::data_type weights_type = StoredWeightsType(
      weight, weight_scales, weight.ndim() > 0 ? weight.shape()[weight.ndim() - 1] : 0,
      "ember.dnnl.conv_nhwc");
  const memory::data_type out_type = ActivationType(out, "conv output");
  const memory::data_type residual_type =
      residual ? ActivationType(*residual, "conv residual") : memory::data_type::f32;
  if (out.numel() == 0) return;
  if (data.numel() == 0 || weight.numel() == 0) {
    TVM_FFI_THROW(ValueError) << "ember.dnnl.conv_nhwc: empty input or weight";
  }
  static PlanCache<ConvPlan> plans;
  PlanCache<ConvPlan>::Key key;
  AppendShape(data, &key);
  AppendShape(weight, &key);
  AppendShape(out, &key);
  key.insert(key.end(), attrs.begin(), attrs.end());
  key.push_back(static_cast<int64_t>(in_type));
  key.push_back(static_cast<int64_t>(out_type));
  key.push_back(static_cast<int64_t>(residual_type));
  key.push_back(static_cast<int64_t>(weights_type));
  key.push_back(winograd);
  // An int8 call's tiles follow the pool's size (its numbers do not depend on them).
  const int64_t threads = weight_scales != nullptr ? plugins::ParallelThreads() : 0;
  key.push_back(threads);
  const auto plan = plans.Get(key, [&] {
    return ConvPlan::Make(AsColumn(Conv::From(data, weight, out, attrs)),
                          Epilogue::Decode(attrs, 10), in_type, out_type, residual_type,
                          weights_type, winograd, threads);
  });
  const Conv& c = plan->conv;
  // Float32 weights, or a bf16 or int8 call's bf16 or int8 ones (always packed).
  const float* w = static_cast<const float*>(static_cast<const void*>(Bytes(weight)));
  const int64_t w_size = static_cast<int64_t>(memory::data_type_size(weights_type));
  const float* scales = weight_scales ? Data(*weight_scales) : nullptr;
  const Residual added{residual ? Bytes(*residual) : nullptr,
                       memory::data_type_size(residual_type)};
  if (plan->winograd) {
    RunWinograd(*plan->winograd, Data(data), w, bias, residual ? Data(*residual) : nullptr,
                Data(out));
    return;
  }
  // The packed weights, looked up per call: the cache may have released a pack since.
  std::vector<std::shared_ptr<const void>> packs;
  for (const ConvPlan::Pack& pack : plan->packs) {
    packs.push_back(PackWeights(plan->epilogue, pack.key, pack.plain,
                                Bytes(weight) + pack.first_channel * w_size, pack.layout,
                                ChannelMask(c), scales ? scales + pack.first_channel : nullptr));
  }
  const int64_t in_image = c.in_h * c.in_w * c.in_c, out_image = c.out_h * c.out_w * c.out_c;
  const int64_t tiles_per_image = static_cast<int64_t>(plan->tiles.size());
  const bool channel_tiled = plan->ChannelTiled();
  const float* x = Data(data);
  // Output elements are bf16 or float32: addressed in bytes.
  char* y = Bytes(out);
  const int64_t y_size = static_cast<int64_t>(memory::data_type_size(out_type));
  // The caller's thread holds the converted source while the pool's threads read it (through
  // `x_converted`: inside the tasks, `converted` would name each pool thread's own).
  thread_local std::vector<char> converted;
  if (plan->round_source) {
    converted.resize(static_cast<size_t>(data.numel()) * 2);  // bf16 (2 bytes) or 8-bit
    ConvertSource(x, converted.data(), data.numel(), plan->epilogue);
  }
  const bool converted_in = in_type != memory::data_type::f32;
  const void* x_converted = converted_in ? static_cast<const void*>(Bytes(data)) : converted.data();
  plugins::ParallelFor(c.batch * tiles_per_image, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t n = t / tiles_per_image;
      const ConvPlan::Tile& tile = plan->tiles[t % tiles_per_image];
      const void* weights = tile.pack >= 0 ? packs[tile.pack].get()
                                           : static_cast<const void*>(w + tile.first_channel);
      const void* src = TileSource(*tile.kernel, x, x_converted,
                                   n * in_image + tile.window.first * c.in_w * c.in_c);
      const int64_t at = n * out_image + tile.first_row * c.out_w * c.out_c;
      const float* tile_bias = bias ? bias + tile.first_channel : nullptr;
      if (!channel_tiled) {
        Execute(*tile.kernel, src, weights, y + at * y_size, tile_bias,
                added.data ? added.data + at * added.elem_size : nullptr);
        continue;
      }
      // A channel tile writes (and reads its residual from) dense buffers of its own: oneDNN
      // runs strided outputs on its reference kernel.
      ExecuteDense(*tile.kernel, src, weights, tile_bias, added, y, y_size, at + tile.first_channel,
                   c.out_h * c.out_w, tile.channels, c.out_c);
    }
  });
}

// The entry points, each registered twice: direct (`ember.dnnl.conv_nhwc*`) and by
// Winograd's algorithm (`ember.dnnl.conv_winograd*`, dnnl_winograd.h). DPS: data, weight
// (int8 weights followed by their scales per output channel), `kExtra` tensors (a bias [O],
// then a residual shaped like the output: float32, bf16 in a bf16 call, or 8-bit in an int8
// call, added as its integers), attrs (with the epilogue), then the output.
template <int kExtra, bool kWinograd>
void Entry(tvm::ffi::PackedArgs args, const char* name) {
  const plugins::LibraryOperands ops = plugins::LibraryOperands::Read(args, kExtra, name);
  Run(ops.source, ops.weights, ops.WeightScales(), ops.ExtraFloats(0, "the bias"),
      kExtra >= 2 ? &ops.extra[1] : nullptr, ops.attrs, ops.out, kWinograd);
}

// `Entry` as a packed function: `name` names the call in its errors.
template <int kExtra, bool kWinograd>
auto EntryFor(const char* name) {
  return
      [name](tvm::ffi::PackedArgs args, tvm::ffi::Any*) { Entry<kExtra, kWinograd>(args, name); };
}

}  // namespace
}  // namespace dnnl_plugin
}  // namespace ember

TVM_FFI_STATIC_INIT_BLOCK() {
  namespace refl = tvm::ffi::reflection;
  using ember::dnnl_plugin::EntryFor;
  refl::GlobalDef()
      .def_packed("ember.dnnl.conv_nhwc", EntryFor<0, false>("ember.dnnl.conv_nhwc"))
      .def_packed("ember.dnnl.conv_nhwc_epilogue",
                  EntryFor<1, false>("ember.dnnl.conv_nhwc_epilogue"))
      .def_packed("ember.dnnl.conv_nhwc_residual",
                  EntryFor<2, false>("ember.dnnl.conv_nhwc_residual"))
      .def_packed("ember.dnnl.conv_winograd", EntryFor<0, true>("ember.dnnl.conv_winograd"))
      .def_packed("ember.dnnl.conv_winograd_epilogue",
                  EntryFor<1, true>("ember.dnnl.conv_winograd_epilogue"))
      .def_packed("ember.dnnl.conv_winograd_residual",
                  EntryFor<2, true>("ember.dnnl.conv_winograd_residual"));
}

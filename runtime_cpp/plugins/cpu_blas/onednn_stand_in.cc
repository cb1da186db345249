/*!
 * \file onednn_stand_in.cc
 * \brief The oneDNN plugin's calls (`ember.dnnl.*`) on OpenBLAS, for a machine where that
 *        plugin cannot load (its libdnnl or libgomp missing) or is turned off (EMBER_ONEDNN=0).
 *
 * The runtime registers these only after the oneDNN plugin failed to load, by calling
 * `ember_cpu_blas_stand_in_for_onednn`, and says so on one line: an artifact compiled where
 * oneDNN worked still runs, slower, instead of failing to load. The operands and attributes are
 * the oneDNN plugin's (dnnl_matmul.cc, dnnl_conv.cc); the weight hashes, which only key its
 * packed copies, are ignored here. The epilogue runs as one pass over each output tile;
 * softmax is a plain loop per row. Reduced precision is computed in float32: a bf16 call's
 * operands are not rounded (those stored or passed as bf16 are widened exactly), an int8 call's
 * source is rounded to its quantization grid (as the QuantizeLinear -> DequantizeLinear pair the
 * compiler folded into it would) and its int8 weights (stored so, with their scales) are
 * dequantized as the model's DequantizeLinear would. Activations the compiler passes between
 * chained bf16 calls as bfloat16 are widened on the way in and rounded to nearest even on the way
 * out, as oneDNN writes them.
 */
#include <tvm/ffi/container/shape.h>
#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/error.h>
#include <tvm/ffi/function.h>
#include <tvm/ffi/reflection/registry.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "../common/epilogue.h"
#include "../common/operands.h"
#include "../common/parallel_for.h"
#include "blas_kernels.h"

namespace ember {
namespace blas {
namespace {

using plugins::EpilogueSpec;
using tvm::ffi::Shape;
using tvm::ffi::TensorView;

constexpr int64_t kEpilogueRowsPerTask = 64;

bool IsEightBit(const TensorView& t) {
  const DLDataType d = t.dtype();
  return (d.code == kDLUInt || d.code == kDLInt) && d.bits == 8 && d.lanes == 1;
}

bool IsBf16(const TensorView& t) {
  const DLDataType d = t.dtype();
  return d.code == kDLBfloat && d.bits == 16 && d.lanes == 1 && t.IsContiguous();
}

const uint16_t* Bf16(const TensorView& t) {
  return reinterpret_cast<const uint16_t*>(static_cast<const char*>(t.data_ptr()) +
                                           t.byte_offset());
}

// A float32 tensor shaped like `like`, owning its values (a source converted to float32, or
// an output computed in float32 before it is narrowed).
class FloatTensor {
 public:
  explicit FloatTensor(const TensorView& like)
      : values_(static_cast<size_t>(like.numel())), tensor_{} {
    tensor_.dtype = DLDataType{kDLFloat, 32, 1};
    tensor_.data = values_.data();
    tensor_.device = like.device();
    tensor_.ndim = like.ndim();
    tensor_.shape = const_cast<int64_t*>(like.shape().data());
    tensor_.strides = nullptr;
    tensor_.byte_offset = 0;
  }
  // Moving keeps the values' buffer, which `tensor_` points at; a copy would not.
  FloatTensor(FloatTensor&&) = default;
  FloatTensor(const FloatTensor&) = delete;
  FloatTensor& operator=(const FloatTensor&) = delete;
  TensorView view() const { return TensorView(&tensor_); }
  float* data() { return values_.data(); }
  const float* data() const { return values_.data(); }

 private:
  std::vector<float> values_;
  DLTensor tensor_;
};

// A bf16 activation widened to float32 (exact).
FloatTensor Widened(const TensorView& x) {
  FloatTensor wide(x);
  const uint16_t* from = Bf16(x);
  float* to = wide.data();
  plugins::ParallelFor(x.numel(), 1 << 14, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const uint32_t bits = static_cast<uint32_t>(from[i]) << 16;
      std::memcpy(to + i, &bits, sizeof(float));
    }
  });
  return wide;
}

// `values` rounded to bf16 (nearest, ties to even; NaN stays NaN) into `out`.
void Narrow(const float* values, const TensorView& out) {
  uint16_t* to = const_cast<uint16_t*>(Bf16(out));
  plugins::ParallelFor(out.numel(), 1 << 14, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      uint32_t bits;
      std::memcpy(&bits, values + i, sizeof(float));
      if ((bits & 0x7fffffffu) > 0x7f800000u) {
        to[i] = static_cast<uint16_t>((bits >> 16) | 0x40u);  // a quiet NaN
        continue;
      }
      bits += 0x7fffu + ((bits >> 16) & 1u);
      to[i] = static_cast<uint16_t>(bits >> 16);
    }
  });
}

// The integer an 8-bit tensor's byte holds: int8 or uint8.
int32_t EightBitValue(char byte, bool is_signed) {
  return is_signed ? static_cast<int8_t>(byte) : static_cast<uint8_t>(byte);
}

// An 8-bit tensor's integers as float32, exactly (uint8 or int8 by its type): an int8 call's
// residual, written so by the call before.
FloatTensor Integers(const TensorView& x) {
  FloatTensor values(x);
  float* to = values.data();
  const char* bytes = static_cast<const char*>(x.data_ptr()) + x.byte_offset();
  const bool is_signed = x.dtype().code == kDLInt;
  plugins::ParallelFor(x.numel(), 1 << 14, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i)
      to[i] = static_cast<float>(EightBitValue(bytes[i], is_signed));
  });
  return values;
}

// An int8 call's source as float32 on its grid: the float32 source rounded, or an 8-bit one
// (written so by the call before) dequantized.
FloatTensor DequantizedSource(const TensorView& x, const plugins::SourceQuantization& q) {
  FloatTensor values(x);
  float* to = values.data();
  if (IsEightBit(x)) {
    const char* bytes = static_cast<const char*>(x.data_ptr()) + x.byte_offset();
    plugins::ParallelFor(x.numel(), 1 << 14, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        to[i] = static_cast<float>(EightBitValue(bytes[i], q.is_signed) - q.zero) * q.scale;
      }
    });
  } else {
    CheckFloat32(x, "int8 source");
    const float* from = In(x);
    plugins::ParallelFor(x.numel(), 1 << 14, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) to[i] = q.Dequantized(from[i]);
    });
  }
  return values;
}

// An int8 call's weights as float32: its int8 `weights` times their `scales` per output
// channel (the last axis), as the model's DequantizeLinear gives them. Checks both.
FloatTensor DequantizedWeights(const TensorView& weights, const TensorView* scales,
                               const char* prefix) {
  if (scales == nullptr || !weights.IsContiguous() || weights.ndim() < 2) {
    TVM_FFI_THROW(TypeError) << prefix << ": an int8 call needs contiguous int8 weights and "
                             << "their scales (an artifact compiled by an older Ember: compile "
                             << "it again)";
  }
  const int64_t channels = weights.shape()[weights.ndim() - 1];
  plugins::CheckWeightScales(*scales, channels, prefix);
  FloatTensor values(weights);
  const int8_t* from = reinterpret_cast<const int8_t*>(
      static_cast<const char*>(weights.data_ptr()) + weights.byte_offset());
  const float* scale = In(*scales);
  float* to = values.data();
  plugins::ParallelFor(weights.numel(), 1 << 14, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) to[i] = static_cast<float>(from[i]) * scale[i % channels];
  });
  return values;
}

void ApplyEpilogue(const EpilogueSpec& epilogue, float* out, int64_t rows, int64_t cols,
                   const float* bias, const float* residual) {
  if (!epilogue.bias && epilogue.steps.empty()) return;
  if (epilogue.bias && bias == nullptr) {
    TVM_FFI_THROW(ValueError) << "ember.dnnl: the epilogue adds a bias the call does not pass";
  }
  plugins::ParallelFor(rows, kEpilogueRowsPerTask, [&](int64_t r0, int64_t r1) {
    epilogue.Apply(out, r0, r1, cols, bias, residual);
  });
}

// With `trans_b`, b is stored [..., N, K] and read transposed (ember.dnnl.matmul_bt).
// `b_scales`: an int8 call's weight scales per column (its `b` int8), else null.
void RunMatmul(const TensorView& a, const TensorView& b, const TensorView* b_scales,
               const float* bias, const float* residual, const Shape& attrs, const TensorView& out,
               bool trans_b = false) {
  // attrs: [content hash of b, or 0], then the epilogue.
  const EpilogueSpec epilogue = EpilogueSpec::Decode(attrs, 1, "ember.dnnl.matmul");
  const bool bf16_out = epilogue.compute == plugins::kComputeBf16 && IsBf16(out);
  if (!bf16_out) CheckFloat32(out, "matmul output");
  if (out.numel() == 0) return;
  const int64_t k = a.shape()[a.ndim() - 1];
  const int64_t n = b.shape()[b.ndim() - (trans_b ? 2 : 1)];
  // A bf16 output is computed in float32 first, then rounded.
  std::unique_ptr<FloatTensor> sums = bf16_out ? std::make_unique<FloatTensor>(out) : nullptr;
  const TensorView y = sums ? sums->view() : out;
  float* y_data = sums ? sums->data() : Out(out);
  if (k == 0) {
    std::fill(y_data, y_data + out.numel(), 0.0f);
  } else if (epilogue.compute == plugins::kComputeInt8) {
    CheckFloat32(a, "matmul lhs");
    MatmulInto(DequantizedSource(a, epilogue.source).view(),
               DequantizedWeights(b, b_scales, "ember.dnnl.matmul").view(), y, trans_b);
  } else {
    // A bf16 call's operands may be bf16, widened here exactly: its source written so by the
    // call before, its constant weights stored so, or both operands of attention's products
    // rounded where they were computed.
    const bool bf16 = epilogue.compute == plugins::kComputeBf16;
    std::optional<FloatTensor> wide_a, wide_b;
    if (bf16 && IsBf16(a)) wide_a.emplace(Widened(a));
    if (bf16 && IsBf16(b)) wide_b.emplace(Widened(b));
    MatmulInto(wide_a ? wide_a->view() : a, wide_b ? wide_b->view() : b, y, trans_b);
  }
  ApplyEpilogue(epilogue, y_data, out.numel() / n, n, bias, residual);
  if (bf16_out) Narrow(y_data, out);
}

// The oneDNN plugin's operands as 2-D ones: a conv1d (NWC / WIO / NWC) is a conv2d of height 1.
Shape AsImage(const TensorView& t, bool weight) {
  std::vector<int64_t> dims(t.shape().begin(), t.shape().end());
  if (dims.size() == 3) dims.insert(dims.begin() + (weight ? 0 : 1), 1);
  return Shape(dims);
}

// `weight_scales`: an int8 call's weight scales per output channel (its weights int8), else
// null.
void RunConv(const TensorView& data, const TensorView& weight, const TensorView* weight_scales,
             const float* bias, const float* residual, const Shape& attrs, const TensorView& out) {
  // attrs: [sh, sw, pt, pl, pb, pr, dh, dw, groups, weight hash], then the epilogue.
  if (attrs.size() < 10 || data.ndim() < 3 || data.ndim() > 4) {
    TVM_FFI_THROW(ValueError) << "ember.dnnl.conv_nhwc: unexpected operands";
  }
  const EpilogueSpec epilogue = EpilogueSpec::Decode(attrs, 10, "ember.dnnl.conv_nhwc");
  const bool int8 = epilogue.compute == plugins::kComputeInt8;
  const bool bf16 = epilogue.compute == plugins::kComputeBf16;
  // 8-bit data and outputs are an int8 call's, bf16 ones a bf16 call's (the compiler writes
  // them so).
  if (!(int8 && IsEightBit(data)) && !(bf16 && IsBf16(data))) CheckFloat32(data, "conv data");
  // The weights: float32, a bf16 call's bf16 ones (widened exactly), or an int8 call's int8
  // ones (dequantized).
  std::optional<FloatTensor> converted_weight;
  if (int8) {
    converted_weight.emplace(DequantizedWeights(weight, weight_scales, "ember.dnnl.conv_nhwc"));
  } else if (bf16 && IsBf16(weight)) {
    converted_weight.emplace(Widened(weight));
  } else {
    CheckFloat32(weight, "conv weight");
  }
  const float* w = converted_weight ? converted_weight->data() : In(weight);
  const bool eight_bit_out = epilogue.quantized_output && IsEightBit(out);
  const bool bf16_out = bf16 && IsBf16(out);
  if (!eight_bit_out && !bf16_out) CheckFloat32(out, "conv output");
  if (out.numel() == 0) return;
  const Shape geometry_attrs(std::vector<int64_t>(attrs.begin(), attrs.begin() + 9));
  const ConvGeometry g = ConvGeometry::FromNhwc(AsImage(data, false), AsImage(weight, true),
                                                AsImage(out, false), geometry_attrs);
  std::vector<float> sums(eight_bit_out || bf16_out ? static_cast<size_t>(out.numel()) : 0);
  float* y = sums.empty() ? Out(out) : sums.data();
  if (int8) {
    ConvNhwcInto(g, DequantizedSource(data, epilogue.source).data(), w, y);
  } else if (bf16 && IsBf16(data)) {
    ConvNhwcInto(g, Widened(data).data(), w, y);
  } else {
    ConvNhwcInto(g, In(data), w, y);
  }
  ApplyEpilogue(epilogue, y, out.numel() / g.out_c, g.out_c, bias, residual);
  if (bf16_out) Narrow(y, out);
  if (eight_bit_out) {
    char* bytes = static_cast<char*>(out.data_ptr()) + out.byte_offset();
    plugins::ParallelFor(out.numel(), 1 << 14, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        // The two's-complement byte of a uint8 or int8 value.
        bytes[i] = static_cast<char>(static_cast<uint8_t>(epilogue.output.Quantized(y[i])));
      }
    });
  }
}

// The entry points, with the oneDNN plugin's operands: source, weights (an int8 call's int8
// weights followed by their scales), `kExtra` tensors (a bias, then a residual), attrs, then
// the output.
template <int kExtra, bool kTransB = false>
void MatmulEntry(tvm::ffi::PackedArgs args, const char* name) {
  const plugins::LibraryOperands ops = plugins::LibraryOperands::Read(args, kExtra, name);
  RunMatmul(ops.source, ops.weights, ops.WeightScales(), ops.ExtraFloats(0, "the bias"),
            ops.ExtraFloats(1, "the residual"), ops.attrs, ops.out, kTransB);
}

template <int kExtra>
void ConvEntry(tvm::ffi::PackedArgs args, const char* name) {
  const plugins::LibraryOperands ops = plugins::LibraryOperands::Read(args, kExtra, name);
  const float* bias = ops.ExtraFloats(0, "the bias");
  const float* residual = nullptr;
  // A bf16 call's residual may be bf16 too (a block's output, written so by the call before),
  // an int8 call's 8-bit (added as its integers: the compiler scales around the add).
  std::optional<FloatTensor> wide_residual;
  if (kExtra >= 2 && IsBf16(ops.extra[1])) {
    wide_residual.emplace(Widened(ops.extra[1]));
    residual = wide_residual->data();
  } else if (kExtra >= 2 && IsEightBit(ops.extra[1])) {
    wide_residual.emplace(Integers(ops.extra[1]));
    residual = wide_residual->data();
  } else {
    residual = ops.ExtraFloats(1, "the residual");
  }
  RunConv(ops.source, ops.weights, ops.WeightScales(), bias, residual, ops.attrs, ops.out);
}

// An entry point as a packed function: `name` names the call in its errors.
template <void (*kEntry)(tvm::ffi::PackedArgs, const char*)>
auto EntryFor(const char* name) {
  return [name](tvm::ffi::PackedArgs args, tvm::ffi::Any*) { kEntry(args, name); };
}

// Softmax over the last axis, one row at a time (max, sum of exponentials, scale).
void Softmax(TensorView x, TensorView out) {
  const int64_t width = plugins::SoftmaxRowWidth(x, out);
  if (width == 0) return;
  const float* src = In(x);
  float* dst = Out(out);
  plugins::ParallelFor(x.numel() / width, kEpilogueRowsPerTask, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) plugins::SoftmaxRow(src + r * width, dst + r * width, width);
  });
}

tvm::ffi::String KernelIsa() { return tvm::ffi::String("OpenBLAS stand-in"); }

}  // namespace
}  // namespace blas
}  // namespace ember

/*!
 * \brief Register the stand-ins under the oneDNN plugin's names; 0 on success, 1 when some of
 *        those names are taken already (the oneDNN plugin is loaded after all: nothing done).
 */
extern "C" __attribute__((visibility("default"))) int ember_cpu_blas_stand_in_for_onednn() {
  static std::once_flag once;
  static int result = 0;
  std::call_once(once, [] {
    if (tvm::ffi::Function::GetGlobal("ember.dnnl.matmul").has_value()) {
      result = 1;
      return;
    }
    namespace refl = tvm::ffi::reflection;
    using ember::blas::ConvEntry;
    using ember::blas::EntryFor;
    using ember::blas::MatmulEntry;
    refl::GlobalDef()
        .def_packed("ember.dnnl.matmul", EntryFor<MatmulEntry<0>>("ember.dnnl.matmul"))
        .def_packed("ember.dnnl.matmul_bt", EntryFor<MatmulEntry<0, true>>("ember.dnnl.matmul_bt"))
        .def_packed("ember.dnnl.matmul_epilogue",
                    EntryFor<MatmulEntry<1>>("ember.dnnl.matmul_epilogue"))
        .def_packed("ember.dnnl.matmul_residual",
                    EntryFor<MatmulEntry<2>>("ember.dnnl.matmul_residual"))
        .def_packed("ember.dnnl.conv_nhwc", EntryFor<ConvEntry<0>>("ember.dnnl.conv_nhwc"))
        .def_packed("ember.dnnl.conv_nhwc_epilogue",
                    EntryFor<ConvEntry<1>>("ember.dnnl.conv_nhwc_epilogue"))
        .def_packed("ember.dnnl.conv_nhwc_residual",
                    EntryFor<ConvEntry<2>>("ember.dnnl.conv_nhwc_residual"))
        // Winograd's calls compute the same convolutions: here, directly.
        .def_packed("ember.dnnl.conv_winograd", EntryFor<ConvEntry<0>>("ember.dnnl.conv_winograd"))
        .def_packed("ember.dnnl.conv_winograd_epilogue",
                    EntryFor<ConvEntry<1>>("ember.dnnl.conv_winograd_epilogue"))
        .def_packed("ember.dnnl.conv_winograd_residual",
                    EntryFor<ConvEntry<2>>("ember.dnnl.conv_winograd_residual"))
        .def("ember.dnnl.softmax", ember::blas::Softmax)
        .def("ember.dnnl.isa", ember::blas::KernelIsa);
  });
  return result;
}

#include "dnnl_context.h"

#include <tvm/ffi/error.h>
#include <tvm/ffi/function.h>
#include <tvm/ffi/reflection/registry.h>

#include <cmath>
#include <mutex>
#include <sstream>
#include <utility>
#include <vector>

#include "../common/operands.h"

// The two OpenMP calls the plugin makes, from libgomp (oneDNN's threading runtime, linked
// below). Declared here rather than through <omp.h>: clang installations without libomp's
// headers build the plugin too (the sanitizer builds), and these signatures are OpenMP's ABI.
extern "C" {
int omp_get_max_threads();
void omp_set_num_threads(int num_threads);
}

namespace ember {
namespace dnnl_plugin {

const dnnl::engine& Engine() {
  static const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

float* Data(const tvm::ffi::TensorView& t) { return reinterpret_cast<float*>(Bytes(t)); }

void CheckFloat32(const tvm::ffi::TensorView& t, const char* what) {
  plugins::CheckFloat32(t, "ember.dnnl", what);
}

dnnl::memory::data_type ActivationType(const tvm::ffi::TensorView& t, const char* what) {
  const DLDataType d = t.dtype();
  if (d.lanes == 1 && t.IsContiguous()) {
    if (d.code == kDLBfloat && d.bits == 16) return dnnl::memory::data_type::bf16;
    if (d.code == kDLUInt && d.bits == 8) return dnnl::memory::data_type::u8;
    if (d.code == kDLInt && d.bits == 8) return dnnl::memory::data_type::s8;
  }
  CheckFloat32(t, what);
  return dnnl::memory::data_type::f32;
}

dnnl::memory::data_type StoredWeightsType(const tvm::ffi::TensorView& w,
                                          const tvm::ffi::TensorView* scales, int64_t channels,
                                          const char* call) {
  const DLDataType d = w.dtype();
  if (scales != nullptr) {  // LibraryOperands::Read found int8 weights
    plugins::CheckWeightScales(*scales, channels, call);
    if (!w.IsContiguous()) TVM_FFI_THROW(TypeError) << call << ": int8 weights must be contiguous";
    return dnnl::memory::data_type::s8;
  }
  if (d.code == kDLBfloat && d.bits == 16 && d.lanes == 1 && w.IsContiguous()) {
    return dnnl::memory::data_type::bf16;
  }
  plugins::CheckFloat32(w, call, "the weights");
  return dnnl::memory::data_type::f32;
}

void CheckStoredWeights(const Epilogue& epilogue, dnnl::memory::data_type weights_type,
                        bool constant, const char* call) {
  if (epilogue.int8 && !constant) {
    TVM_FFI_THROW(ValueError) << call << ": an int8 call needs constant weights";
  }
  if (epilogue.int8 != (weights_type == dnnl::memory::data_type::s8)) {
    TVM_FFI_THROW(TypeError) << call << ": int8 weights and an int8 call go together (an "
                             << "artifact compiled by an older Ember: compile it again)";
  }
  if (weights_type == dnnl::memory::data_type::bf16 && (!epilogue.bf16 || !constant)) {
    TVM_FFI_THROW(TypeError) << call << ": bfloat16 weights need a bf16 call with constant "
                             << "weights";
  }
}

char* Bytes(const tvm::ffi::TensorView& t) {
  return static_cast<char*>(t.data_ptr()) + t.byte_offset();
}

SingleThreaded::SingleThreaded() : saved_(omp_get_max_threads()) {
  if (saved_ != 1) omp_set_num_threads(1);
}

SingleThreaded::~SingleThreaded() {
  if (saved_ != 1) omp_set_num_threads(saved_);
}

std::shared_ptr<const Kernel> CachedKernel(const std::string& key,
                                           const std::function<Kernel()>& make) {
  static std::mutex mutex;
  static std::unordered_map<std::string, std::shared_ptr<const Kernel>> cache;
  {
    std::lock_guard<std::mutex> lock(mutex);
    auto found = cache.find(key);
    if (found != cache.end()) return found->second;
  }
  // Made outside the lock: JIT compilation takes milliseconds, and two threads making the
  // same kernel at once only waste one of the two.
  std::shared_ptr<const Kernel> made;
  {
    SingleThreaded one_thread;
    made = std::make_shared<const Kernel>(make());
  }
  std::lock_guard<std::mutex> lock(mutex);
  return cache.emplace(key, std::move(made)).first->second;
}

std::string DescKey(const dnnl::memory::desc& desc) {
  std::ostringstream key;
  auto put = [&key](const char* tag, const dnnl::memory::dims& values) {
    key << tag;
    for (auto v : values) key << v << ',';
  };
  key << 't' << static_cast<int>(desc.get_data_type());
  put("d", desc.get_dims());
  put("s", desc.get_strides());
  put("b", desc.get_inner_blks());
  put("i", desc.get_inner_idxs());
  return key.str();
}

namespace {

// This thread's scratchpad, grown to the largest a kernel has asked for.
void* Scratchpad(size_t bytes) {
  thread_local std::vector<char> buffer;
  if (buffer.size() < bytes) buffer.resize(bytes);
  return buffer.data();
}

}  // namespace

void AppendShape(const tvm::ffi::TensorView& t, std::vector<int64_t>* key) {
  key->push_back(t.ndim());
  for (int i = 0; i < t.ndim(); ++i) key->push_back(t.shape()[i]);
}

Epilogue Epilogue::Decode(tvm::ffi::ShapeView attrs, size_t begin) {
  const plugins::EpilogueSpec spec = plugins::EpilogueSpec::Decode(attrs, begin, "ember.dnnl");
  Epilogue e;
  e.bias = spec.bias;
  e.steps = spec.steps;
  e.softmax = !e.steps.empty() && e.steps.back().kind == plugins::kSoftmax;
  e.bf16 = spec.compute == plugins::kComputeBf16;
  e.int8 = spec.compute == plugins::kComputeInt8;
  e.source = spec.source;
  e.quantized_output = spec.quantized_output;
  e.output = spec.output;
  // Floats in hexadecimal, exactly: kernels keep them (post-op bounds, the source's scale),
  // and values may differ past the six digits a decimal stream would write.
  std::ostringstream key;
  key << std::hexfloat << (e.bf16 ? "bf16|e" : "e") << e.bias;
  if (e.int8) {
    key << "|i8," << e.source.scale << ',' << e.source.zero << ',' << e.source.is_signed << '|';
  }
  if (e.quantized_output) {
    key << "|o8," << e.output.scale << ',' << e.output.zero << ',' << e.output.is_signed << '|';
  }
  for (const Step& step : e.steps) key << '|' << step.kind << ',' << step.alpha << ',' << step.beta;
  e.key = key.str();
  return e;
}

namespace {

// A residual's descriptor: the output's layout, as `type` (undef: the output's type).
dnnl::memory::desc ResidualDesc(const dnnl::memory::desc& dst, dnnl::memory::data_type type) {
  if (type == dnnl::memory::data_type::undef || type == dst.get_data_type()) return dst;
  return dnnl::memory::desc(dst.get_dims(), type, dst.get_strides());
}

}  // namespace

dnnl::post_ops Epilogue::PostOps(const dnnl::memory::desc& dst,
                                 dnnl::memory::data_type residual_type) const {
  dnnl::post_ops ops;
  for (const Step& step : steps) {
    switch (step.kind) {
      case plugins::kClip:
        if (step.alpha == 0.0f && std::isinf(step.beta) && step.beta > 0) {
          ops.append_eltwise(dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
        } else {
          ops.append_eltwise(dnnl::algorithm::eltwise_clip_v2, step.alpha, step.beta);
        }
        break;
      case plugins::kGeluErf:
        ops.append_eltwise(dnnl::algorithm::eltwise_gelu_erf, 0.0f, 0.0f);
        break;
      case plugins::kGeluTanh:
        ops.append_eltwise(dnnl::algorithm::eltwise_gelu_tanh, 0.0f, 0.0f);
        break;
      case plugins::kSigmoid:
        ops.append_eltwise(dnnl::algorithm::eltwise_logistic, 0.0f, 0.0f);
        break;
      case plugins::kSilu:
        ops.append_eltwise(dnnl::algorithm::eltwise_swish, 1.0f, 0.0f);
        break;
      case plugins::kLinear:
        ops.append_eltwise(dnnl::algorithm::eltwise_linear, step.alpha, step.beta);
        break;
      case plugins::kRound:
        // oneDNN multiplies by the reciprocal: where x / alpha lies within a float32 rounding
        // of a half, the value may land one grid step from a division's.
        ops.append_eltwise(dnnl::algorithm::eltwise_linear, 1.0f / step.alpha, 0.0f);
        ops.append_eltwise(dnnl::algorithm::eltwise_round, 0.0f, 0.0f);
        break;
      case plugins::kSoftmax:  // not a post-op: the caller runs it after the kernel
        break;
      default:  // kResidual
        ops.append_binary(dnnl::algorithm::binary_add, ResidualDesc(dst, residual_type));
        break;
    }
  }
  return ops;
}

int Epilogue::ResidualIndex() const {
  // Post-ops, not steps: a rounding is two post-ops and a softmax none (PostOps above).
  int index = 0;
  for (const Step& step : steps) {
    if (step.kind == plugins::kResidual) return index;
    index += step.kind == plugins::kRound ? 2 : step.kind == plugins::kSoftmax ? 0 : 1;
  }
  return -1;
}

dnnl::memory::data_type Epilogue::SourceType() const {
  if (int8) return source.is_signed ? dnnl::memory::data_type::s8 : dnnl::memory::data_type::u8;
  return bf16 ? dnnl::memory::data_type::bf16 : dnnl::memory::data_type::f32;
}

dnnl::memory::data_type Epilogue::WeightsType() const {
  if (int8) return dnnl::memory::data_type::s8;
  return bf16 ? dnnl::memory::data_type::bf16 : dnnl::memory::data_type::f32;
}

dnnl::primitive_attr Epilogue::Attributes(const dnnl::memory::desc& dst, bool float32_weights,
                                          int channel_mask,
                                          dnnl::memory::data_type residual_type) const {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  attr.set_post_ops(PostOps(dst, residual_type));
  if (int8) {
    if (float32_weights) {
      TVM_FFI_THROW(ValueError) << "ember.dnnl: an int8 call needs constant weights";
    }
    attr.set_scales_mask(DNNL_ARG_WEIGHTS, channel_mask);
    if (source.zero != 0) attr.set_zero_points_mask(DNNL_ARG_SRC, 0);
    if (quantized_output) {  // dst = round(result / scale) + zero, saturated
      attr.set_scales_mask(DNNL_ARG_DST, 0);
      if (output.zero != 0) attr.set_zero_points_mask(DNNL_ARG_DST, 0);
    }
  }
  // Weights that are not a packed constant stay float32, and oneDNN takes no mix of float32
  // and bf16 operands: its bf16 math mode rounds both inside the kernel instead.
  if (bf16 && float32_weights) attr.set_fpmath_mode(dnnl::fpmath_mode::bf16);
  return attr;
}

namespace {

// A kernel's memory objects and argument map on one thread, made on its first execution there:
// later executions only re-point the objects at the call's buffers (making them costs more
// than a small tile's arithmetic).
struct BoundArgs {
  dnnl::memory src, weights, dst, bias, residual, scratchpad;
  dnnl::memory given_src;       // the caller's float32 source, when the kernel converts it
  dnnl::memory channel_scales;  // int8: after the packed weights
  std::unordered_map<int, dnnl::memory> args;
  std::unordered_map<int, dnnl::memory> convert_args;  // the source reorder's

  explicit BoundArgs(const Kernel& kernel) {
    // DNNL_MEMORY_NONE: no buffer yet; every execution sets each handle.
    src = dnnl::memory(kernel.src, Engine(), DNNL_MEMORY_NONE);
    if (kernel.convert_src) given_src = dnnl::memory(kernel.given_src, Engine(), DNNL_MEMORY_NONE);
    weights = dnnl::memory(kernel.weights, Engine(), DNNL_MEMORY_NONE);
    dst = dnnl::memory(kernel.dst, Engine(), DNNL_MEMORY_NONE);
    args = {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_DST, dst}};
    if (kernel.bias.get_ndims() > 0) {
      bias = dnnl::memory(kernel.bias, Engine(), DNNL_MEMORY_NONE);
      args[DNNL_ARG_BIAS] = bias;
    }
    if (kernel.residual_post_op >= 0) {
      // Read with the output's own layout (the tile's rows of a tensor shaped like the output).
      residual =
          dnnl::memory(ResidualDesc(kernel.dst, kernel.residual_type), Engine(), DNNL_MEMORY_NONE);
      args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(kernel.residual_post_op) | DNNL_ARG_SRC_1] = residual;
    }
    if (kernel.channel_scales) {
      const dnnl::memory::desc scales({kernel.dst.get_dims()[1]}, dnnl::memory::data_type::f32,
                                      dnnl::memory::dims{1});
      channel_scales = dnnl::memory(scales, Engine(), DNNL_MEMORY_NONE);
      args[DNNL_ARG_ATTR_SCALES | DNNL_ARG_WEIGHTS] = channel_scales;
    }
    const dnnl::memory::desc one_int({1}, dnnl::memory::data_type::s32, dnnl::memory::dims{1});
    const dnnl::memory::desc one_float({1}, dnnl::memory::data_type::f32, dnnl::memory::dims{1});
    // The kernel is cached for the process's life: its zero point and scale stay put.
    void* zero = const_cast<int32_t*>(&kernel.src_zero);
    if (kernel.channel_scales && kernel.src_zero != 0) {
      args[DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC] = dnnl::memory(one_int, Engine(), zero);
    }
    if (kernel.dst_quantized) {
      void* scale = const_cast<float*>(&kernel.dst_scale);
      args[DNNL_ARG_ATTR_SCALES | DNNL_ARG_DST] = dnnl::memory(one_float, Engine(), scale);
      if (kernel.dst_zero != 0) {
        void* dst_zero = const_cast<int32_t*>(&kernel.dst_zero);
        args[DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_DST] = dnnl::memory(one_int, Engine(), dst_zero);
      }
    }
    if (kernel.convert_src) {
      convert_args = {{DNNL_ARG_FROM, given_src}, {DNNL_ARG_TO, src}};
      if (kernel.src.get_data_type() != dnnl::memory::data_type::bf16) {
        void* scale = const_cast<float*>(&kernel.src_scale);
        convert_args[DNNL_ARG_ATTR_SCALES | DNNL_ARG_DST] =
            dnnl::memory(one_float, Engine(), scale);
        if (kernel.src_zero != 0) {
          convert_args[DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_DST] =
              dnnl::memory(one_int, Engine(), zero);
        }
      }
    }
    if (kernel.scratchpad_bytes > 0) {
      dnnl::memory::desc bytes({static_cast<int64_t>(kernel.scratchpad_bytes)},
                               dnnl::memory::data_type::u8, dnnl::memory::format_tag::a);
      scratchpad = dnnl::memory(bytes, Engine(), DNNL_MEMORY_NONE);
      args[DNNL_ARG_SCRATCHPAD] = scratchpad;
    }
  }
};

}  // namespace

void Execute(const Kernel& kernel, const void* src, const void* weights, void* dst,
             const void* bias, const void* residual) {
  SingleThreaded one_thread;
  thread_local dnnl::stream stream(Engine());
  // Kernels live as long as the process (CachedKernel), so their addresses are stable keys.
  thread_local std::unordered_map<const Kernel*, BoundArgs> bound;
  auto found = bound.find(&kernel);
  if (found == bound.end()) found = bound.emplace(&kernel, BoundArgs(kernel)).first;
  BoundArgs& b = found->second;
  if (kernel.convert_src) {
    // The tile's source rounded to bf16 (or quantized) in this thread's buffer, while the
    // tile is in cache.
    thread_local std::vector<char> rounded;
    if (rounded.size() < kernel.src.get_size()) rounded.resize(kernel.src.get_size());
    b.given_src.set_data_handle(const_cast<void*>(src));
    b.src.set_data_handle(rounded.data());
    kernel.convert_src.execute(stream, b.convert_args);
  } else {
    b.src.set_data_handle(const_cast<void*>(src));
  }
  b.weights.set_data_handle(const_cast<void*>(weights));
  if (b.channel_scales) {
    b.channel_scales.set_data_handle(const_cast<char*>(static_cast<const char*>(weights)) +
                                     QuantizedScalesOffset(kernel.weights));
  }
  b.dst.set_data_handle(dst);
  if (b.bias) {
    if (bias == nullptr) TVM_FFI_THROW(ValueError) << "ember.dnnl: the kernel needs a bias";
    b.bias.set_data_handle(const_cast<void*>(bias));
  }
  if (b.residual) {
    if (residual == nullptr) TVM_FFI_THROW(ValueError) << "ember.dnnl: the kernel needs a residual";
    b.residual.set_data_handle(const_cast<void*>(residual));
  }
  if (b.scratchpad) b.scratchpad.set_data_handle(Scratchpad(kernel.scratchpad_bytes));
  kernel.primitive.execute(stream, b.args);
  stream.wait();
}

void ExecuteDense(const Kernel& kernel, const void* src, const void* weights, const float* bias,
                  const Residual& residual, char* out, size_t elem_size, int64_t at, int64_t rows,
                  int64_t cols, int64_t ld) {
  thread_local std::vector<char> block;
  thread_local std::vector<char> added;
  const size_t row_bytes = static_cast<size_t>(cols) * elem_size;
  block.resize(static_cast<size_t>(rows) * row_bytes);
  if (residual.data) {
    const size_t added_row = static_cast<size_t>(cols) * residual.elem_size;
    added.resize(static_cast<size_t>(rows) * added_row);
    for (int64_t r = 0; r < rows; ++r) {
      std::copy_n(residual.data + (at + r * ld) * residual.elem_size, added_row,
                  added.data() + r * added_row);
    }
  }
  Execute(kernel, src, weights, block.data(), bias, residual.data ? added.data() : nullptr);
  for (int64_t r = 0; r < rows; ++r) {
    std::copy_n(block.data() + r * row_bytes, row_bytes, out + (at + r * ld) * elem_size);
  }
}

namespace {

// The instruction set oneDNN's kernels use on this CPU (e.g. "avx512_core"), for `ember profile`.
tvm::ffi::String KernelIsa() {
  switch (dnnl::get_effective_cpu_isa()) {
    case dnnl::cpu_isa::sse41:
      return "sse41";
    case dnnl::cpu_isa::avx:
      return "avx";
    case dnnl::cpu_isa::avx2:
      return "avx2";
    case dnnl::cpu_isa::avx2_vnni:
      return "avx2_vnni";
    case dnnl::cpu_isa::avx2_vnni_2:
      return "avx2_vnni_2";
    case dnnl::cpu_isa::avx512_core:
      return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni:
      return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16:
      return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_fp16:
      return "avx512_core_fp16";
    case dnnl::cpu_isa::avx512_core_amx:
      return "avx512_core_amx";
    case dnnl::cpu_isa::avx512_core_amx_fp16:
      return "avx512_core_amx_fp16";
    default:
      return "generic";
  }
}

}  // namespace
}  // namespace dnnl_plugin
}  // namespace ember

TVM_FFI_STATIC_INIT_BLOCK() {
  namespace refl = tvm::ffi::reflection;
  refl::GlobalDef().def("ember.dnnl.isa", ember::dnnl_plugin::KernelIsa);
}

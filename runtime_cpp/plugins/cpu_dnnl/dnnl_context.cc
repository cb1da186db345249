#include "dnnl_context.h"

#include <tvm/ffi/error.h>
#include <tvm/ffi/function.h>
#include <tvm/ffi/reflection/registry.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iterator>
#include <list>
#include <mutex>
#include <sstream>
#include <utility>
#include <vector>

#include "../common/operands.h"
#include "../common/parallel_for.h"

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

char* Bytes(const tvm::ffi::TensorView& t) {
  return static_cast<char*>(t.data_ptr()) + t.byte_offset();
}

namespace {

// oneDNN sizes a primitive's work split by the calling thread's OpenMP setting when the
// primitive is made, and asks for that many threads when it runs: one thread here, for both,
// since the tiles are already spread over TVM's pool. The caller's setting is restored.
class SingleThreaded {
 public:
  SingleThreaded() : saved_(omp_get_max_threads()) {
    if (saved_ != 1) omp_set_num_threads(1);
  }
  ~SingleThreaded() {
    if (saved_ != 1) omp_set_num_threads(saved_);
  }
  SingleThreaded(const SingleThreaded&) = delete;
  SingleThreaded& operator=(const SingleThreaded&) = delete;

 private:
  int saved_;
};

}  // namespace

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

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

// Packed weights by key (PackKey), least recently used first.
class PackCache {
 public:
  std::shared_ptr<const void> Get(const std::string& key, size_t bytes,
                                  const std::function<void(void*)>& fill) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = index_.find(key);
    if (found != index_.end()) {
      entries_.splice(entries_.end(), entries_, found->second);  // now the most recently used
      return found->second->data;
    }
    // 64-byte alignment: the kernels' vector loads of a packed panel never split a line.
    void* raw = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (raw == nullptr) throw std::bad_alloc();
    std::shared_ptr<void> data(raw, FreeDeleter());
    fill(raw);
    entries_.push_back({key, bytes, data});
    index_[key] = std::prev(entries_.end());
    total_ += bytes;
    while (total_ > kPackedWeightsBudget && entries_.size() > 1) {
      total_ -= entries_.front().bytes;
      index_.erase(entries_.front().key);
      entries_.pop_front();
    }
    return data;
  }

 private:
  struct Entry {
    std::string key;
    size_t bytes;
    std::shared_ptr<const void> data;
  };
  std::mutex mutex_;
  std::list<Entry> entries_;
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
  size_t total_ = 0;
};

// This thread's scratchpad, grown to the largest a kernel has asked for.
void* Scratchpad(size_t bytes) {
  thread_local std::vector<char> buffer;
  if (buffer.size() < bytes) buffer.resize(bytes);
  return buffer.data();
}

}  // namespace

std::string PackKey(int64_t content_hash, int64_t offset, const dnnl::memory::desc& plain,
                    const dnnl::memory::desc& packed, const Epilogue& epilogue) {
  std::ostringstream key;
  key << content_hash << '@' << offset << '|' << DescKey(plain) << '|' << DescKey(packed);
  if (epilogue.int8) key << "|i8," << std::hexfloat << epilogue.source.scale;  // exactly
  return key.str();
}

std::shared_ptr<const void> PackedWeights(const std::string& key, const dnnl::memory::desc& plain,
                                          const void* weights, const dnnl::memory::desc& packed) {
  static PackCache cache;
  return cache.Get(key, packed.get_size(), [&](void* out) {
    SingleThreaded one_thread;
    dnnl::stream stream(Engine());
    dnnl::memory from(plain, Engine(), const_cast<void*>(weights));
    dnnl::memory to(packed, Engine(), out);
    dnnl::reorder(from, to).execute(stream, from, to);
    stream.wait();
  });
}

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

dnnl::post_ops Epilogue::PostOps(const dnnl::memory::desc& dst) const {
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
      case plugins::kSoftmax:  // not a post-op: the caller runs it after the kernel
        break;
      default:  // kResidual
        ops.append_binary(dnnl::algorithm::binary_add, dst);
        break;
    }
  }
  return ops;
}

int Epilogue::ResidualIndex() const {
  for (size_t i = 0; i < steps.size(); ++i) {
    if (steps[i].kind == plugins::kResidual) return static_cast<int>(i);
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
                                          int channel_mask) const {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  attr.set_post_ops(PostOps(dst));
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

Kernel WithSourceConversion(Kernel kernel, const dnnl::memory::desc& given) {
  const dnnl::memory::data_type type = kernel.src.get_data_type();
  if (type == dnnl::memory::data_type::f32) return kernel;
  kernel.given_src = given;
  dnnl::primitive_attr attr;
  if (type != dnnl::memory::data_type::bf16) {  // quantized: q = round(x / scale) + zero
    attr.set_scales_mask(DNNL_ARG_DST, 0);
    if (kernel.src_zero != 0) attr.set_zero_points_mask(DNNL_ARG_DST, 0);
  }
  kernel.convert_src =
      dnnl::reorder(dnnl::reorder::primitive_desc(Engine(), given, Engine(), kernel.src, attr));
  return kernel;
}

size_t QuantizedScalesOffset(const dnnl::memory::desc& packed) {
  return (packed.get_size() + 63) / 64 * 64;
}

namespace {

// The largest |w| of each output channel of `plain` (the dimensions in `channel_mask`, in
// order, number the channels), for symmetric per-channel quantization.
std::vector<float> ChannelMaxima(const dnnl::memory::desc& plain, const float* weights,
                                 int channel_mask) {
  const dnnl::memory::dims dims = plain.get_dims(), strides = plain.get_strides();
  int64_t channels = 1, total = 1;
  for (size_t d = 0; d < dims.size(); ++d) {
    total *= dims[d];
    if (channel_mask & (1 << d)) channels *= dims[d];
  }
  std::vector<float> maxima(static_cast<size_t>(channels), 0.0f);
  for (int64_t linear = 0; linear < total; ++linear) {
    int64_t rest = linear, offset = 0, channel = 0, channel_stride = 1;
    for (size_t d = dims.size(); d-- > 0;) {
      const int64_t index = rest % dims[d];
      rest /= dims[d];
      offset += index * strides[d];
      if (channel_mask & (1 << d)) {
        channel += index * channel_stride;
        channel_stride *= dims[d];
      }
    }
    float& top = maxima[static_cast<size_t>(channel)];
    top = std::max(top, std::fabs(weights[offset]));
  }
  return maxima;
}

}  // namespace

std::shared_ptr<const void> PackWeights(const Epilogue& epilogue, const std::string& key,
                                        const dnnl::memory::desc& plain, const void* weights,
                                        const dnnl::memory::desc& packed, int channel_mask) {
  if (!epilogue.int8) return PackedWeights(key, plain, weights, packed);
  static PackCache cache;
  int64_t channels = 1;
  for (size_t d = 0; d < plain.get_dims().size(); ++d) {
    if (channel_mask & (1 << d)) channels *= plain.get_dims()[d];
  }
  const size_t offset = QuantizedScalesOffset(packed);
  const size_t bytes = offset + static_cast<size_t>(channels) * sizeof(float);
  return cache.Get(key, bytes, [&](void* out) {
    const std::vector<float> maxima =
        ChannelMaxima(plain, static_cast<const float*>(weights), channel_mask);
    std::vector<float> scales(maxima.size());
    for (size_t c = 0; c < maxima.size(); ++c) {
      scales[c] = maxima[c] > 0.0f ? maxima[c] / 127.0f : 1.0f;
    }
    SingleThreaded one_thread;
    dnnl::stream stream(Engine());
    // Two reorders: float32 -> dense int8 (per channel scales), then int8 -> the kernel's
    // layout, which also computes the compensation the packed layout carries for the source's
    // zero point (oneDNN has no float32 reorder that does both).
    dnnl::primitive_attr attr;
    attr.set_scales_mask(DNNL_ARG_DST, channel_mask);
    const dnnl::memory::desc scales_desc({static_cast<int64_t>(scales.size())},
                                         dnnl::memory::data_type::f32, dnnl::memory::dims{1});
    const dnnl::memory::dims dims = plain.get_dims();
    dnnl::memory::dims dense(dims.size(), 1);
    for (size_t d = dims.size() - 1; d > 0; --d) dense[d - 1] = dense[d] * dims[d];
    const dnnl::memory::desc integers(dims, dnnl::memory::data_type::s8, dense);
    std::vector<int8_t> quantized(integers.get_size());
    dnnl::memory from(plain, Engine(), const_cast<void*>(weights));
    dnnl::memory middle(integers, Engine(), quantized.data());
    dnnl::memory to(packed, Engine(), out);
    dnnl::memory scale_memory(scales_desc, Engine(), scales.data());
    dnnl::reorder(dnnl::reorder::primitive_desc(Engine(), plain, Engine(), integers, attr))
        .execute(stream, {{DNNL_ARG_FROM, from},
                          {DNNL_ARG_TO, middle},
                          {DNNL_ARG_ATTR_SCALES | DNNL_ARG_DST, scale_memory}});
    dnnl::reorder(middle, to).execute(stream, middle, to);
    stream.wait();
    float* applied = reinterpret_cast<float*>(static_cast<char*>(out) + offset);
    for (size_t c = 0; c < scales.size(); ++c) applied[c] = scales[c] * epilogue.source.scale;
  });
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
      residual = dnnl::memory(kernel.dst, Engine(), DNNL_MEMORY_NONE);
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
                  const float* residual, char* out, size_t elem_size, int64_t at, int64_t rows,
                  int64_t cols, int64_t ld) {
  thread_local std::vector<char> block;
  thread_local std::vector<float> added;
  const size_t row_bytes = static_cast<size_t>(cols) * elem_size;
  block.resize(static_cast<size_t>(rows) * row_bytes);
  if (residual) {
    added.resize(static_cast<size_t>(rows * cols));
    for (int64_t r = 0; r < rows; ++r) {
      std::copy_n(residual + at + r * ld, cols, added.data() + r * cols);
    }
  }
  Execute(kernel, src, weights, block.data(), bias, residual ? added.data() : nullptr);
  for (int64_t r = 0; r < rows; ++r) {
    std::copy_n(block.data() + r * row_bytes, row_bytes, out + (at + r * ld) * elem_size);
  }
}

namespace {

// Floats per task of ConvertSource: a few hundred microseconds of work at most.
constexpr int64_t kConvertChunk = int64_t{1} << 16;

// The reorder that converts `count` contiguous floats to `epilogue`'s source type (bf16, or
// 8-bit with its scale and zero point), as the primitive of a kernel whose src and dst
// describe both sides.
std::shared_ptr<const Kernel> ConversionKernel(int64_t count, const Epilogue& epilogue) {
  const dnnl::memory::data_type type = epilogue.SourceType();
  const std::string key = "convert|" + std::to_string(count) + "|" +
                          std::to_string(static_cast<int>(type)) + "|" +
                          std::to_string(epilogue.source.zero != 0);
  return CachedKernel(key, [&] {
    const dnnl::memory::desc from({count}, dnnl::memory::data_type::f32, dnnl::memory::dims{1});
    const dnnl::memory::desc to({count}, type, dnnl::memory::dims{1});
    dnnl::primitive_attr attr;
    if (epilogue.int8) {
      attr.set_scales_mask(DNNL_ARG_DST, 0);
      if (epilogue.source.zero != 0) attr.set_zero_points_mask(DNNL_ARG_DST, 0);
    }
    Kernel kernel;
    kernel.primitive =
        dnnl::reorder(dnnl::reorder::primitive_desc(Engine(), from, Engine(), to, attr));
    kernel.src = from;
    kernel.dst = to;
    return kernel;
  });
}

}  // namespace

void ConvertSource(const float* from, void* to, int64_t count, const Epilogue& epilogue) {
  const int64_t chunks = (count + kConvertChunk - 1) / kConvertChunk;
  const int64_t last = count - (chunks - 1) * kConvertChunk;
  const std::shared_ptr<const Kernel> full =
      ConversionKernel(std::min(count, kConvertChunk), epilogue);
  const std::shared_ptr<const Kernel> tail = ConversionKernel(last, epilogue);
  const size_t size = dnnl::memory::data_type_size(epilogue.SourceType());
  float scale = epilogue.source.scale;
  int32_t zero = epilogue.source.zero;
  plugins::ParallelFor(chunks, 1, [&](int64_t c0, int64_t c1) {
    SingleThreaded one_thread;
    thread_local dnnl::stream stream(Engine());
    for (int64_t c = c0; c < c1; ++c) {
      const Kernel& kernel = c == chunks - 1 ? *tail : *full;
      std::unordered_map<int, dnnl::memory> args{
          {DNNL_ARG_FROM,
           dnnl::memory(kernel.src, Engine(), const_cast<float*>(from) + c * kConvertChunk)},
          {DNNL_ARG_TO,
           dnnl::memory(kernel.dst, Engine(), static_cast<char*>(to) + c * kConvertChunk * size)}};
      if (epilogue.int8) {
        const dnnl::memory::desc one_float({1}, dnnl::memory::data_type::f32, {1});
        const dnnl::memory::desc one_int({1}, dnnl::memory::data_type::s32, {1});
        args[DNNL_ARG_ATTR_SCALES | DNNL_ARG_DST] = dnnl::memory(one_float, Engine(), &scale);
        if (zero != 0) {
          args[DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_DST] = dnnl::memory(one_int, Engine(), &zero);
        }
      }
      kernel.primitive.execute(stream, args);
      stream.wait();
    }
  });
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

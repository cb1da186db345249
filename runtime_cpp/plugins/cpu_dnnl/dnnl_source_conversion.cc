// Sources of bf16 and int8 kernels: float32 activations rounded to bf16, or quantized to
// 8 bits with the scale and zero point of the model's QuantizeLinear, before the kernel reads them.
#include <algorithm>
#include <string>
#include <unordered_map>

#include "../common/parallel_for.h"
#include "dnnl_context.h"

namespace ember {
namespace dnnl_plugin {

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

}  // namespace dnnl_plugin
}  // namespace ember

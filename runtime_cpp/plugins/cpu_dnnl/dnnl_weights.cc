// Weights packed into the layouts oneDNN's kernels read, once per process (PackKey), and
// quantized to int8 per output channel for the int8 kernels.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <iterator>
#include <list>
#include <mutex>
#include <sstream>
#include <unordered_map>
#include <vector>

#include "dnnl_context.h"

namespace ember {
namespace dnnl_plugin {

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

// The packs of every model in the process, float and int8 alike: one budget.
PackCache& WeightCache() {
  static PackCache cache;
  return cache;
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
  return WeightCache().Get(key, packed.get_size(), [&](void* out) {
    SingleThreaded one_thread;
    dnnl::stream stream(Engine());
    dnnl::memory from(plain, Engine(), const_cast<void*>(weights));
    dnnl::memory to(packed, Engine(), out);
    dnnl::reorder(from, to).execute(stream, from, to);
    stream.wait();
  });
}

std::shared_ptr<const void> CachedBytes(const std::string& key, size_t bytes,
                                        const std::function<void(void*)>& fill) {
  return WeightCache().Get(key, bytes, fill);
}

size_t QuantizedScalesOffset(const dnnl::memory::desc& packed) {
  return (packed.get_size() + 63) / 64 * 64;
}

std::shared_ptr<const void> PackWeights(const Epilogue& epilogue, const std::string& key,
                                        const dnnl::memory::desc& plain, const void* weights,
                                        const dnnl::memory::desc& packed, int channel_mask) {
  if (!epilogue.int8) return PackedWeights(key, plain, weights, packed);
  int64_t channels = 1;
  for (size_t d = 0; d < plain.get_dims().size(); ++d) {
    if (channel_mask & (1 << d)) channels *= plain.get_dims()[d];
  }
  const size_t offset = QuantizedScalesOffset(packed);
  const size_t bytes = offset + static_cast<size_t>(channels) * sizeof(float);
  return WeightCache().Get(key, bytes, [&](void* out) {
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

}  // namespace dnnl_plugin
}  // namespace ember

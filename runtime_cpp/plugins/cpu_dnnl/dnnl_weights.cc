// Weights packed into the layouts oneDNN's kernels read, once per process (PackKey), and
// with the scales per output channel that the int8 kernels apply to their sums.
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
                                        const dnnl::memory::desc& packed, int channel_mask,
                                        const float* channel_scales) {
  if (!epilogue.int8) return PackedWeights(key, plain, weights, packed);
  const size_t offset = QuantizedScalesOffset(packed);
  const dnnl::memory::dims dims = plain.get_dims();
  int64_t channels = 1;
  for (size_t d = 0; d < dims.size(); ++d) {
    if (channel_mask & (1 << d)) channels *= dims[d];
  }
  const size_t bytes = offset + static_cast<size_t>(channels) * sizeof(float);
  return WeightCache().Get(key, bytes, [&](void* out) {
    SingleThreaded one_thread;
    dnnl::stream stream(Engine());
    // Two reorders: the int8 weights as stored -> dense, then -> the kernel's layout, which
    // also computes the compensation the packed layout carries for the source's zero point
    // (oneDNN computes it only from a plain dense layout).
    dnnl::memory::dims dense(dims.size(), 1);
    for (size_t d = dims.size() - 1; d > 0; --d) dense[d - 1] = dense[d] * dims[d];
    const dnnl::memory::desc integers(dims, dnnl::memory::data_type::s8, dense);
    std::vector<int8_t> copied(integers.get_size());
    dnnl::memory from(plain, Engine(), const_cast<void*>(weights));
    dnnl::memory middle(integers, Engine(), copied.data());
    dnnl::memory to(packed, Engine(), out);
    dnnl::reorder(from, middle).execute(stream, from, middle);
    dnnl::reorder(middle, to).execute(stream, middle, to);
    stream.wait();
    float* applied = reinterpret_cast<float*>(static_cast<char*>(out) + offset);
    for (int64_t c = 0; c < channels; ++c) {
      applied[c] = channel_scales[c] * epilogue.source.scale;
    }
  });
}

}  // namespace dnnl_plugin
}  // namespace ember

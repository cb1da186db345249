/*!
 * \file dnnl_context.h
 * \brief What every oneDNN kernel of the plugin shares: the engine, single-threaded execution
 *        on the calling thread, cached primitives and weights packed once per content.
 *
 * Threads: each kernel splits its output into tiles whose sizes depend only on the shapes,
 * runs the tiles on TVM's pool (ParallelFor) and executes one single-threaded primitive per
 * tile. So one process runs one thread pool, and every output element is computed by the same
 * primitive, in the same order, whatever the thread count.
 */
#ifndef EMBER_RUNTIME_CPP_PLUGINS_CPU_DNNL_DNNL_CONTEXT_H_
#define EMBER_RUNTIME_CPP_PLUGINS_CPU_DNNL_DNNL_CONTEXT_H_

#include <tvm/ffi/container/shape.h>
#include <tvm/ffi/container/tensor.h>

#include <algorithm>
#include <cstdint>
#include <dnnl.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "../common/epilogue.h"

namespace ember {
namespace dnnl_plugin {

/*! \brief Bytes of packed weights kept for reuse before the least recently used are released. */
constexpr size_t kPackedWeightsBudget = size_t{4} << 30;

/*!
 * \brief oneDNN sizes a primitive's work split by the calling thread's OpenMP setting when the
 *        primitive is made, and asks for that many threads when it runs: one thread while this
 *        lives, for both, since the tiles are already spread over TVM's pool. The caller's
 *        setting is restored.
 */
class SingleThreaded {
 public:
  SingleThreaded();
  ~SingleThreaded();
  SingleThreaded(const SingleThreaded&) = delete;
  SingleThreaded& operator=(const SingleThreaded&) = delete;

 private:
  int saved_;
};

/*! \brief The CPU engine (one per process). */
const dnnl::engine& Engine();

/*! \brief The first float of `t`: the VM places tensors at byte offsets inside shared storage. */
float* Data(const tvm::ffi::TensorView& t);

/*! \brief Throws unless `t` is contiguous float32 (`what` names it in the error). */
void CheckFloat32(const tvm::ffi::TensorView& t, const char* what);

/*!
 * \brief The element type of `t`, an activation of a oneDNN call: float32, or bfloat16 or
 *        8-bit (written so by the oneDNN call before it, or for the one after); throws unless
 *        it is one of those, contiguous.
 */
dnnl::memory::data_type ActivationType(const tvm::ffi::TensorView& t, const char* what);

/*!
 * \brief The element type of constant weights `w` as the compiler stores them: float32, bf16
 *        (a bf16 call's) or int8 (an int8 call's, which come with their `scales` per output
 *        channel: `channels` of them); throws unless `w` is one of those, contiguous.
 *        `call` names the call in the error.
 */
dnnl::memory::data_type StoredWeightsType(const tvm::ffi::TensorView& w,
                                          const tvm::ffi::TensorView* scales, int64_t channels,
                                          const char* call);

/*! \brief The first byte of `t`'s data. */
char* Bytes(const tvm::ffi::TensorView& t);

/*! \brief A primitive and what executing it needs besides its operands. */
struct Kernel {
  dnnl::primitive primitive;
  dnnl::memory::desc src, weights, dst;
  size_t scratchpad_bytes = 0;
  dnnl::memory::desc bias;    //!< empty when the kernel adds no bias
  int residual_post_op = -1;  //!< the post-op that adds a residual tensor, or -1
  //! Where `src` is bfloat16 or 8-bit: the float32 source as the caller passes it, and the
  //! reorder that rounds or quantizes it into a buffer of the executing thread's before the
  //! primitive runs.
  dnnl::memory::desc given_src;
  dnnl::primitive convert_src;
  //! int8: the packed weights are followed by one float32 scale per output channel
  //! (QuantizedScales), which the primitive applies to its int32 sums.
  bool channel_scales = false;
  //! int8: how the source is quantized (the reorder's scale and zero point, and the zero point
  //! the primitive subtracts). Kept here: the memory objects point at them.
  float src_scale = 1.0f;
  int32_t src_zero = 0;
  //! An 8-bit output: the primitive quantizes its float32 result with this scale and zero.
  bool dst_quantized = false;
  float dst_scale = 1.0f;
  int32_t dst_zero = 0;
  //! The residual's element type where it differs from the output's (a bf16 residual added
  //! to a float32 output, or the reverse); undef: the output's.
  dnnl::memory::data_type residual_type = dnnl::memory::data_type::undef;
};

/*!
 * \brief `kernel` with the reorder that makes its bfloat16 or 8-bit `src` from the float32
 *        one the caller passes (described by `given`); a float32 `src` needs none.
 */
Kernel WithSourceConversion(Kernel kernel, const dnnl::memory::desc& given);

/*!
 * \brief The epilogue a kernel applies to its output (encoding and kinds: common/epilogue.h),
 *        with the key that tells kernels with different epilogues apart.
 */
struct Epilogue {
  using Step = plugins::EpilogueStep;
  bool bias = false;
  std::vector<Step> steps;
  std::string key;  //!< the encoding, for kernel cache keys
  //! Whether the last step is a row softmax: not a post-op, the caller runs it on each tile.
  bool softmax = false;
  //! Whether the kernel multiplies in bfloat16: constant weights are packed as bfloat16 and
  //! the source rounded per tile; other weights through oneDNN's bf16 math mode.
  bool bf16 = false;
  //! Whether the kernel multiplies 8-bit integers: the source quantized as `source` says, by
  //! constant int8 weights (scales per output channel), sums scaled back to float32.
  bool int8 = false;
  plugins::SourceQuantization source;
  //! int8 only: the output is written as 8-bit on this grid (its readers' source).
  bool quantized_output = false;
  plugins::SourceQuantization output;

  /*! \brief Decode `attrs[begin:]`; an empty range is no epilogue. */
  static Epilogue Decode(tvm::ffi::ShapeView attrs, size_t begin);
  /*!
   * \brief oneDNN's post-ops for a kernel writing `dst`; a residual is read in its layout, as
   *        `residual_type` (undef: `dst`'s type).
   */
  dnnl::post_ops PostOps(const dnnl::memory::desc& dst,
                         dnnl::memory::data_type residual_type) const;
  /*! \brief The post-op index of the residual add, or -1. */
  int ResidualIndex() const;
  /*! \brief The element type the kernel reads its source in: bf16, u8/s8 or float32. */
  dnnl::memory::data_type SourceType() const;
  /*! \brief The element type of packed constant weights: bf16, s8 or float32. */
  dnnl::memory::data_type WeightsType() const;
  /*!
   * \brief The attributes every kernel with this epilogue starts from: scratchpad, post-ops;
   *        for bf16 kernels reading float32 weights, the bf16 math mode; for int8 ones, scales
   *        per output channel (the weights' dimensions in `channel_mask`) and the source's
   *        zero point.
   */
  dnnl::primitive_attr Attributes(
      const dnnl::memory::desc& dst, bool float32_weights, int channel_mask = 0,
      dnnl::memory::data_type residual_type = dnnl::memory::data_type::undef) const;
};

/*!
 * \brief Throws unless weights stored as `weights_type` (StoredWeightsType) suit a call with
 *        `epilogue`: int8 weights for an int8 call and only for one, bf16 ones only for a bf16
 *        call; both `constant` (the compiler hashed them), which only packed weights are.
 */
void CheckStoredWeights(const Epilogue& epilogue, dnnl::memory::data_type weights_type,
                        bool constant, const char* call);

/*!
 * \brief Softmax over each of `rows` rows of `width` values at `data`, in place, on the
 *        calling thread (dnnl_softmax.cc): a matmul's softmax epilogue on a tile in cache.
 */
void SoftmaxRowsInPlace(float* data, int64_t rows, int64_t width);

/*!
 * \brief The kernel cached under `key`, made by `make` on first use. Creating a primitive
 *        JIT-compiles code; the cache keeps one per distinct tile shape for the process's life.
 */
std::shared_ptr<const Kernel> CachedKernel(const std::string& key,
                                           const std::function<Kernel()>& make);

/*!
 * \brief The key of a constant's packed weights: the compiler's content hash of the constant,
 *        the element `offset` of this part of it and the packed layout; for `epilogue`'s int8
 *        kernels also the source's scale, which the pack's applied scales include (the same
 *        weights may meet other sources). Made once per call plan, not per call.
 */
std::string PackKey(int64_t content_hash, int64_t offset, const dnnl::memory::desc& plain,
                    const dnnl::memory::desc& packed, const Epilogue& epilogue);

/*!
 * \brief `weights` (laid out as `plain`) reordered into `packed` (the layout the kernel
 *        reads), cached under `key` (PackKey): packed once per process, shared by every model
 *        holding the same weights. Only constants may use this cache. The least recently used
 *        packs are released beyond kPackedWeightsBudget bytes (a pack in use stays alive until
 *        its last user is done).
 */
std::shared_ptr<const void> PackedWeights(const std::string& key, const dnnl::memory::desc& plain,
                                          const void* weights, const dnnl::memory::desc& packed);

/*!
 * \brief What a kernel call resolves from its shapes and attributes alone (tiles, their
 *        kernels, the keys of their packed weights), kept so that a call with the same ones
 *        only looks it up. Keyed by the call's dimensions and attributes as integers.
 */
template <typename Plan>
class PlanCache {
 public:
  using Key = std::vector<int64_t>;

  /*! \brief The plan for `key`, made by `make` on first use. */
  std::shared_ptr<const Plan> Get(const Key& key, const std::function<Plan()>& make) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto found = plans_.find(key);
      if (found != plans_.end()) return found->second;
    }
    auto made = std::make_shared<const Plan>(make());
    std::lock_guard<std::mutex> lock(mutex_);
    // Symbolic shapes make a plan per distinct size: past a bound, start over (the kernels
    // themselves stay cached, so a re-made plan costs microseconds).
    if (plans_.size() >= kMaxPlans) plans_.clear();
    return plans_.emplace(key, std::move(made)).first->second;
  }

 private:
  static constexpr size_t kMaxPlans = 4096;
  struct Hash {
    size_t operator()(const Key& key) const {
      size_t h = 0xcbf29ce484222325ull;
      for (int64_t v : key) h = (h ^ static_cast<size_t>(v)) * 0x100000001b3ull;
      return h;
    }
  };
  std::mutex mutex_;
  std::unordered_map<Key, std::shared_ptr<const Plan>, Hash> plans_;
};

/*!
 * \brief `bytes` bytes (64-byte aligned) cached under `key` in the packed-weights cache (same
 *        budget as PackedWeights), written by `fill` on first use: weights that a kernel reads
 *        transformed by the plugin itself rather than reordered by oneDNN.
 */
std::shared_ptr<const void> CachedBytes(const std::string& key, size_t bytes,
                                        const std::function<void(void*)>& fill);

/*!
 * \brief Where an int8 pack's scales start: after the packed weights, 64-byte aligned.
 */
size_t QuantizedScalesOffset(const dnnl::memory::desc& packed);

/*!
 * \brief PackedWeights for `epilogue`'s kernels: for int8 ones, `weights` are int8 (the
 *        model's integers, as the compiler stores them), packed as s8 and followed by the
 *        scales the kernel applies to its int32 sums: `channel_scales` (one per output channel,
 *        the dimensions of `plain` in `channel_mask`) times the source's scale.
 */
std::shared_ptr<const void> PackWeights(const Epilogue& epilogue, const std::string& key,
                                        const dnnl::memory::desc& plain, const void* weights,
                                        const dnnl::memory::desc& packed, int channel_mask,
                                        const float* channel_scales);

/*! \brief ceil(a / b), for positive `b`. */
inline int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
/*! \brief `a` rounded up to a multiple of `b`. */
inline int64_t RoundUp(int64_t a, int64_t b) { return CeilDiv(a, b) * b; }

/*!
 * \brief The busiest thread's share of `total` (output channels or columns) over an even
 *        share, when it runs in tiles of `width` (the last holds the rest) on `threads`
 *        threads, each a contiguous run of ceil(tiles / threads) tiles as
 *        `plugins::ParallelFor` hands them out. 1 is a perfect split.
 */
inline double TileImbalance(int64_t total, int64_t width, int64_t threads) {
  const int64_t busiest = std::min(total, CeilDiv(CeilDiv(total, width), threads) * width);
  return static_cast<double>(busiest * threads) / static_cast<double>(total);
}

/*! \brief Appends `t`'s dimensions to a plan key (its rank first). */
void AppendShape(const tvm::ffi::TensorView& t, std::vector<int64_t>* key);

/*!
 * \brief Execute `kernel` on the calling thread alone (oneDNN's own threads are not used),
 *        with a scratchpad of this thread's. `bias` and `residual` are read when the kernel
 *        has them. Each thread makes the kernel's memory objects once and re-points them.
 */
void Execute(const Kernel& kernel, const void* src, const void* weights, void* dst,
             const void* bias = nullptr, const void* residual = nullptr);

/*!
 * \brief `count` floats at `from` converted to `epilogue`'s source type at `to` (rounded to
 *        bfloat16, or quantized to 8 bits), on TVM's pool: the source of a matmul or
 *        convolution whose tiles would otherwise each convert the same values.
 */
void ConvertSource(const float* from, void* to, int64_t count, const Epilogue& epilogue);

/*! \brief Whether `kernel` reads a source already converted (bf16 or 8-bit), not float32. */
inline bool ReadsConvertedSource(const Kernel& kernel) {
  return kernel.src.get_data_type() != dnnl::memory::data_type::f32 && !kernel.convert_src;
}

/*!
 * \brief The source a tile reads at element `offset`: of the converted copy `converted` when
 *        its kernel reads one, else of the float32 `given`.
 */
inline const void* TileSource(const Kernel& kernel, const float* given, const void* converted,
                              int64_t offset) {
  if (!ReadsConvertedSource(kernel)) return given + offset;
  const size_t size = dnnl::memory::data_type_size(kernel.src.get_data_type());
  return static_cast<const char*>(converted) + offset * static_cast<int64_t>(size);
}

/*! \brief A tensor of the output's shape added by a residual post-op, and its element size. */
struct Residual {
  const char* data = nullptr;  //!< null: the kernel adds none
  size_t elem_size = 4;        //!< 4 float32, 2 bf16
};

/*!
 * \brief Execute `kernel` on a [rows, cols] block of a row-major output whose rows are `ld`
 *        elements apart, from element `at`, through dense buffers of this thread's: the
 *        block of `residual` (shaped like the output) copied in, the result copied out.
 *        oneDNN runs strided outputs on slower kernels (the reference one for a convolution,
 *        a plain GEMM instead of AMX for a matmul). `elem_size` is the output element's size
 *        in bytes (4 float32, 2 bf16).
 */
void ExecuteDense(const Kernel& kernel, const void* src, const void* weights, const float* bias,
                  const Residual& residual, char* out, size_t elem_size, int64_t at, int64_t rows,
                  int64_t cols, int64_t ld);

/*! \brief A readable key part for a memory descriptor (type, dims, strides, blocking). */
std::string DescKey(const dnnl::memory::desc& desc);

/*!
 * \brief The kernel of a matmul or convolution primitive `pd` with `epilogue` (its bias and
 *        residual post-op); its source is read as given.
 */
template <typename Primitive>
Kernel KernelOf(const typename Primitive::primitive_desc& pd, const Epilogue& epilogue) {
  return Kernel{Primitive(pd),
                pd.src_desc(),
                pd.weights_desc(),
                pd.dst_desc(),
                pd.scratchpad_desc().get_size(),
                epilogue.bias ? pd.bias_desc() : dnnl::memory::desc(),
                epilogue.ResidualIndex(),
                {},
                {},
                epilogue.int8,
                epilogue.source.scale,
                epilogue.source.zero,
                epilogue.quantized_output,
                epilogue.output.scale,
                epilogue.output.zero};
}

}  // namespace dnnl_plugin
}  // namespace ember

#endif  // EMBER_RUNTIME_CPP_PLUGINS_CPU_DNNL_DNNL_CONTEXT_H_

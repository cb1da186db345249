/*!
 * \file dnnl_matmul.cc
 * \brief `ember.dnnl.matmul`: out[..., M, N] = a[..., M, K] @ b[K, N] (or batched b) in oneDNN;
 *        `ember.dnnl.matmul_epilogue` also adds a bias [N] and applies activations (Epilogue);
 *        `ember.dnnl.matmul_bt` takes b as [..., N, K] and reads it transposed (attention's
 *        scores against a key cache, which would otherwise be transposed by a copy first).
 *
 * Tiles: rows of `a` in blocks whose size depends only on the shape, so each row is computed
 * by the same kernel whatever the thread count; with few rows (a decoder's one token) the
 * columns are split instead. A constant `b` (the compiler passes its content hash) is packed
 * once into the kernel's blocked layout; other operands are read as they are. A softmax
 * epilogue (attention's scores) runs on each tile of whole rows right after the kernel wrote
 * it, while it is in cache, instead of a second pass over a matrix that may not fit there.
 * A bf16 call (the compute type after the epilogue) packs its constant weights, which the
 * compiler stores as bf16, and rounds the source per row tile, or once for all column tiles,
 * which then write dense tiles. An int8 call's weights come as int8 with their scales per
 * column (an operand of their own), packed as they are.
 * Where the compiler chained bf16 calls (passes/library_precision.py), the source arrives as
 * bf16 and is read as it is, or the output is written as bf16 for the call after.
 */
#include <tvm/ffi/container/shape.h>
#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/error.h>
#include <tvm/ffi/function.h>
#include <tvm/ffi/reflection/registry.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "../common/operands.h"
#include "../common/parallel_for.h"
#include "dnnl_context.h"

namespace ember {
namespace dnnl_plugin {
namespace {

using dnnl::memory;
using tvm::ffi::Shape;
using tvm::ffi::TensorView;

// Fewer rows than this (a transformer's tokens, a batch of vectors): split the columns, not the
// rows. Each tile then reads its slice of the weights once, against all rows (which stay in
// cache), instead of every row tile reading all the weights: BERT's 128 x 768 x 3072 matmuls
// went from 2.94 to 2.75 ms on 2 threads (AMD EPYC Zen 4).
constexpr int64_t kFewRows = 257;
// Column tiles of such a matmul: enough to spread over 8 threads, in multiples of 64 columns,
// wider where that splits the columns more evenly over the threads at hand.
constexpr int64_t kColumnTiles = 8;
constexpr int64_t kColumnBlock = 64;
// At most this many rows (a decode step's token): one column tile per thread. Such a product
// only streams its weights from memory, and every further tile adds a kernel call: a 1 x 512 x
// 1376 product went from 0.088 to 0.072 ms on 2 threads (Intel Xeon, model 207), level with
// ONNX Runtime's 0.066.
constexpr int64_t kVectorRows = 16;

// The output-channel dimension of a matmul's [k, n] weights: int8 scales are per column.
constexpr int kChannelMask = 1 << 1;

struct Tiling {
  int64_t rows_per_tile, cols_per_tile;
};

// Column tiles are the narrowest of the widest balanced ones: BERT's merged query, key and value
// projection (2304 columns) went in 7 tiles of 320 and one of 64, 4 tiles on one thread of 2
// and 3 on the other, and now goes in 6 of 384.
Tiling ChooseTiling(int64_t rows, int64_t n, int64_t threads) {
  if (rows >= kFewRows) return {std::clamp<int64_t>(RoundUp(CeilDiv(rows, 16), 8), 16, 256), n};
  const int64_t tiles = rows <= kVectorRows ? threads : kColumnTiles;
  int64_t best = std::min(n, std::max(kColumnBlock, RoundUp(CeilDiv(n, tiles), kColumnBlock)));
  for (int64_t width = best + kColumnBlock; width < n; width += kColumnBlock) {
    if (TileImbalance(n, width, threads) < TileImbalance(n, best, threads)) best = width;
  }
  return {rows, best};
}

// The kernel for an [m, k] x [k, n] tile; `ldb`/`ldc` are the full operands' row lengths.
// It writes `out_type`: float32, or bf16 for the bf16 call after.
// With `trans_b`, b is stored [n, k] (rows of length `ldb`) and read transposed.
// With `packed`, the weights are in the layout the kernel chose (format "any"). A bf16 kernel
// with packed weights reads both operands as bf16: its source rounded per tile, or already
// rounded (`rounded_src`); one reading float32 weights as stored rounds both inside
// (Epilogue::Attributes). Operands read as stored are `operand_type`: float32, or bf16 both
// (a bf16 call's attention operands, which the compiler rounds where they are computed).
std::shared_ptr<const Kernel> TileKernel(int64_t m, int64_t k, int64_t n, int64_t ldb, int64_t ldc,
                                         bool packed, const Epilogue& epilogue,
                                         bool rounded_src = false, bool trans_b = false,
                                         memory::data_type out_type = memory::data_type::f32,
                                         memory::data_type operand_type = memory::data_type::f32) {
  std::string key = "mm|" + std::to_string(m) + "|" + std::to_string(k) + "|" + std::to_string(n) +
                    "|" + std::to_string(ldb) + "|" + std::to_string(ldc) +
                    (packed ? "|p|" : "|u|") + (rounded_src ? "r|" : "") + (trans_b ? "t|" : "") +
                    std::to_string(static_cast<int>(out_type)) + "|" +
                    std::to_string(static_cast<int>(operand_type)) + "|" + epilogue.key;
  return CachedKernel(key, [&] {
    const memory::data_type src_type = packed ? epilogue.SourceType() : operand_type;
    const memory::data_type weights_type = packed ? epilogue.WeightsType() : operand_type;
    const memory::desc given_src({m, k}, memory::data_type::f32, memory::dims{k, 1});
    const memory::desc src({m, k}, src_type, memory::dims{k, 1});
    const memory::dims b_strides = trans_b ? memory::dims{1, ldb} : memory::dims{ldb, 1};
    memory::desc weights = packed ? memory::desc({k, n}, weights_type, memory::format_tag::any)
                                  : memory::desc({k, n}, weights_type, b_strides);
    memory::desc dst({m, n}, out_type, memory::dims{ldc, 1});
    const dnnl::primitive_attr attr = epilogue.Attributes(dst, !packed, kChannelMask);
    const memory::desc bias({1, n}, memory::data_type::f32, memory::dims{n, 1});
    auto pd = epilogue.bias ? dnnl::matmul::primitive_desc(Engine(), src, weights, bias, dst, attr)
                            : dnnl::matmul::primitive_desc(Engine(), src, weights, dst, attr);
    Kernel kernel = KernelOf<dnnl::matmul>(pd, epilogue);
    const bool converts = packed && src_type != memory::data_type::f32;
    return rounded_src || !converts ? kernel : WithSourceConversion(std::move(kernel), given_src);
  });
}

// What a [rows, k] x [k, n] call with a 2-D right operand resolves from its shapes: the
// tiling, and for each column tile the kernels of full row tiles and of the last (shorter)
// one, and the key of its packed weights.
struct Matmul2dPlan {
  Tiling t;
  int64_t row_tiles, col_tiles;
  bool softmax;  // a row softmax after the kernel (Epilogue::softmax)
  // bf16 column tiles: the source is rounded once for all of them, and each tile writes a
  // dense buffer that is copied into place (oneDNN's AMX kernels take no strided output; it
  // runs a far slower GEMM for one).
  bool dense_tiles;
  bool trans_b;  // b stored [n, k] (ember.dnnl.matmul_bt)
  // The source's and output's element types: bf16 where the compiler chained bf16 calls.
  memory::data_type in_type, out_type;
  struct Column {
    std::shared_ptr<const Kernel> full, last;
    std::string pack_key;       // empty: the weights are read as stored
    memory::desc plain;         // the column's weights as stored
    bool last_packed;           // whether `last` reads the packed weights too
    std::string last_pack_key;  // int8 or bf16 operands: `last` reads a layout of its own
  };
  std::vector<Column> columns;
  Epilogue epilogue;

  static Matmul2dPlan Make(int64_t rows, int64_t k, int64_t n, int64_t b_hash,
                           const Epilogue& epilogue, int64_t threads, bool trans_b,
                           memory::data_type in_type, memory::data_type out_type,
                           memory::data_type weights_type) {
    Matmul2dPlan plan{ChooseTiling(rows, n, threads),
                      0,
                      0,
                      epilogue.softmax,
                      false,
                      trans_b,
                      in_type,
                      out_type,
                      {},
                      epilogue};
    if (trans_b && b_hash != 0) {
      TVM_FFI_THROW(ValueError) << "ember.dnnl.matmul_bt: constant weights are packed as stored";
    }
    const bool bf16_operands =
        in_type != memory::data_type::f32 || out_type != memory::data_type::f32;
    if (bf16_operands && (!epilogue.bf16 || b_hash == 0 || trans_b)) {
      TVM_FFI_THROW(TypeError) << "ember.dnnl.matmul: a bfloat16 source or output needs a bf16 "
                                  "call with constant weights";
    }
    if (out_type != memory::data_type::f32 && (epilogue.ResidualIndex() >= 0 || epilogue.softmax)) {
      TVM_FFI_THROW(TypeError) << "ember.dnnl.matmul: a residual add or softmax writes float32";
    }
    plan.row_tiles = CeilDiv(rows, plan.t.rows_per_tile);
    plan.col_tiles = CeilDiv(n, plan.t.cols_per_tile);
    const bool packed = b_hash != 0;
    CheckStoredWeights(epilogue, weights_type, packed, "ember.dnnl.matmul");
    const bool bf16_weights = weights_type == memory::data_type::bf16;
    plan.dense_tiles = (epilogue.bf16 || epilogue.int8) && packed && plan.col_tiles > 1;
    // Converted once for all column tiles, or already bf16.
    const bool rounded = plan.dense_tiles || in_type != memory::data_type::f32;
    const int64_t last_rows = rows - (plan.row_tiles - 1) * plan.t.rows_per_tile;
    for (int64_t c0 = 0; c0 < n; c0 += plan.t.cols_per_tile) {
      const int64_t cols = std::min(plan.t.cols_per_tile, n - c0);
      const int64_t ldc = plan.dense_tiles ? cols : n;
      Column column{nullptr, nullptr, "", memory::desc(), false, ""};
      const int64_t ldb = trans_b ? k : n;
      column.full = TileKernel(std::min(plan.t.rows_per_tile, rows), k, cols, ldb, ldc, packed,
                               epilogue, rounded, trans_b, out_type);
      column.last =
          TileKernel(last_rows, k, cols, ldb, ldc, packed, epilogue, rounded, trans_b, out_type);
      if (packed) {
        column.plain = memory::desc({k, cols}, weights_type, memory::dims{n, 1});
        column.pack_key = PackKey(b_hash, c0, column.plain, column.full->weights, epilogue);
        column.last_packed = column.last->weights == column.full->weights;
        // int8 and bf16 weights are read only packed, and a bf16 source or output needs
        // packed bf16 weights.
        if (!column.last_packed && (epilogue.int8 || bf16_weights || bf16_operands)) {
          column.last_pack_key = PackKey(b_hash, c0, column.plain, column.last->weights, epilogue);
        } else if (!column.last_packed) {  // a layout of its own: read the weights as stored
          column.last = TileKernel(last_rows, k, cols, n, ldc, /*packed=*/false, epilogue);
        }
      }
      plan.columns.push_back(std::move(column));
    }
    return plan;
  }
};

// Rows per task of a softmax epilogue run after a column-tiled matmul.
constexpr int64_t kSoftmaxRowsPerTask = 16;

// `a` and `c` hold plan.in_type and plan.out_type elements; `b` float32 ones, bf16 ones (a
// bf16 call's), or int8 ones with their `b_scales` per column (an int8 call's).
void Matmul2d(int64_t rows, int64_t k, int64_t n, const void* a_bytes, const void* b_bytes,
              const float* b_scales, char* c, const float* bias, const float* residual,
              const Matmul2dPlan& plan) {
  const float* b = static_cast<const float*>(b_bytes);  // read as stored only where float32
  const float* a = static_cast<const float*>(a_bytes);  // read only where in_type is float32
  const int64_t c_size = static_cast<int64_t>(memory::data_type_size(plan.out_type));
  const Epilogue& epilogue = plan.epilogue;
  // The packed weights, looked up per call: the cache may have released a pack since.
  std::vector<std::shared_ptr<const void>> packs(plan.columns.size());
  std::vector<std::shared_ptr<const void>> last_packs(plan.columns.size());
  for (size_t i = 0; i < plan.columns.size(); ++i) {
    const Matmul2dPlan::Column& column = plan.columns[i];
    if (column.pack_key.empty()) continue;
    const int64_t c0 = static_cast<int64_t>(i) * plan.t.cols_per_tile;
    const int64_t b_size =
        static_cast<int64_t>(memory::data_type_size(column.plain.get_data_type()));
    const void* slice = static_cast<const char*>(b_bytes) + c0 * b_size;
    const float* scales = b_scales ? b_scales + c0 : nullptr;
    packs[i] = PackWeights(epilogue, column.pack_key, column.plain, slice, column.full->weights,
                           kChannelMask, scales);
    if (!column.last_pack_key.empty()) {
      last_packs[i] = PackWeights(epilogue, column.last_pack_key, column.plain, slice,
                                  column.last->weights, kChannelMask, scales);
    }
  }
  const Tiling& t = plan.t;
  // The caller's thread holds the converted source while the pool's threads read it (through
  // `a_converted`: inside the tasks, `converted` would name each pool thread's own).
  thread_local std::vector<char> converted;
  const bool converted_in = plan.in_type != memory::data_type::f32;
  if (plan.dense_tiles && !converted_in) {
    converted.resize(static_cast<size_t>(rows * k) * 2);  // bf16 (2 bytes) or 8-bit
    ConvertSource(a, converted.data(), rows * k, epilogue);
  }
  const void* a_converted = converted_in ? a_bytes : converted.data();
  plugins::ParallelFor(plan.row_tiles * plan.col_tiles, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t tile = t0; tile < t1; ++tile) {
      const int64_t row_tile = tile / plan.col_tiles, col_tile = tile % plan.col_tiles;
      const int64_t r0 = row_tile * t.rows_per_tile, c0 = col_tile * t.cols_per_tile;
      const Matmul2dPlan::Column& column = plan.columns[col_tile];
      const bool last = row_tile == plan.row_tiles - 1;
      const Kernel& kernel = last ? *column.last : *column.full;
      const bool packed = packs[col_tile] && (!last || column.last_packed);
      const float* b_tile = b + (plan.trans_b ? c0 * k : c0);
      const void* weights = packed ? packs[col_tile].get() : static_cast<const void*>(b_tile);
      if (last && last_packs[col_tile]) weights = last_packs[col_tile].get();
      const void* src = TileSource(kernel, a, a_converted, r0 * k);
      const int64_t at = r0 * n + c0;
      if (plan.dense_tiles) {
        ExecuteDense(kernel, src, weights, bias ? bias + c0 : nullptr,
                     Residual{reinterpret_cast<const char*>(residual)}, c, c_size, at,
                     std::min(t.rows_per_tile, rows - r0), std::min(t.cols_per_tile, n - c0), n);
        continue;
      }
      Execute(kernel, src, weights, c + at * c_size, bias ? bias + c0 : nullptr,
              residual ? residual + at : nullptr);
      if (plan.softmax && plan.col_tiles == 1) {  // the tile holds whole rows, still in cache
        SoftmaxRowsInPlace(reinterpret_cast<float*>(c) + at, std::min(t.rows_per_tile, rows - r0),
                           n);
      }
    }
  });
  if (plan.softmax && plan.col_tiles > 1) {  // rows split over column tiles: a pass of its own
    plugins::ParallelFor(rows, kSoftmaxRowsPerTask, [&](int64_t r0, int64_t r1) {
      SoftmaxRowsInPlace(reinterpret_cast<float*>(c) + r0 * n, r1 - r0, n);
    });
  }
}

// What a batched call a[batch..., m, k] @ b[batch..., k, n] resolves: tiles of rows within
// each batch element, and the kernels of full row tiles and of the last one. Both operands
// are float32, or both bf16 (a bf16 call's attention: the compiler rounds them where they are
// computed, so the kernel reads half the bytes and multiplies at the bf16 rate).
struct BatchedPlan {
  int64_t rows_per_tile, row_tiles;
  bool softmax;  // a row softmax after the kernel, on each tile (whole rows)
  std::shared_ptr<const Kernel> full, last;
  size_t operand_size;  // bytes per operand element

  static BatchedPlan Make(int64_t m, int64_t k, int64_t n, const Epilogue& epilogue, bool trans_b,
                          memory::data_type operand_type) {
    const auto f32 = memory::data_type::f32;
    if (operand_type != f32 && !epilogue.bf16) {
      TVM_FFI_THROW(TypeError) << "ember.dnnl.matmul: bfloat16 operands need a bf16 call";
    }
    const int64_t rows_per_tile = m <= 64 ? m : 64;
    const int64_t row_tiles = CeilDiv(m, rows_per_tile);
    const int64_t last_rows = m - (row_tiles - 1) * rows_per_tile;
    const int64_t ldb = trans_b ? k : n;
    return {rows_per_tile,
            row_tiles,
            epilogue.softmax,
            TileKernel(rows_per_tile, k, n, ldb, n, /*packed=*/false, epilogue, false, trans_b, f32,
                       operand_type),
            TileKernel(last_rows, k, n, ldb, n, /*packed=*/false, epilogue, false, trans_b, f32,
                       operand_type),
            memory::data_type_size(operand_type)};
  }
};

void MatmulBatched(int64_t batch, int64_t m, int64_t k, int64_t n, const char* a, const char* b,
                   float* c, const float* bias, const float* residual, const BatchedPlan& plan) {
  const int64_t size = static_cast<int64_t>(plan.operand_size);
  plugins::ParallelFor(batch * plan.row_tiles, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t tile = t0; tile < t1; ++tile) {
      const int64_t i = tile / plan.row_tiles, row_tile = tile % plan.row_tiles;
      const int64_t r0 = row_tile * plan.rows_per_tile;
      const Kernel& kernel = row_tile == plan.row_tiles - 1 ? *plan.last : *plan.full;
      const int64_t at = i * m * n + r0 * n;
      Execute(kernel, a + (i * m * k + r0 * k) * size, b + i * k * n * size, c + at, bias,
              residual ? residual + at : nullptr);
      if (plan.softmax) SoftmaxRowsInPlace(c + at, std::min(plan.rows_per_tile, m - r0), n);
    }
  });
}

// `b_scales`: int8 weights' scales per column (an int8 call's), else null.
void Run(const TensorView& a, const TensorView& b, const TensorView* b_scales, const float* bias,
         const float* residual, const Shape& attrs, const TensorView& out, bool trans_b = false) {
  // bf16 where the compiler chained bf16 calls (Matmul2dPlan checks that this one may).
  const memory::data_type in_type = ActivationType(a, "matmul lhs");
  const memory::data_type out_type = ActivationType(out, "matmul output");
  const auto f32 = memory::data_type::f32, bf16 = memory::data_type::bf16;
  if ((in_type != f32 && in_type != bf16) || (out_type != f32 && out_type != bf16)) {
    TVM_FFI_THROW(TypeError) << "ember.dnnl.matmul: 8-bit operands are for convolutions only";
  }
  const int64_t k = a.shape()[a.ndim() - 1];
  const int64_t n = b.shape()[b.ndim() - (trans_b ? 2 : 1)];
  const int64_t rows = k == 0 ? out.numel() / std::max<int64_t>(n, 1) : a.numel() / k;
  if (out.numel() == 0) return;
  const int64_t b_hash = attrs.size() > 0 ? attrs[0] : 0;
  if (k == 0) {  // an empty sum: zeros, then the epilogue (a decode step at past length 0)
    CheckFloat32(out, "matmul output");
    std::fill(Data(out), Data(out) + out.numel(), 0.0f);
    plugins::EpilogueSpec::Decode(attrs, 1, "ember.dnnl.matmul")
        .Apply(Data(out), 0, rows, n, bias, residual);
    return;
  }
  PlanCache<Matmul2dPlan>::Key key;
  AppendShape(a, &key);
  AppendShape(b, &key);
  key.insert(key.end(), attrs.begin(), attrs.end());
  key.push_back(trans_b);
  key.push_back(static_cast<int64_t>(in_type));
  key.push_back(static_cast<int64_t>(out_type));
  if (b.ndim() == 2) {
    const memory::data_type weights_type = StoredWeightsType(b, b_scales, n, "ember.dnnl.matmul");
    key.push_back(static_cast<int64_t>(weights_type));
    // The pool's size decides a decode step's tiles (kVectorRows).
    const int64_t threads = plugins::ParallelThreads();
    key.push_back(threads);
    static PlanCache<Matmul2dPlan> plans;
    const auto plan = plans.Get(key, [&] {
      return Matmul2dPlan::Make(rows, k, n, b_hash, Epilogue::Decode(attrs, 1), threads, trans_b,
                                in_type, out_type, weights_type);
    });
    Matmul2d(rows, k, n, Bytes(a), Bytes(b), b_scales ? Data(*b_scales) : nullptr, Bytes(out), bias,
             residual, *plan);
    return;
  }
  // Batched calls read computed operands: float32, or both bf16; they write float32.
  if (b_scales) TVM_FFI_THROW(TypeError) << "ember.dnnl.matmul: int8 weights are 2-D";
  if (ActivationType(b, "matmul rhs") != in_type) {
    TVM_FFI_THROW(TypeError) << "ember.dnnl.matmul: a batched call's operands are both float32 "
                                "or both bfloat16";
  }
  CheckFloat32(out, "matmul output");
  const int64_t m = a.shape()[a.ndim() - 2];
  static PlanCache<BatchedPlan> plans;
  const auto plan = plans.Get(key, [&] {
    return BatchedPlan::Make(m, k, n, Epilogue::Decode(attrs, 1), trans_b, in_type);
  });
  MatmulBatched(rows / m, m, k, n, Bytes(a), Bytes(b), Data(out), bias, residual, *plan);
}

// The entry points, DPS: a, b (int8 weights followed by their scales per column), `kExtra`
// tensors (a bias [N], then a residual shaped like the output), attrs, then the output.
// attrs = [content hash of b, or 0 when b is not a constant], then optionally the epilogue
// and a compute type.
template <int kExtra, bool kTransB>
void Entry(tvm::ffi::PackedArgs args, const char* name) {
  const plugins::LibraryOperands ops = plugins::LibraryOperands::Read(args, kExtra, name);
  Run(ops.source, ops.weights, ops.WeightScales(), ops.ExtraFloats(0, "the bias"),
      ops.ExtraFloats(1, "the residual"), ops.attrs, ops.out, kTransB);
}

// `Entry` as a packed function: `name` names the call in its errors.
template <int kExtra, bool kTransB = false>
auto EntryFor(const char* name) {
  return [name](tvm::ffi::PackedArgs args, tvm::ffi::Any*) { Entry<kExtra, kTransB>(args, name); };
}

}  // namespace
}  // namespace dnnl_plugin
}  // namespace ember

TVM_FFI_STATIC_INIT_BLOCK() {
  namespace refl = tvm::ffi::reflection;
  using ember::dnnl_plugin::EntryFor;
  refl::GlobalDef()
      .def_packed("ember.dnnl.matmul", EntryFor<0>("ember.dnnl.matmul"))
      // b stored [..., N, K] (never a constant), attrs [0], then optionally an empty epilogue
      // and a compute type (bf16).
      .def_packed("ember.dnnl.matmul_bt", EntryFor<0, true>("ember.dnnl.matmul_bt"))
      .def_packed("ember.dnnl.matmul_epilogue", EntryFor<1>("ember.dnnl.matmul_epilogue"))
      .def_packed("ember.dnnl.matmul_residual", EntryFor<2>("ember.dnnl.matmul_residual"));
}

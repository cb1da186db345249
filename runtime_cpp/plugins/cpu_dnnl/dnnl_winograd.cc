// Winograd's F(4 x 4, 3 x 3) and F(2 x 2, 3 x 3) for NHWC convolutions (dnnl_winograd.h): the
// transforms here, the matrix products in oneDNN. F(2 x 2)'s matrices B, G and A are those of
// Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks" (2016); F(4 x 4)'s
// interpolate at other points (Tiling<4>).
#include "dnnl_winograd.h"

#include <tvm/ffi/error.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "../common/parallel_for.h"
#include "dnnl_context.h"

namespace ember {
namespace dnnl_plugin {
namespace {

using dnnl::memory;

// Channels transformed together: one AVX-512 vector (the loops over them are what the
// compiler vectorizes; a tail of fewer channels goes one at a time).
constexpr int kLanes = 16;
// Images of at least this many output pixels take 4 x 4 tiles; smaller ones (whose
// transformed weights, 36 / 9 of the weights' size, would dominate their traffic) 2 x 2.
constexpr int64_t kLargeTilePixels = 400;

// F(M x M, 3 x 3): B^T, G and A^T, applied to `L` lanes at a time. A window's rows (or
// columns) x[k * s], k < kIn, give y[k * t].
template <int M>
struct Tiling;

// F(4 x 4, 3 x 3) interpolates at 0, -1, 1, 1/2, -2 and infinity rather than the usual
// 0, +-1, +-2: the transforms' coefficients then differ less in size, and the outputs'
// rounding error is 1.5 times smaller at the median, 2 times at the worst (measured on
// random 64-channel tiles against float64), for the same number of operations.
template <>
struct Tiling<4> {
  static constexpr int kIn = 6;
  // Tiles per chunk, about: enough rows for the products to run at the kernel's speed, few
  // enough that a chunk's transformed input and products stay in a core's L2.
  static constexpr int64_t kChunkTiles = 24;
  static constexpr double kG[kIn][3] = {{1.0 / 2, 0, 0},
                                        {1.0 / 6, -1.0 / 6, 1.0 / 6},
                                        {1.0 / 6, 1.0 / 6, 1.0 / 6},
                                        {16.0 / 15, 8.0 / 15, 4.0 / 15},
                                        {1.0 / 30, -1.0 / 15, 2.0 / 15},
                                        {0, 0, 1.0 / 2}};
  template <int L>
  __attribute__((always_inline)) static void Bt(const float (*x)[L], int s, float (*y)[L], int t) {
    for (int l = 0; l < L; ++l) {
      const float x0 = x[0 * s][l], x1 = x[1 * s][l], x2 = x[2 * s][l];
      const float x3 = x[3 * s][l], x4 = x[4 * s][l], x5 = x[5 * s][l];
      y[0 * t][l] = 2.0f * (x0 + x4) - 3.0f * (x1 - x3) - 4.0f * x2;
      y[1 * t][l] = 5.0f * x2 - 2.0f * (x1 + x4) - x3;
      y[2 * t][l] = 5.0f * x3 - 2.0f * (x1 - x4) + x2;
      y[3 * t][l] = 2.0f * (x1 - x3) + x2 - x4;
      y[4 * t][l] = x1 - x3 - 2.0f * (x2 - x4);
      y[5 * t][l] = 2.0f * (x1 + x5) - 3.0f * (x2 - x4) - 4.0f * x3;
    }
  }
  template <int L>
  __attribute__((always_inline)) static void At(const float (*x)[L], int s, float (*y)[L], int t) {
    for (int l = 0; l < L; ++l) {
      const float x0 = x[0 * s][l], x1 = x[1 * s][l], x2 = x[2 * s][l];
      const float x3 = x[3 * s][l], x4 = x[4 * s][l], x5 = x[5 * s][l];
      const float sum12 = x1 + x2, diff21 = x2 - x1;
      y[0 * t][l] = x0 + sum12 + x3 + x4;
      y[1 * t][l] = diff21 + 0.5f * x3 - 2.0f * x4;
      y[2 * t][l] = sum12 + 0.25f * x3 + 4.0f * x4;
      y[3 * t][l] = diff21 + 0.125f * x3 - 8.0f * x4 + x5;
    }
  }
};

template <>
struct Tiling<2> {
  static constexpr int kIn = 4;
  static constexpr int64_t kChunkTiles = 48;
  static constexpr double kG[kIn][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
  template <int L>
  __attribute__((always_inline)) static void Bt(const float (*x)[L], int s, float (*y)[L], int t) {
    for (int l = 0; l < L; ++l) {
      const float x0 = x[0 * s][l], x1 = x[1 * s][l], x2 = x[2 * s][l], x3 = x[3 * s][l];
      y[0 * t][l] = x0 - x2;
      y[1 * t][l] = x1 + x2;
      y[2 * t][l] = x2 - x1;
      y[3 * t][l] = x1 - x3;
    }
  }
  template <int L>
  __attribute__((always_inline)) static void At(const float (*x)[L], int s, float (*y)[L], int t) {
    for (int l = 0; l < L; ++l) {
      const float x0 = x[0 * s][l], x1 = x[1 * s][l], x2 = x[2 * s][l], x3 = x[3 * s][l];
      y[0 * t][l] = x0 + x1 + x2;
      y[1 * t][l] = x1 - x2 - x3;
    }
  }
};

// How a call's output is cut into tiles, and the tiles into chunks (one task each).
template <int M>
struct Geometry {
  int64_t tiles_h, tiles_w, tiles, chunks;
  explicit Geometry(const WinogradConv& c)
      : tiles_h(CeilDiv(c.out_h, M)),
        tiles_w(CeilDiv(c.out_w, M)),
        tiles(tiles_h * tiles_w),
        // At least two chunks per image where there are tiles for them: a batch-1 call keeps
        // two threads busy.
        chunks(std::max<int64_t>(std::min<int64_t>(2, tiles),
                                 CeilDiv(tiles, Tiling<M>::kChunkTiles))) {}
  int64_t First(int64_t chunk) const { return chunk * tiles / chunks; }
  int64_t Row(int64_t tile) const { return (tile / tiles_w) * M; }
  int64_t Column(int64_t tile) const { return (tile % tiles_w) * M; }
};

// The transformed weights U[p][C][O] = (G g G^T)[p] of every input/output channel pair, summed
// in double, in the layout `packed` the products read.
template <int M>
void TransformWeights(const WinogradConv& c, const float* weight, const memory::desc& plain,
                      const memory::desc& packed, void* out) {
  constexpr int kIn = Tiling<M>::kIn;
  const auto& kG = Tiling<M>::kG;
  const int64_t ci_count = c.in_c, co_count = c.out_c;
  std::vector<float> u(static_cast<size_t>(kIn * kIn * ci_count * co_count));
  for (int64_t ci = 0; ci < ci_count; ++ci) {
    for (int64_t co = 0; co < co_count; ++co) {
      double g[3][3];
      for (int kh = 0; kh < 3; ++kh) {
        for (int kw = 0; kw < 3; ++kw) {
          g[kh][kw] = weight[((kh * 3 + kw) * ci_count + ci) * co_count + co];
        }
      }
      double gg[kIn][3];  // G g
      for (int i = 0; i < kIn; ++i) {
        for (int kw = 0; kw < 3; ++kw) {
          gg[i][kw] = kG[i][0] * g[0][kw] + kG[i][1] * g[1][kw] + kG[i][2] * g[2][kw];
        }
      }
      for (int i = 0; i < kIn; ++i) {
        for (int j = 0; j < kIn; ++j) {
          const double v = gg[i][0] * kG[j][0] + gg[i][1] * kG[j][1] + gg[i][2] * kG[j][2];
          u[static_cast<size_t>(((i * kIn + j) * ci_count + ci) * co_count + co)] =
              static_cast<float>(v);
        }
      }
    }
  }
  SingleThreaded one_thread;
  dnnl::stream stream(Engine());
  memory from(plain, Engine(), u.data());
  memory to(packed, Engine(), out);
  dnnl::reorder(from, to).execute(stream, from, to);
  stream.wait();
}

// The transform of `L` channels from `ch` of one window into V (points `stride` apart).
template <int M, int L>
__attribute__((always_inline)) inline void InputBlock(const float* const* window, int64_t ch,
                                                      float* to, int64_t stride) {
  constexpr int kIn = Tiling<M>::kIn, kPoints = kIn * kIn;
  float d[kPoints][L], bt[kPoints][L], v[kPoints][L];
  for (int p = 0; p < kPoints; ++p) {
    for (int l = 0; l < L; ++l) d[p][l] = window[p][ch + l];
  }
  for (int j = 0; j < kIn; ++j) Tiling<M>::template Bt<L>(d + j, kIn, bt + j, kIn);  // columns
  for (int i = 0; i < kIn; ++i) Tiling<M>::template Bt<L>(bt + i * kIn, 1, v + i * kIn, 1);
  for (int p = 0; p < kPoints; ++p) {
    for (int l = 0; l < L; ++l) to[p * stride + ch + l] = v[p][l];
  }
}

// The transformed windows of tiles [t0, t1) of one image: V[p][t - t0][C], `rows` rows per
// point. `zeros` stands in for the padding's pixels.
template <int M>
__attribute__((always_inline)) inline void TransformInput(const WinogradConv& c,
                                                          const Geometry<M>& g, const float* image,
                                                          int64_t t0, int64_t t1, int64_t rows,
                                                          const float* zeros, float* v) {
  constexpr int kIn = Tiling<M>::kIn;
  const int64_t channels = c.in_c, stride = rows * channels;
  const float* window[kIn * kIn];
  for (int64_t t = t0; t < t1; ++t) {
    const int64_t y0 = g.Row(t) - c.pad_top, x0 = g.Column(t) - c.pad_left;
    for (int64_t i = 0; i < kIn; ++i) {
      for (int64_t j = 0; j < kIn; ++j) {
        const int64_t y = y0 + i, x = x0 + j;
        const bool inside = y >= 0 && y < c.in_h && x >= 0 && x < c.in_w;
        window[i * kIn + j] = inside ? image + (y * c.in_w + x) * channels : zeros;
      }
    }
    float* to = v + (t - t0) * channels;
    int64_t ch = 0;
    for (; ch + kLanes <= channels; ch += kLanes) InputBlock<M, kLanes>(window, ch, to, stride);
    for (; ch < channels; ++ch) InputBlock<M, 1>(window, ch, to, stride);
  }
}

// What the output transform applies to each value on its way out: the bias, then the leading
// clips (ReLU) and residual add of the epilogue, in order; later steps are left to
// EpilogueSpec::Apply.
struct Finish {
  const float* bias;  // or null
  const plugins::EpilogueStep* steps;
  int count;
};

// Where one tile's outputs go: `height` x `width` pixels from `out` (and its residual), rows
// `row` floats apart, pixels `pixel` floats apart.
struct TileOut {
  float* out;
  const float* residual;  // or null
  int64_t row, pixel, height, width;
};

// The inverse transform of `L` channels from `ch` of one tile (products `stride` apart),
// finished, into its output pixels.
template <int M, int L>
__attribute__((always_inline)) inline void OutputBlock(const float* from, int64_t ch,
                                                       int64_t stride, const Finish& finish,
                                                       const TileOut& tile) {
  constexpr int kIn = Tiling<M>::kIn, kPoints = kIn * kIn;
  float m[kPoints][L], at[M * kIn][L], y[M * M][L];
  for (int p = 0; p < kPoints; ++p) {
    for (int l = 0; l < L; ++l) m[p][l] = from[p * stride + ch + l];
  }
  for (int j = 0; j < kIn; ++j) Tiling<M>::template At<L>(m + j, kIn, at + j, kIn);  // columns
  for (int i = 0; i < M; ++i) Tiling<M>::template At<L>(at + i * kIn, 1, y + i * M, 1);
  for (int64_t i = 0; i < tile.height; ++i) {
    for (int64_t j = 0; j < tile.width; ++j) {
      const int64_t at_pixel = i * tile.row + j * tile.pixel + ch;
      float value[L];
      for (int l = 0; l < L; ++l) value[l] = y[i * M + j][l];
      if (finish.bias) {
        for (int l = 0; l < L; ++l) value[l] += finish.bias[ch + l];
      }
      for (int k = 0; k < finish.count; ++k) {
        const plugins::EpilogueStep& step = finish.steps[k];
        if (step.kind == plugins::kResidual) {
          for (int l = 0; l < L; ++l) value[l] += tile.residual[at_pixel + l];
        } else {  // kClip
          for (int l = 0; l < L; ++l) {
            value[l] = std::min(std::max(value[l], step.alpha), step.beta);
          }
        }
      }
      for (int l = 0; l < L; ++l) tile.out[at_pixel + l] = value[l];
    }
  }
}

// The outputs of tiles [t0, t1) of one image (and its `residual`) from their products
// M[p][t - t0][O], `rows` rows per point.
template <int M>
__attribute__((always_inline)) inline void TransformOutput(
    const WinogradConv& c, const Geometry<M>& g, const float* m, int64_t t0, int64_t t1,
    int64_t rows, const Finish& finish, const float* residual, float* image_out) {
  const int64_t channels = c.out_c, stride = rows * channels;
  for (int64_t t = t0; t < t1; ++t) {
    const int64_t y0 = g.Row(t), x0 = g.Column(t);
    const int64_t at = (y0 * c.out_w + x0) * channels;
    const TileOut tile{
        image_out + at, residual ? residual + at : nullptr, c.out_w * channels,
        channels,       std::min<int64_t>(M, c.out_h - y0), std::min<int64_t>(M, c.out_w - x0)};
    const float* from = m + (t - t0) * channels;
    int64_t ch = 0;
    for (; ch + kLanes <= channels; ch += kLanes) {
      OutputBlock<M, kLanes>(from, ch, stride, finish, tile);
    }
    for (; ch < channels; ++ch) OutputBlock<M, 1>(from, ch, stride, finish, tile);
  }
}

// The transforms compiled for each instruction set the CPU may have, picked when the plugin
// loads (the plugin itself is built for any x86-64).
#define EMBER_WINOGRAD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))

EMBER_WINOGRAD_CLONES void TransformInput4(const WinogradConv& c, const Geometry<4>& g,
                                           const float* image, int64_t t0, int64_t t1, int64_t rows,
                                           const float* zeros, float* v) {
  TransformInput<4>(c, g, image, t0, t1, rows, zeros, v);
}
EMBER_WINOGRAD_CLONES void TransformInput2(const WinogradConv& c, const Geometry<2>& g,
                                           const float* image, int64_t t0, int64_t t1, int64_t rows,
                                           const float* zeros, float* v) {
  TransformInput<2>(c, g, image, t0, t1, rows, zeros, v);
}
EMBER_WINOGRAD_CLONES void TransformOutput4(const WinogradConv& c, const Geometry<4>& g,
                                            const float* m, int64_t t0, int64_t t1, int64_t rows,
                                            const Finish& finish, const float* residual,
                                            float* image_out) {
  TransformOutput<4>(c, g, m, t0, t1, rows, finish, residual, image_out);
}
EMBER_WINOGRAD_CLONES void TransformOutput2(const WinogradConv& c, const Geometry<2>& g,
                                            const float* m, int64_t t0, int64_t t1, int64_t rows,
                                            const Finish& finish, const float* residual,
                                            float* image_out) {
  TransformOutput<2>(c, g, m, t0, t1, rows, finish, residual, image_out);
}

#undef EMBER_WINOGRAD_CLONES

void TransformInputOf(const WinogradConv& c, const Geometry<4>& g, const float* image, int64_t t0,
                      int64_t t1, int64_t rows, const float* zeros, float* v) {
  TransformInput4(c, g, image, t0, t1, rows, zeros, v);
}
void TransformInputOf(const WinogradConv& c, const Geometry<2>& g, const float* image, int64_t t0,
                      int64_t t1, int64_t rows, const float* zeros, float* v) {
  TransformInput2(c, g, image, t0, t1, rows, zeros, v);
}
void TransformOutputOf(const WinogradConv& c, const Geometry<4>& g, const float* m, int64_t t0,
                       int64_t t1, int64_t rows, const Finish& finish, const float* residual,
                       float* image_out) {
  TransformOutput4(c, g, m, t0, t1, rows, finish, residual, image_out);
}
void TransformOutputOf(const WinogradConv& c, const Geometry<2>& g, const float* m, int64_t t0,
                       int64_t t1, int64_t rows, const Finish& finish, const float* residual,
                       float* image_out) {
  TransformOutput2(c, g, m, t0, t1, rows, finish, residual, image_out);
}

// The batched product of a chunk of `rows` tiles: [points, rows, C] x [points, C, O].
std::shared_ptr<const Kernel> ProductKernel(const WinogradConv& c, int64_t points, int64_t rows) {
  std::ostringstream key;
  key << "winograd|" << points << '|' << rows << '|' << c.in_c << '|' << c.out_c;
  return CachedKernel(key.str(), [&] {
    const memory::desc src({points, rows, c.in_c}, memory::data_type::f32, memory::format_tag::abc);
    const memory::desc weights({points, c.in_c, c.out_c}, memory::data_type::f32,
                               memory::format_tag::any);
    const memory::desc dst({points, rows, c.out_c}, memory::data_type::f32,
                           memory::format_tag::abc);
    const Epilogue none;
    const dnnl::matmul::primitive_desc pd(Engine(), src, weights, dst, none.Attributes(dst, false));
    return KernelOf<dnnl::matmul>(pd, none);
  });
}

template <int M>
void Resolve(WinogradPlan* plan) {
  constexpr int64_t kPoints = Tiling<M>::kIn * Tiling<M>::kIn;
  const WinogradConv& c = plan->conv;
  const Geometry<M> g(c);
  plan->small = ProductKernel(c, kPoints, g.tiles / g.chunks);
  plan->large = ProductKernel(c, kPoints, CeilDiv(g.tiles, g.chunks));
  const memory::desc plain({kPoints, c.in_c, c.out_c}, memory::data_type::f32,
                           memory::format_tag::abc);
  auto pack_key = [&](const Kernel& kernel) {
    std::ostringstream key;
    key << c.weight_hash << "|winograd" << M << "x3|" << DescKey(plain) << '|'
        << DescKey(kernel.weights);
    return key.str();
  };
  plan->small_pack = pack_key(*plan->small);
  if (plan->small->weights != plan->large->weights) plan->large_pack = pack_key(*plan->large);
}

template <int M>
void Run(const WinogradPlan& plan, const float* data, const float* weight, const float* bias,
         const float* residual, float* out) {
  constexpr int64_t kPoints = Tiling<M>::kIn * Tiling<M>::kIn;
  const WinogradConv& c = plan.conv;
  const Geometry<M> g(c);
  const int64_t large_rows = CeilDiv(g.tiles, g.chunks);
  const memory::desc plain({kPoints, c.in_c, c.out_c}, memory::data_type::f32,
                           memory::format_tag::abc);
  // The transformed weights, looked up per call: the cache may have released them since.
  auto pack = [&](const Kernel& kernel, const std::string& key) {
    return CachedBytes(key, kernel.weights.get_size(), [&](void* to) {
      TransformWeights<M>(c, weight, plain, kernel.weights, to);
    });
  };
  const std::shared_ptr<const void> small_pack = pack(*plan.small, plan.small_pack);
  const std::shared_ptr<const void> large_pack =
      plan.large_pack.empty() ? small_pack : pack(*plan.large, plan.large_pack);
  const int64_t in_image = c.in_h * c.in_w * c.in_c, out_image = c.out_h * c.out_w * c.out_c;
  const Finish finish{plan.bias ? bias : nullptr, plan.finish.data(),
                      static_cast<int>(plan.finish.size())};
  plugins::ParallelFor(c.batch * g.chunks, 1, [&](int64_t begin, int64_t end) {
    thread_local std::vector<float> v, m;
    for (int64_t task = begin; task < end; ++task) {
      const int64_t n = task / g.chunks, chunk = task % g.chunks;
      const int64_t t0 = g.First(chunk), t1 = g.First(chunk + 1), rows = t1 - t0;
      const bool is_large = rows == large_rows;
      v.resize(static_cast<size_t>(kPoints * rows * c.in_c));
      m.resize(static_cast<size_t>(kPoints * rows * c.out_c));
      TransformInputOf(c, g, data + n * in_image, t0, t1, rows, plan.zeros.data(), v.data());
      Execute(is_large ? *plan.large : *plan.small, v.data(),
              (is_large ? large_pack : small_pack).get(), m.data());
      const float* image_residual = residual ? residual + n * out_image : nullptr;
      float* image_out = out + n * out_image;
      TransformOutputOf(c, g, m.data(), t0, t1, rows, finish, image_residual, image_out);
      if (plan.rest.steps.empty()) continue;
      // Steps the output transform does not apply, on each tile's rows while they are in cache.
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t y0 = g.Row(t), x0 = g.Column(t);
        const int64_t height = std::min<int64_t>(M, c.out_h - y0);
        const int64_t width = std::min<int64_t>(M, c.out_w - x0);
        for (int64_t i = 0; i < height; ++i) {
          const int64_t at = ((y0 + i) * c.out_w + x0) * c.out_c;
          plan.rest.Apply(image_out + at, 0, width, c.out_c, nullptr,
                          image_residual ? image_residual + at : nullptr);
        }
      }
    }
  });
}

}  // namespace

std::shared_ptr<const WinogradPlan> WinogradPlan::Make(
    const WinogradConv& c, bool bias, const std::vector<plugins::EpilogueStep>& steps) {
  auto plan = std::make_shared<WinogradPlan>();
  plan->conv = c;
  plan->tile = c.out_h * c.out_w >= kLargeTilePixels ? 4 : 2;
  plan->bias = bias;
  // The bias and the leading clips and residual add go into the output transform; the rest
  // (an activation such as GELU) is applied after it.
  size_t count = 0;
  while (count < steps.size() &&
         (steps[count].kind == plugins::kClip || steps[count].kind == plugins::kResidual)) {
    ++count;
  }
  plan->finish.assign(steps.begin(), steps.begin() + static_cast<std::ptrdiff_t>(count));
  plan->rest.steps.assign(steps.begin() + static_cast<std::ptrdiff_t>(count), steps.end());
  plan->zeros.assign(static_cast<size_t>(c.in_c), 0.0f);
  if (plan->tile == 4) {
    Resolve<4>(plan.get());
  } else {
    Resolve<2>(plan.get());
  }
  return plan;
}

void RunWinograd(const WinogradPlan& plan, const float* data, const float* weight,
                 const float* bias, const float* residual, float* out) {
  if (plan.tile == 4) {
    Run<4>(plan, data, weight, bias, residual, out);
  } else {
    Run<2>(plan, data, weight, bias, residual, out);
  }
}

}  // namespace dnnl_plugin
}  // namespace ember

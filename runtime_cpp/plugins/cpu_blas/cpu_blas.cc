/*!
 * \file cpu_blas.cc
 * \brief Ember's CPU kernel plugin: float32 matmul and conv2d (NCHW and NHWC) on OpenBLAS.
 *
 * The compiler rewrites matching Relax ops into `call_dps_packed("ember.cpu.*", ...)`; the
 * VM resolves those names in the global function registry when it runs, which this library
 * fills when the runtime dlopens it (only for artifacts whose manifest lists the plugin).
 * OpenBLAS runs single-threaded per call; the work is split over TVM's thread pool.
 */
#include <cblas.h>
#include <tvm/ffi/container/shape.h>
#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/error.h>
#include <tvm/ffi/function.h>
#include <tvm/ffi/reflection/registry.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "../common/operands.h"
#include "../common/parallel_for.h"
#include "blas_kernels.h"
#include "conv_geometry.h"

namespace ember {
namespace blas {

using plugins::ParallelFor;
using tvm::ffi::Shape;
using tvm::ffi::TensorView;

// The VM places tensors inside shared storage; a view may start at a byte offset.
float* Out(const TensorView& t) {
  return reinterpret_cast<float*>(static_cast<char*>(t.data_ptr()) + t.byte_offset());
}
const float* In(const TensorView& t) { return Out(t); }

void CheckFloat32(const TensorView& t, const char* what) {
  plugins::CheckFloat32(t, "ember.cpu", what);
}

namespace {

// C[m0:m1, n0:n1] = A[m0:m1, :] * B[:, n0:n1], row-major, with leading dimensions; with
// `trans_b`, B is stored [n, k] and read transposed.
void Gemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb,
          float* c, int64_t ldc, bool trans_b = false) {
  scipy_cblas_sgemm(CblasRowMajor, CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                    static_cast<blasint>(m), static_cast<blasint>(n), static_cast<blasint>(k), 1.0f,
                    a, static_cast<blasint>(lda), b, static_cast<blasint>(ldb), 0.0f, c,
                    static_cast<blasint>(ldc));
}

// One [M, K] x [K, N] product over TVM's pool. Each task packs the operand panels it reads,
// so the split goes along the dimension of the smaller operand's partner: along N when B (the
// weights, usually) is the larger matrix, so no task packs all of it.
void ParallelGemm(int64_t m, int64_t n, int64_t k, const float* a, const float* b, float* c,
                  bool trans_b) {
  const int64_t ldb = trans_b ? k : n;
  constexpr int64_t kRowsPerTask = 16;
  constexpr int64_t kColsPerTask = 64;
  if (m * k >= k * n && m >= 2 * kRowsPerTask) {
    ParallelFor(m, kRowsPerTask, [&](int64_t r0, int64_t r1) {
      Gemm(r1 - r0, n, k, a + r0 * k, k, b, ldb, c + r0 * n, n, trans_b);
    });
  } else {
    ParallelFor(n, kColsPerTask, [&](int64_t c0, int64_t c1) {
      Gemm(m, c1 - c0, k, a, k, b + (trans_b ? c0 * k : c0), ldb, c + c0, n, trans_b);
    });
  }
}

}  // namespace

void MatmulInto(const TensorView& a, const TensorView& b, const TensorView& out, bool trans_b) {
  CheckFloat32(a, "matmul lhs");
  CheckFloat32(b, "matmul rhs");
  CheckFloat32(out, "matmul output");
  int64_t k = a.shape()[a.ndim() - 1];
  int64_t n = b.shape()[b.ndim() - (trans_b ? 2 : 1)];
  int64_t rows = a.numel() / std::max<int64_t>(k, 1);
  if (b.ndim() == 2) {
    ParallelGemm(rows, n, k, In(a), In(b), Out(out), trans_b);
    return;
  }
  int64_t m = a.shape()[a.ndim() - 2];
  int64_t batch = rows / std::max<int64_t>(m, 1);
  ParallelFor(batch, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t i = b0; i < b1; ++i) {
      Gemm(m, n, k, In(a) + i * m * k, k, In(b) + i * k * n, trans_b ? k : n, Out(out) + i * m * n,
           n, trans_b);
    }
  });
}

namespace {

// im2col columns for one block of output pixels: small enough to stay in L2 while the GEMM
// reads it, reused across calls on the same thread.
constexpr int64_t kPixelsPerBlock = 256;
// Deep layers have few pixels (7x7, 14x14) but many channels: split the output channels too,
// so there are at least this many tasks for the pool.
constexpr int64_t kMinTasks = 8;
constexpr int64_t kMinChannelsPerTask = 16;

// One task: output channels [c0, c1) of pixels [p0, p1) of one (image, group), with its
// own columns (many pixels: each task's block of columns stays in its core's cache).
void ConvBlock(const ConvGeometry& g, const float* x, const float* w, float* y, int64_t c0,
               int64_t c1, int64_t p0, int64_t p1) {
  const int64_t pixels = g.out_h * g.out_w;
  const int64_t rows = g.ColumnRows();
  if (g.IsPointwise()) {  // 1x1, stride 1, no padding: the input already is the column matrix
    Gemm(c1 - c0, p1 - p0, rows, w + c0 * rows, rows, x + p0, pixels, y + c0 * pixels + p0, pixels);
    return;
  }
  thread_local std::vector<float> col;
  col.resize(static_cast<size_t>(rows * (p1 - p0)));
  g.Im2Col(x, p0, p1, col.data(), p1 - p0);
  Gemm(c1 - c0, p1 - p0, rows, w + c0 * rows, rows, col.data(), p1 - p0, y + c0 * pixels + p0,
       pixels);
}

// Few pixels, many channels (deep layers): build the column matrix of one (image, group)
// once, in parallel, then split the GEMM over output channels, so no task repeats the im2col.
void ConvSharedColumns(const ConvGeometry& g, const float* x, const float* w, float* y) {
  const int64_t pixels = g.out_h * g.out_w;
  const int64_t rows = g.ColumnRows();
  const float* col = x;
  std::vector<float> buffer;
  if (!g.IsPointwise()) {
    buffer.resize(static_cast<size_t>(rows * pixels));
    ParallelFor(pixels, 16,
                [&](int64_t p0, int64_t p1) { g.Im2Col(x, p0, p1, buffer.data() + p0, pixels); });
    col = buffer.data();
  }
  ParallelFor(g.group_out_c, kMinChannelsPerTask, [&](int64_t c0, int64_t c1) {
    Gemm(c1 - c0, pixels, rows, w + c0 * rows, rows, col, pixels, y + c0 * pixels, pixels);
  });
}

struct ConvOperands {
  const float* x;
  const float* w;
  float* y;
};

ConvOperands Slice(const ConvGeometry& g, const TensorView& data, const TensorView& weight,
                   const TensorView& out, int64_t image) {
  const int64_t n = image / g.groups, grp = image % g.groups;
  return {In(data) + (n * g.in_c + grp * g.group_in_c) * g.in_h * g.in_w,
          In(weight) + grp * g.group_out_c * g.ColumnRows(),
          Out(out) + (n * g.out_c + grp * g.group_out_c) * g.out_h * g.out_w};
}

// NCHW conv2d as im2col + GEMM. Many pixels: parallel over (image, group, pixel block), each
// task with its own columns; few pixels: shared columns and a GEMM split over channels.
// DPS: the output comes last, after the attributes.
void Conv2d(TensorView data, TensorView weight, Shape attrs, TensorView out) {
  CheckFloat32(data, "conv2d data");
  CheckFloat32(weight, "conv2d weight");
  CheckFloat32(out, "conv2d output");
  ConvGeometry g = ConvGeometry::From(data.shape(), weight.shape(), out.shape(), attrs);
  const int64_t pixels = g.out_h * g.out_w;
  const int64_t pixel_blocks = (pixels + kPixelsPerBlock - 1) / kPixelsPerBlock;
  const int64_t images = g.batch * g.groups;
  if (images * pixel_blocks < kMinTasks && g.group_out_c >= 2 * kMinChannelsPerTask) {
    for (int64_t image = 0; image < images; ++image) {
      ConvOperands o = Slice(g, data, weight, out, image);
      ConvSharedColumns(g, o.x, o.w, o.y);
    }
    return;
  }
  ParallelFor(images * pixel_blocks, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      ConvOperands o = Slice(g, data, weight, out, t / pixel_blocks);
      const int64_t p0 = (t % pixel_blocks) * kPixelsPerBlock;
      ConvBlock(g, o.x, o.w, o.y, 0, g.group_out_c, p0, std::min(pixels, p0 + kPixelsPerBlock));
    }
  });
}

// NHWC conv2d, one group of pixels [p0, p1) of one image: out[p, c] = sum_r col[p, r] W[r, c]
// with the columns' rows in HWIO order, so the weight is read as the [rows, out_c] matrix it
// already is (the compiler stores it in HWIO at build time).
void ConvBlockNhwc(const ConvGeometry& g, const float* x, const float* w, float* y, int64_t p0,
                   int64_t p1) {
  const int64_t rows = g.ColumnRows();
  thread_local std::vector<float> col;
  col.resize(static_cast<size_t>(rows * (p1 - p0)));
  for (int64_t grp = 0; grp < g.groups; ++grp) {
    g.Im2ColNhwc(x + grp * g.group_in_c, p0, p1, col.data());
    Gemm(p1 - p0, g.group_out_c, rows, col.data(), rows, w + grp * g.group_out_c, g.out_c,
         y + p0 * g.out_c + grp * g.group_out_c, g.out_c);
  }
}

// Few pixels, many channels: the image's columns once (in parallel), then the GEMM split over
// output channels.
void ConvSharedColumnsNhwc(const ConvGeometry& g, const float* x, const float* w, float* y) {
  const int64_t pixels = g.out_h * g.out_w;
  const int64_t rows = g.ColumnRows();
  std::vector<float> col(static_cast<size_t>(rows * pixels));
  for (int64_t grp = 0; grp < g.groups; ++grp) {
    ParallelFor(pixels, 16, [&](int64_t p0, int64_t p1) {
      g.Im2ColNhwc(x + grp * g.group_in_c, p0, p1, col.data() + p0 * rows);
    });
    const int64_t c_base = grp * g.group_out_c;
    ParallelFor(g.group_out_c, kMinChannelsPerTask, [&](int64_t c0, int64_t c1) {
      Gemm(pixels, c1 - c0, rows, col.data(), rows, w + c_base + c0, g.out_c, y + c_base + c0,
           g.out_c);
    });
  }
}

// Depthwise NHWC (one input and one output channel per group): a GEMM per channel would be
// 1 x 1 matrices, so each output row is summed directly, channels innermost (contiguous in
// both the input and the HWIO weights, so the loop vectorizes).
void DepthwiseNhwcRows(const ConvGeometry& g, const float* x, const float* w, float* y,
                       int64_t row0, int64_t row1) {
  const int64_t c_count = g.out_c;
  for (int64_t row = row0; row < row1; ++row) {
    const int64_t oh = row % g.out_h;
    const float* image = x + (row / g.out_h) * g.in_h * g.in_w * c_count;
    float* out_row = y + row * g.out_w * c_count;
    std::fill(out_row, out_row + g.out_w * c_count, 0.0f);
    for (int64_t kh = 0; kh < g.kernel_h; ++kh) {
      const int64_t ih = oh * g.stride_h - g.pad_top + kh * g.dilation_h;
      if (ih < 0 || ih >= g.in_h) continue;
      for (int64_t ow = 0; ow < g.out_w; ++ow) {
        float* acc = out_row + ow * c_count;
        for (int64_t kw = 0; kw < g.kernel_w; ++kw) {
          const int64_t iw = ow * g.stride_w - g.pad_left + kw * g.dilation_w;
          if (iw < 0 || iw >= g.in_w) continue;
          const float* in = image + (ih * g.in_w + iw) * c_count;
          const float* tap = w + (kh * g.kernel_w + kw) * c_count;
          for (int64_t c = 0; c < c_count; ++c) acc[c] += in[c] * tap[c];
        }
      }
    }
  }
}

}  // namespace

void ConvNhwcInto(const ConvGeometry& g, const float* x, const float* w, float* y) {
  const int64_t pixels = g.out_h * g.out_w;
  const int64_t in_image = g.in_h * g.in_w * g.in_c, out_image = pixels * g.out_c;
  if (g.groups > 1 && g.group_in_c == 1 && g.group_out_c == 1) {
    ParallelFor(g.batch * g.out_h, 1,
                [&](int64_t r0, int64_t r1) { DepthwiseNhwcRows(g, x, w, y, r0, r1); });
    return;
  }
  if (g.IsPointwise() && g.groups == 1) {
    ParallelGemm(g.batch * pixels, g.out_c, g.in_c, x, w, y, /*trans_b=*/false);
    return;
  }
  const int64_t pixel_blocks = (pixels + kPixelsPerBlock - 1) / kPixelsPerBlock;
  if (g.batch * pixel_blocks < kMinTasks && g.group_out_c >= 2 * kMinChannelsPerTask) {
    for (int64_t n = 0; n < g.batch; ++n) {
      ConvSharedColumnsNhwc(g, x + n * in_image, w, y + n * out_image);
    }
    return;
  }
  ParallelFor(g.batch * pixel_blocks, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t n = t / pixel_blocks, p0 = (t % pixel_blocks) * kPixelsPerBlock;
      ConvBlockNhwc(g, x + n * in_image, w, y + n * out_image, p0,
                    std::min(pixels, p0 + kPixelsPerBlock));
    }
  });
}

namespace {

// out[..., M, N] = a[..., M, K] @ b[K, N]  or  a[b..., M, K] @ b[b..., K, N].
void Matmul(TensorView a, TensorView b, TensorView out) { MatmulInto(a, b, out); }

// NHWC/HWIO conv2d as im2col + GEMM: im2col copies contiguous channel runs, and a 1x1 stride-1
// conv without padding is one GEMM over all images' pixels, the input read in place.
void Conv2dNhwc(TensorView data, TensorView weight, Shape attrs, TensorView out) {
  CheckFloat32(data, "conv2d data");
  CheckFloat32(weight, "conv2d weight");
  CheckFloat32(out, "conv2d output");
  ConvNhwcInto(ConvGeometry::FromNhwc(data.shape(), weight.shape(), out.shape(), attrs), In(data),
               In(weight), Out(out));
}

// Each BLAS call runs on one thread; the parallelism is TVM's (see ParallelFor).
const bool kSingleThreaded = (scipy_openblas_set_num_threads(1), true);

// The kernel family OpenBLAS chose when it loaded (e.g. "SkylakeX"), for `ember profile`.
tvm::ffi::String BlasCore() { return tvm::ffi::String(scipy_openblas_get_corename()); }

}  // namespace
}  // namespace blas
}  // namespace ember

TVM_FFI_STATIC_INIT_BLOCK() {
  namespace refl = tvm::ffi::reflection;
  refl::GlobalDef()
      .def("ember.cpu.matmul", ember::blas::Matmul)
      .def("ember.cpu.conv2d", ember::blas::Conv2d)
      .def("ember.cpu.conv2d_nhwc", ember::blas::Conv2dNhwc)
      .def("ember.cpu.blas_core", ember::blas::BlasCore);
}

#include "conv_geometry.h"

#include <tvm/ffi/error.h>

#include <algorithm>
#include <cstring>

namespace ember {
namespace blas {

namespace {

// [stride_h, stride_w, pad_top, pad_left, pad_bottom, pad_right, dil_h, dil_w, groups].
void ReadAttrs(tvm::ffi::ShapeView attrs, ConvGeometry* g) {
  g->stride_h = attrs[0];
  g->stride_w = attrs[1];
  g->pad_top = attrs[2];
  g->pad_left = attrs[3];
  g->dilation_h = attrs[6];
  g->dilation_w = attrs[7];
  g->groups = attrs[8];
}

}  // namespace

ConvGeometry ConvGeometry::From(tvm::ffi::ShapeView data, tvm::ffi::ShapeView weight,
                                tvm::ffi::ShapeView out, tvm::ffi::ShapeView attrs) {
  if (data.size() != 4 || weight.size() != 4 || out.size() != 4 || attrs.size() != 9) {
    TVM_FFI_THROW(ValueError) << "ember.cpu.conv2d expects NCHW data, OIHW weight, 9 attrs";
  }
  ConvGeometry g{};
  g.batch = data[0];
  g.in_c = data[1];
  g.in_h = data[2];
  g.in_w = data[3];
  g.out_c = out[1];
  g.out_h = out[2];
  g.out_w = out[3];
  g.kernel_h = weight[2];
  g.kernel_w = weight[3];
  ReadAttrs(attrs, &g);
  g.group_in_c = g.in_c / g.groups;
  g.group_out_c = g.out_c / g.groups;
  if (weight[0] != g.out_c || weight[1] != g.group_in_c || out[0] != g.batch) {
    TVM_FFI_THROW(ValueError) << "ember.cpu.conv2d: inconsistent shapes";
  }
  return g;
}

ConvGeometry ConvGeometry::FromNhwc(tvm::ffi::ShapeView data, tvm::ffi::ShapeView weight,
                                    tvm::ffi::ShapeView out, tvm::ffi::ShapeView attrs) {
  if (data.size() != 4 || weight.size() != 4 || out.size() != 4 || attrs.size() != 9) {
    TVM_FFI_THROW(ValueError) << "ember.cpu.conv2d_nhwc expects NHWC data, HWIO weight, 9 attrs";
  }
  ConvGeometry g{};
  g.batch = data[0];
  g.in_h = data[1];
  g.in_w = data[2];
  g.in_c = data[3];
  g.out_h = out[1];
  g.out_w = out[2];
  g.out_c = out[3];
  g.kernel_h = weight[0];
  g.kernel_w = weight[1];
  ReadAttrs(attrs, &g);
  g.group_in_c = g.in_c / g.groups;
  g.group_out_c = g.out_c / g.groups;
  if (weight[2] != g.group_in_c || weight[3] != g.out_c || out[0] != g.batch) {
    TVM_FFI_THROW(ValueError) << "ember.cpu.conv2d_nhwc: inconsistent shapes";
  }
  return g;
}

void ConvGeometry::Im2ColNhwc(const float* x, int64_t p0, int64_t p1, float* col) const {
  const size_t run = static_cast<size_t>(group_in_c);
  // With one group and no dilation, a kernel row's window positions are adjacent pixels, so
  // where the window row lies inside the image its kernel_w * in_c values are one contiguous
  // run of the input (one copy instead of kernel_w, which matters for the first layers' 3
  // channels).
  const bool rows_contiguous = groups == 1 && dilation_w == 1;
  const size_t row_run = run * static_cast<size_t>(kernel_w);
  for (int64_t p = p0; p < p1; ++p) {
    const int64_t oh = p / out_w, ow = p % out_w;
    const int64_t iw0 = ow * stride_w - pad_left;
    const bool row_inside = rows_contiguous && iw0 >= 0 && iw0 + kernel_w <= in_w;
    float* dst = col + (p - p0) * ColumnRows();
    for (int64_t kh = 0; kh < kernel_h; ++kh) {
      const int64_t ih = oh * stride_h - pad_top + kh * dilation_h;
      if (row_inside && ih >= 0 && ih < in_h) {
        std::memcpy(dst, x + (ih * in_w + iw0) * in_c, row_run * sizeof(float));
        dst += row_run;
        continue;
      }
      for (int64_t kw = 0; kw < kernel_w; ++kw, dst += run) {
        const int64_t iw = iw0 + kw * dilation_w;
        if (ih < 0 || ih >= in_h || iw < 0 || iw >= in_w) {
          std::fill(dst, dst + run, 0.0f);
        } else {
          std::memcpy(dst, x + (ih * in_w + iw) * in_c, run * sizeof(float));
        }
      }
    }
  }
}

namespace {

// dst[i] = input row at column iw0 + i * stride, or 0 outside [0, width): one output-row run
// of one (channel, kh, kw) row of the column matrix.
void CopyRun(const float* src, int64_t width, int64_t iw0, int64_t stride, int64_t run,
             float* dst) {
  if (stride != 1) {
    for (int64_t i = 0; i < run; ++i) {
      const int64_t iw = iw0 + i * stride;
      dst[i] = (iw >= 0 && iw < width) ? src[iw] : 0.0f;
    }
    return;
  }
  // Stride 1: zeros left of the input, one contiguous copy, zeros right of it.
  const int64_t lo = std::clamp<int64_t>(-iw0, 0, run);
  const int64_t hi = std::clamp<int64_t>(width - iw0, lo, run);
  std::fill(dst, dst + lo, 0.0f);
  std::memcpy(dst + lo, src + iw0 + lo, static_cast<size_t>(hi - lo) * sizeof(float));
  std::fill(dst + hi, dst + run, 0.0f);
}

}  // namespace

void ConvGeometry::Im2Col(const float* x, int64_t p0, int64_t p1, float* col, int64_t ld) const {
  const int64_t width = ld;
  // Walk the block one output row at a time: within a row the window slides along the input
  // row, so each (channel, kh, kw) row of the column matrix is a strided copy, not a gather.
  for (int64_t p = p0; p < p1;) {
    const int64_t oh = p / out_w, ow0 = p % out_w;
    const int64_t run = std::min(out_w - ow0, p1 - p);
    float* base = col + (p - p0);
    for (int64_t c = 0; c < group_in_c; ++c) {
      for (int64_t kh = 0; kh < kernel_h; ++kh) {
        const int64_t ih = oh * stride_h - pad_top + kh * dilation_h;
        const bool row_inside = ih >= 0 && ih < in_h;
        const float* src = x + (c * in_h + (row_inside ? ih : 0)) * in_w;
        for (int64_t kw = 0; kw < kernel_w; ++kw) {
          float* dst = base + ((c * kernel_h + kh) * kernel_w + kw) * width;
          if (!row_inside) {
            std::fill(dst, dst + run, 0.0f);
            continue;
          }
          CopyRun(src, in_w, ow0 * stride_w - pad_left + kw * dilation_w, stride_w, run, dst);
        }
      }
    }
    p += run;
  }
}

}  // namespace blas
}  // namespace ember

#include "conv_geometry.h"

#include <tvm/ffi/error.h>

#include <vector>

namespace ember {
namespace blas {

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
  g.stride_h = attrs[0];
  g.stride_w = attrs[1];
  g.pad_top = attrs[2];
  g.pad_left = attrs[3];
  g.dilation_h = attrs[6];
  g.dilation_w = attrs[7];
  g.groups = attrs[8];
  g.group_in_c = g.in_c / g.groups;
  g.group_out_c = g.out_c / g.groups;
  if (weight[0] != g.out_c || weight[1] != g.group_in_c || out[0] != g.batch) {
    TVM_FFI_THROW(ValueError) << "ember.cpu.conv2d: inconsistent shapes";
  }
  return g;
}

void ConvGeometry::Im2Col(const float* x, int64_t p0, int64_t p1, float* col) const {
  const int64_t width = p1 - p0;
  // Window origins of the block's pixels, computed once: the inner loop then has no division.
  thread_local std::vector<int64_t> origin_h, origin_w;
  origin_h.resize(static_cast<size_t>(width));
  origin_w.resize(static_cast<size_t>(width));
  for (int64_t p = p0; p < p1; ++p) {
    origin_h[p - p0] = (p / out_w) * stride_h - pad_top;
    origin_w[p - p0] = (p % out_w) * stride_w - pad_left;
  }
  for (int64_t c = 0; c < group_in_c; ++c) {
    const float* plane = x + c * in_h * in_w;
    for (int64_t kh = 0; kh < kernel_h; ++kh) {
      for (int64_t kw = 0; kw < kernel_w; ++kw) {
        float* row = col + ((c * kernel_h + kh) * kernel_w + kw) * width;
        const int64_t dh = kh * dilation_h, dw = kw * dilation_w;
        for (int64_t i = 0; i < width; ++i) {
          const int64_t ih = origin_h[i] + dh, iw = origin_w[i] + dw;
          const bool inside = ih >= 0 && ih < in_h && iw >= 0 && iw < in_w;
          row[i] = inside ? plane[ih * in_w + iw] : 0.0f;
        }
      }
    }
  }
}

}  // namespace blas
}  // namespace ember

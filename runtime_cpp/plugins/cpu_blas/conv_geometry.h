/*!
 * \file conv_geometry.h
 * \brief Shapes and attributes of an NCHW/OIHW or NHWC/HWIO conv2d, and their im2col.
 */
#ifndef EMBER_RUNTIME_CPP_PLUGINS_CPU_BLAS_CONV_GEOMETRY_H_
#define EMBER_RUNTIME_CPP_PLUGINS_CPU_BLAS_CONV_GEOMETRY_H_

#include <tvm/ffi/container/shape.h>

#include <cstdint>

namespace ember {
namespace blas {

struct ConvGeometry {
  int64_t batch, in_c, in_h, in_w;
  int64_t out_c, out_h, out_w;
  int64_t kernel_h, kernel_w;
  int64_t stride_h, stride_w, pad_top, pad_left, dilation_h, dilation_w;
  int64_t groups, group_in_c, group_out_c;

  /*!
   * \brief Read the geometry. `attrs` is [stride_h, stride_w, pad_top, pad_left, pad_bottom,
   *        pad_right, dilation_h, dilation_w, groups], as the compiler emits it.
   */
  static ConvGeometry From(tvm::ffi::ShapeView data, tvm::ffi::ShapeView weight,
                           tvm::ffi::ShapeView out, tvm::ffi::ShapeView attrs);
  /*! \brief The same for NHWC data, HWIO weight ([kh, kw, in_c / groups, out_c]), NHWC out. */
  static ConvGeometry FromNhwc(tvm::ffi::ShapeView data, tvm::ffi::ShapeView weight,
                               tvm::ffi::ShapeView out, tvm::ffi::ShapeView attrs);

  /*! \brief Rows of the column matrix: input channels per group x kernel window. */
  int64_t ColumnRows() const { return group_in_c * kernel_h * kernel_w; }
  bool IsPointwise() const {
    return kernel_h == 1 && kernel_w == 1 && stride_h == 1 && stride_w == 1 && pad_top == 0 &&
           pad_left == 0 && out_h == in_h && out_w == in_w;
  }
  /*!
   * \brief Columns for output pixels [p0, p1) of one group: col[r * ld + p - p0] for each
   *        row r = (c, kh, kw); zero where the window falls in the padding.
   */
  void Im2Col(const float* x, int64_t p0, int64_t p1, float* col, int64_t ld) const;
  /*!
   * \brief NHWC columns for output pixels [p0, p1) of one image: one row per pixel,
   *        col[(p - p0) * ColumnRows() + (kh * kernel_w + kw) * group_in_c + c], the (kh, kw, c)
   *        order of an HWIO weight. `x` points at the image's first channel of the group; each
   *        window position is one contiguous run of `group_in_c` channels.
   */
  void Im2ColNhwc(const float* x, int64_t p0, int64_t p1, float* col) const;
};

}  // namespace blas
}  // namespace ember

#endif  // EMBER_RUNTIME_CPP_PLUGINS_CPU_BLAS_CONV_GEOMETRY_H_

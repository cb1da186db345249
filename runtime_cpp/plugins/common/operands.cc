/*!
 * \file operands.cc
 * \brief Operand checks shared by the CPU plugins.
 */
#include "operands.h"

#include <tvm/ffi/error.h>

namespace ember {
namespace plugins {

void CheckFloat32(const tvm::ffi::TensorView& t, const char* prefix, const char* what) {
  const DLDataType d = t.dtype();
  if (d.code != kDLFloat || d.bits != 32 || d.lanes != 1 || !t.IsContiguous()) {
    TVM_FFI_THROW(TypeError) << prefix << ": " << what << " must be contiguous float32";
  }
}

int64_t SoftmaxRowWidth(const tvm::ffi::TensorView& x, const tvm::ffi::TensorView& out) {
  CheckFloat32(x, "ember.dnnl.softmax", "the input");
  CheckFloat32(out, "ember.dnnl.softmax", "the output");
  if (x.ndim() < 1 || x.numel() != out.numel()) {
    TVM_FFI_THROW(ValueError) << "ember.dnnl.softmax: the output must have the input's shape";
  }
  return x.numel() == 0 ? 0 : x.shape()[x.ndim() - 1];
}

}  // namespace plugins
}  // namespace ember

/*!
 * \file operands.cc
 * \brief Operand checks shared by the CPU plugins.
 */
#include "operands.h"

#include <tvm/ffi/error.h>

#include <utility>

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

bool IsInt8(const tvm::ffi::TensorView& t) {
  const DLDataType d = t.dtype();
  return d.code == kDLInt && d.bits == 8 && d.lanes == 1;
}

LibraryOperands LibraryOperands::Read(tvm::ffi::PackedArgs args, int extra, const char* name) {
  // int8 weights come with their scales: one operand more.
  const int weights_operands =
      args.size() > 1 && IsInt8(args[1].cast<tvm::ffi::TensorView>()) ? 2 : 1;
  const int expected = 1 + weights_operands + extra + 2;
  if (args.size() != expected) {
    TVM_FFI_THROW(TypeError) << name << ": expected " << expected << " operands, got "
                             << args.size();
  }
  std::vector<tvm::ffi::TensorView> rest;
  for (int i = 1 + weights_operands; i < 1 + weights_operands + extra; ++i) {
    rest.push_back(args[i].cast<tvm::ffi::TensorView>());
  }
  std::optional<tvm::ffi::TensorView> scales;
  if (weights_operands == 2) scales = args[2].cast<tvm::ffi::TensorView>();
  return LibraryOperands{args[0].cast<tvm::ffi::TensorView>(),
                         args[1].cast<tvm::ffi::TensorView>(),
                         scales,
                         std::move(rest),
                         args[expected - 2].cast<tvm::ffi::Shape>(),
                         args[expected - 1].cast<tvm::ffi::TensorView>(),
                         name};
}

const float* LibraryOperands::ExtraFloats(size_t i, const char* what) const {
  if (i >= extra.size()) return nullptr;
  CheckFloat32(extra[i], call, what);
  return reinterpret_cast<const float*>(static_cast<const char*>(extra[i].data_ptr()) +
                                        extra[i].byte_offset());
}

void CheckWeightScales(const tvm::ffi::TensorView& scales, int64_t channels, const char* prefix) {
  CheckFloat32(scales, prefix, "the weights' scales");
  if (scales.ndim() != 1 || scales.numel() != channels) {
    TVM_FFI_THROW(ValueError) << prefix << ": int8 weights need one scale per output channel ("
                              << channels << "), got " << scales.numel();
  }
}

}  // namespace plugins
}  // namespace ember

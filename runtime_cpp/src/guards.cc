#include "guards.h"

#include <tvm/ffi/container/shape.h>
#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/error.h>
#include <tvm/ffi/function.h>
#include <tvm/ffi/reflection/registry.h>
#include <tvm/ffi/string.h>

#include <cstdint>
#include <cstring>
#include <string>

#include "device_copy.h"
#include "errors.h"

namespace ember {
namespace {

[[noreturn]] void Raise(const std::string& message) {
  throw tvm::ffi::Error(kGuardErrorKind, message, "");
}

// `message` with each "{}" replaced by the next integer argument, from `first` on.
std::string Format(const std::string& message, tvm::ffi::PackedArgs args, int first) {
  std::string out;
  size_t pos = 0;
  int next = first;
  for (size_t hole; (hole = message.find("{}", pos)) != std::string::npos; pos = hole + 2) {
    out += message.substr(pos, hole - pos);
    out += next < args.size() ? std::to_string(args[next++].cast<int64_t>()) : "?";
  }
  return out + message.substr(pos);
}

// ember.guard.shape(value, condition, message, values...) -> value
void GuardShape(tvm::ffi::PackedArgs args, tvm::ffi::Any* rv) {
  if (args.size() < 3) Raise("ember.guard.shape: expected at least 3 arguments");
  if (!args[1].cast<bool>()) Raise(Format(args[2].cast<tvm::ffi::String>(), args, 3));
  *rv = args[0];
}

// `tensor` in host memory (the reductions of a CUDA model leave their results on the GPU).
tvm::ffi::Tensor OnHost(const tvm::ffi::Tensor& tensor) {
  if (tensor.device().device_type == kDLCPU) return tensor;
  return CopyToDevice(tensor, DLDevice{kDLCPU, 0});
}

// Element `i` of a small host integer tensor, as int64.
int64_t Element(const tvm::ffi::Tensor& host, int64_t i) {
  const DLTensor& t = *host.GetDLTensorPtr();
  const char* base = static_cast<const char*>(t.data) + t.byte_offset;
  int bytes = t.dtype.bits / 8;
  const char* at = base + i * bytes;
  bool is_signed = t.dtype.code == kDLInt;
  switch (bytes) {
    case 1:
      return is_signed ? *reinterpret_cast<const int8_t*>(at)
                       : *reinterpret_cast<const uint8_t*>(at);
    case 2:
      return is_signed ? *reinterpret_cast<const int16_t*>(at)
                       : *reinterpret_cast<const uint16_t*>(at);
    case 4:
      return is_signed ? *reinterpret_cast<const int32_t*>(at)
                       : *reinterpret_cast<const uint32_t*>(at);
    default: {
      int64_t value;
      std::memcpy(&value, at, sizeof(value));
      return value;
    }
  }
}

int64_t NumElements(const tvm::ffi::Tensor& tensor) {
  int64_t n = 1;
  for (int64_t d : tensor.shape()) n *= d;
  return n;
}

// ember.guard.indices(indices, min, max, data_shape, axes, allow_negative, what) -> indices
tvm::ffi::Tensor GuardIndices(tvm::ffi::Tensor indices, tvm::ffi::Tensor low, tvm::ffi::Tensor high,
                              tvm::ffi::Shape data_shape, tvm::ffi::Shape axes, bool allow_negative,
                              tvm::ffi::String what) {
  if (NumElements(indices) == 0) return indices;  // min/max of nothing are meaningless
  low = OnHost(low);
  high = OnHost(high);
  for (size_t slot = 0; slot < axes.size(); ++slot) {
    int64_t axis = axes[slot];
    int64_t extent = axis < static_cast<int64_t>(data_shape.size()) ? data_shape[axis] : 0;
    int64_t lo = Element(low, static_cast<int64_t>(slot));
    int64_t hi = Element(high, static_cast<int64_t>(slot));
    int64_t first = allow_negative ? -extent : 0;
    if (lo >= first && hi < extent) continue;
    int64_t bad = lo < first ? lo : hi;
    Raise(Concat(std::string(what), ": index ", bad, " is out of range for axis ", axis,
                 " of extent ", extent, " (valid: ", first, " to ", extent - 1, ")"));
  }
  return indices;
}

}  // namespace
}  // namespace ember

TVM_FFI_STATIC_INIT_BLOCK() {
  namespace refl = tvm::ffi::reflection;
  refl::GlobalDef()
      .def_packed("ember.guard.shape", ember::GuardShape)
      .def("ember.guard.indices", ember::GuardIndices);
}

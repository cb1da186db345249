#include "device_copy.h"

#include <tvm/ffi/function.h>

#include <string>

#include "errors.h"
#include "tvm_runtime_loader.h"

namespace ember {
namespace {

tvm::ffi::Function Global(const char* name) {
  auto fn = tvm::ffi::Function::GetGlobal(name);
  if (!fn) Fail(ErrorCode::kInternal, "TVM runtime lacks the function ", name);
  return *fn;
}

}  // namespace

tvm::ffi::Tensor CopyToDevice(const tvm::ffi::Tensor& tensor, DLDevice device) {
  EnsureTvmRuntimeLoaded();  // the functions below live in libtvm_runtime.so
  static const tvm::ffi::Function alloc = Global("runtime.TVMTensorAllocWithScope");
  static const tvm::ffi::Function copy = Global("runtime.TVMTensorCopyFromTo");
  std::string where = device.device_type == kDLCUDA ? "cuda" : "cpu";
  return Translate(ErrorCode::kDevice, "copy to " + where + ":" + std::to_string(device.device_id),
                   [&] {
                     tvm::ffi::Tensor dst =
                         alloc(tvm::ffi::Shape(tensor.shape()), tensor.dtype(), device, nullptr)
                             .cast<tvm::ffi::Tensor>();
                     copy(tensor, dst);
                     return dst;
                   });
}

}  // namespace ember

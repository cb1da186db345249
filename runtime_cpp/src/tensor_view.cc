#include "tensor_view.h"

#include <dlpack/dlpack.h>
#include <tvm/ffi/container/shape.h>
#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/error.h>
#include <tvm/ffi/function.h>
#include <tvm/ffi/reflection/registry.h>

#include <cstdint>
#include <utility>

#include "tensor_access.h"

namespace ember {
namespace {

// Holds the viewed tensor alive; the view's data is a pointer into it.
struct ViewAlloc {
  tvm::ffi::Tensor base;
  int64_t offset;
  void AllocData(DLTensor* tensor) {
    tensor->data = static_cast<char*>(base.data_ptr()) + base.byte_offset() + offset;
    tensor->byte_offset = 0;
  }
  void FreeData(DLTensor*) {}
};

tvm::ffi::Tensor CreateView(tvm::ffi::Tensor base, tvm::ffi::Shape shape, DLDataType dtype,
                            int64_t relative_byte_offset) {
  if (!base.IsContiguous()) {
    TVM_FFI_THROW(ValueError) << "a view needs a contiguous tensor";
  }
  const int64_t base_bytes = static_cast<int64_t>(NumBytes(*base.GetDLTensorPtr()));
  const DLDevice device = base.device();
  // Made before the bounds check, which reads its size; it touches no data.
  tvm::ffi::Tensor view = tvm::ffi::Tensor::FromNDAlloc(
      ViewAlloc{std::move(base), relative_byte_offset}, shape, dtype, device);
  const int64_t view_bytes = static_cast<int64_t>(NumBytes(*view.GetDLTensorPtr()));
  if (relative_byte_offset < 0 || relative_byte_offset + view_bytes > base_bytes) {
    TVM_FFI_THROW(ValueError) << "a view of " << view_bytes << " bytes at offset "
                              << relative_byte_offset << " exceeds the tensor's " << base_bytes
                              << " bytes";
  }
  return view;
}

}  // namespace

void UseOffsetFreeViews() {
  tvm::ffi::Function::SetGlobal("runtime.TVMTensorCreateView",
                                tvm::ffi::Function::FromTyped(CreateView), /*can_override=*/true);
}

}  // namespace ember

// For tools that run an artifact in TVM's own VM (`ember profile`), after importing TVM.
TVM_FFI_STATIC_INIT_BLOCK() {
  tvm::ffi::reflection::GlobalDef().def("ember.runtime.use_offset_free_views",
                                        ember::UseOffsetFreeViews);
}

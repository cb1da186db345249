/*!
 * \file device_copy.h
 * \brief Copies between host and GPU memory through TVM's device API.
 *
 * The runtime includes no `tvm/runtime` header, so the device API is reached through the
 * global functions `libtvm_runtime.so` registers: `runtime.TVMTensorAllocWithScope(shape,
 * dtype, device, scope)` and `runtime.TVMTensorCopyFromTo(from, to)` (the functions behind
 * `tvm.runtime.empty` and `Tensor.copyto` in TVM 0.27). A copy to or from a GPU goes through
 * the device's default stream and has finished when the call returns.
 */
#ifndef EMBER_RUNTIME_CPP_SRC_DEVICE_COPY_H_
#define EMBER_RUNTIME_CPP_SRC_DEVICE_COPY_H_

#include <dlpack/dlpack.h>
#include <tvm/ffi/container/tensor.h>

namespace ember {

/*!
 * \brief A new contiguous tensor on `device` holding a copy of `tensor`.
 * \throws Error kDevice when the device cannot allocate or copy.
 */
tvm::ffi::Tensor CopyToDevice(const tvm::ffi::Tensor& tensor, DLDevice device);

}  // namespace ember

#endif  // EMBER_RUNTIME_CPP_SRC_DEVICE_COPY_H_

/*!
 * \file tensor_access.h
 * \brief The runtime's bridge between `ember::Tensor` and `tvm::ffi::Tensor`, plus dtype names.
 */
#ifndef EMBER_RUNTIME_CPP_SRC_TENSOR_ACCESS_H_
#define EMBER_RUNTIME_CPP_SRC_TENSOR_ACCESS_H_

#include <ember/runtime.h>
#include <tvm/ffi/container/tensor.h>

#include <memory>
#include <string>

namespace ember {

/*! \brief A `Tensor` is a shared reference to one TVM tensor. */
struct Tensor::Impl {
  tvm::ffi::Tensor tensor;
};

/*! \brief Friend of `Tensor`: wraps and unwraps TVM tensors. */
struct TensorAccess {
  static Tensor Wrap(tvm::ffi::Tensor tensor) {
    return Tensor(std::make_shared<Tensor::Impl>(Tensor::Impl{std::move(tensor)}));
  }
  static const tvm::ffi::Tensor& Unwrap(const Tensor& tensor);
};

/*! \brief CPU memory aligned to `kAlignment` bytes, as TVM's kernels assume. */
constexpr size_t kAlignment = 64;

/*! \brief A new contiguous, `kAlignment`-aligned CPU tensor. */
tvm::ffi::Tensor AllocCpuTensor(tvm::ffi::ShapeView shape, DLDataType dtype);

/*! \brief NumPy-style name ("float32", "bool"), or e.g. "dtype(code=7, bits=8, lanes=1)". */
std::string DtypeName(DLDataType dtype);

/*!
 * \brief The DLPack dtype of a NumPy-style name ("float32", "bool" -> kDLBool 8 bits).
 * \throws Error kInvalidArtifact for a name the runtime does not know.
 */
DLDataType ParseDtype(const std::string& name);

/*! \brief Bytes of a contiguous tensor of `dtype` with `shape`. */
size_t NumBytes(const DLTensor& tensor);

}  // namespace ember

#endif  // EMBER_RUNTIME_CPP_SRC_TENSOR_ACCESS_H_

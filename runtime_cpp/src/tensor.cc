#include <cstdlib>
#include <new>
#include <vector>

#include "device_copy.h"
#include "errors.h"
#include "tensor_access.h"

namespace ember {
namespace {

struct AlignedCpuAlloc {
  void AllocData(DLTensor* t) {
    size_t bytes = (NumBytes(*t) + kAlignment - 1) / kAlignment * kAlignment;
    t->data = std::aligned_alloc(kAlignment, bytes == 0 ? kAlignment : bytes);
    if (t->data == nullptr) throw std::bad_alloc();
  }
  void FreeData(DLTensor* t) { std::free(t->data); }
};

// A borrowed view: owns copies of the shape and strides, never the data.
struct ViewHolder {
  DLManagedTensorVersioned managed{};
  std::vector<int64_t> shape;
  std::vector<int64_t> strides;
};

}  // namespace

const tvm::ffi::Tensor& TensorAccess::Unwrap(const Tensor& tensor) {
  if (!tensor.impl_) Fail(ErrorCode::kInvalidArgument, "use of an undefined ember::Tensor");
  return tensor.impl_->tensor;
}

tvm::ffi::Tensor AllocCpuTensor(tvm::ffi::ShapeView shape, DLDataType dtype) {
  return tvm::ffi::Tensor::FromNDAlloc(AlignedCpuAlloc{}, shape, dtype, DLDevice{kDLCPU, 0});
}

std::string DtypeName(DLDataType t) {
  if (t.lanes == 1) {
    if (t.code == kDLBool || (t.code == kDLUInt && t.bits == 1)) return "bool";
    if (t.code == kDLFloat && (t.bits == 16 || t.bits == 32 || t.bits == 64)) {
      return Concat("float", static_cast<int>(t.bits));
    }
    if (t.code == kDLBfloat && t.bits == 16) return "bfloat16";
    bool int_bits = t.bits == 8 || t.bits == 16 || t.bits == 32 || t.bits == 64;
    if (t.code == kDLInt && int_bits) return Concat("int", static_cast<int>(t.bits));
    if (t.code == kDLUInt && int_bits) return Concat("uint", static_cast<int>(t.bits));
  }
  return Concat("dtype(code=", static_cast<int>(t.code), ", bits=", static_cast<int>(t.bits),
                ", lanes=", t.lanes, ")");
}

DLDataType ParseDtype(const std::string& name) {
  if (name == "bool") return DLDataType{kDLBool, 8, 1};
  if (name == "bfloat16") return DLDataType{kDLBfloat, 16, 1};
  for (DLDataTypeCode code : {kDLFloat, kDLInt, kDLUInt}) {
    for (uint8_t bits : {8, 16, 32, 64}) {
      DLDataType t{static_cast<uint8_t>(code), bits, 1};
      if (DtypeName(t) == name) return t;
    }
  }
  Fail(ErrorCode::kInvalidArtifact, "unknown dtype '", name, "'");
}

size_t NumBytes(const DLTensor& t) {
  size_t n = 1;
  for (int i = 0; i < t.ndim; ++i) n *= static_cast<size_t>(t.shape[i]);
  return n * ((static_cast<size_t>(t.dtype.bits) * t.dtype.lanes + 7) / 8);
}

Tensor::Tensor() = default;
Tensor::Tensor(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

Tensor Tensor::FromDLPack(DLManagedTensorVersioned* managed) {
  if (managed == nullptr) Fail(ErrorCode::kInvalidArgument, "FromDLPack: null tensor");
  return Translate(ErrorCode::kInvalidArgument, "FromDLPack", [&] {
    return TensorAccess::Wrap(tvm::ffi::Tensor::FromDLPackVersioned(managed));
  });
}

Tensor Tensor::FromDLPackLegacy(DLManagedTensor* managed) {
  if (managed == nullptr) Fail(ErrorCode::kInvalidArgument, "FromDLPack: null tensor");
  return Translate(ErrorCode::kInvalidArgument, "FromDLPack",
                   [&] { return TensorAccess::Wrap(tvm::ffi::Tensor::FromDLPack(managed)); });
}

Tensor Tensor::View(const DLTensor& tensor) {
  if (tensor.ndim < 0 || (tensor.ndim > 0 && tensor.shape == nullptr)) {
    Fail(ErrorCode::kInvalidArgument, "Tensor::View: negative ndim or NULL shape");
  }
  auto* holder = new ViewHolder();
  holder->shape.assign(tensor.shape, tensor.shape + tensor.ndim);
  if (tensor.strides != nullptr)
    holder->strides.assign(tensor.strides, tensor.strides + tensor.ndim);
  holder->managed.version = {DLPACK_MAJOR_VERSION, DLPACK_MINOR_VERSION};
  holder->managed.dl_tensor = tensor;
  holder->managed.dl_tensor.shape = holder->shape.data();
  holder->managed.dl_tensor.strides = tensor.strides ? holder->strides.data() : nullptr;
  holder->managed.manager_ctx = holder;
  holder->managed.deleter = [](DLManagedTensorVersioned* self) {
    delete static_cast<ViewHolder*>(self->manager_ctx);
  };
  return FromDLPack(&holder->managed);
}

Tensor Tensor::Empty(const std::vector<int64_t>& shape, DLDataType dtype, Device device) {
  if (device.type != DeviceType::kCPU) {
    Fail(ErrorCode::kInvalidArgument, "Tensor::Empty allocates CPU memory only");
  }
  for (int64_t d : shape) {
    if (d < 0) Fail(ErrorCode::kInvalidArgument, "Tensor::Empty: negative dimension ", d);
  }
  return TensorAccess::Wrap(AllocCpuTensor(tvm::ffi::ShapeView(shape.data(), shape.size()), dtype));
}

Tensor Tensor::CopyTo(Device device) const {
  DLDevice dl{static_cast<DLDeviceType>(device.type), device.id};
  return TensorAccess::Wrap(CopyToDevice(TensorAccess::Unwrap(*this), dl));
}

DLManagedTensorVersioned* Tensor::ToDLPack() const {
  return TensorAccess::Unwrap(*this).ToDLPackVersioned();
}

const DLTensor& Tensor::dl_tensor() const { return *TensorAccess::Unwrap(*this).GetDLTensorPtr(); }

std::vector<int64_t> Tensor::shape() const {
  const DLTensor& t = dl_tensor();
  return std::vector<int64_t>(t.shape, t.shape + t.ndim);
}

DLDataType Tensor::dtype() const { return dl_tensor().dtype; }

Device Tensor::device() const {
  DLDevice d = dl_tensor().device;
  return Device{d.device_type == kDLCUDA ? DeviceType::kCUDA : DeviceType::kCPU, d.device_id};
}

void* Tensor::data() const {
  const DLTensor& t = dl_tensor();
  return static_cast<char*>(t.data) + t.byte_offset;
}

size_t Tensor::nbytes() const { return NumBytes(dl_tensor()); }

}  // namespace ember

#include "validate.h"

#include <tvm/ffi/container/tensor.h>

#include <map>
#include <string>
#include <vector>

#include "errors.h"
#include "tensor_access.h"

namespace ember {
namespace {

std::string ShapeText(const TensorSpec& spec) {
  std::string s = "[";
  for (size_t i = 0; i < spec.shape.size(); ++i) {
    s += i ? ", " : "";
    s += spec.dim_names[i].empty() ? std::to_string(spec.shape[i]) : spec.dim_names[i];
  }
  return s + "]";
}

std::string ShapeText(const DLTensor& t) {
  std::string s = "[";
  for (int i = 0; i < t.ndim; ++i) s += (i ? ", " : "") + std::to_string(t.shape[i]);
  return s + "]";
}

std::string DeviceText(int device_type, int device_id) {
  const char* kind = device_type == kDLCPU ? "cpu" : device_type == kDLCUDA ? "cuda" : "device";
  return Concat(kind, ":", device_id);
}

std::string NameList(const std::vector<TensorSpec>& specs) {
  std::string s;
  for (const TensorSpec& spec : specs) s += Concat(s.empty() ? "" : ", ", "'", spec.name, "'");
  return s;
}

// Where a symbol was first bound: its extent, and which input and dimension set it.
struct Binding {
  int64_t extent;
  std::string input;
  size_t dim;
};

// Binds each symbol to the first extent seen; later inputs must agree. The error names both
// inputs and dimensions (a KV cache whose key and value lengths differ reads as such).
void CheckShape(const TensorSpec& spec, const DLTensor& t, std::map<std::string, Binding>* bound) {
  for (int i = 0; i < t.ndim; ++i) {
    if (t.shape[i] < 0) {
      Fail(ErrorCode::kInvalidArgument, "input '", spec.name, "': dimension ", i, " is ",
           t.shape[i], " (negative)");
    }
  }
  bool ok = t.ndim >= 0 && static_cast<size_t>(t.ndim) == spec.shape.size();
  for (size_t i = 0; ok && i < spec.shape.size(); ++i) {
    if (spec.dim_names[i].empty()) {
      ok = t.shape[i] == spec.shape[i];
      continue;
    }
    auto [it, inserted] = bound->emplace(spec.dim_names[i], Binding{t.shape[i], spec.name, i});
    if (!inserted && it->second.extent != t.shape[i]) {
      Fail(ErrorCode::kInvalidArgument, "input '", spec.name, "': dimension ", i, " ('", it->first,
           "') is ", t.shape[i], " but dimension ", it->second.dim, " of input '", it->second.input,
           "' set it to ", it->second.extent);
    }
  }
  if (!ok) {
    Fail(ErrorCode::kInvalidArgument, "input '", spec.name, "': expected shape ", ShapeText(spec),
         ", got ", ShapeText(t));
  }
}

void CheckOne(const TensorSpec& spec, const Tensor& tensor, Device device,
              std::map<std::string, Binding>* bound) {
  if (!tensor.defined()) Fail(ErrorCode::kInvalidArgument, "input '", spec.name, "' is undefined");
  const DLTensor& t = tensor.dl_tensor();
  if (DtypeName(t.dtype) != spec.dtype) {
    Fail(ErrorCode::kInvalidArgument, "input '", spec.name, "': expected dtype ", spec.dtype,
         ", got ", DtypeName(t.dtype));
  }
  CheckShape(spec, t, bound);
  if (t.device.device_type != static_cast<int>(device.type) || t.device.device_id != device.id) {
    Fail(ErrorCode::kInvalidArgument, "input '", spec.name, "': expected device ",
         DeviceText(static_cast<int>(device.type), device.id), ", got ",
         DeviceText(t.device.device_type, t.device.device_id));
  }
  if (t.data == nullptr && NumBytes(t) > 0) {
    Fail(ErrorCode::kInvalidArgument, "input '", spec.name, "': data pointer is NULL");
  }
  if (!tvm::ffi::IsContiguous(t)) {
    Fail(ErrorCode::kInvalidArgument, "input '", spec.name,
         "': not contiguous (C order); make a contiguous copy");
  }
}

}  // namespace

std::vector<Tensor> OrderByName(const std::vector<TensorSpec>& specs,
                                const std::vector<std::pair<std::string, Tensor>>& named) {
  std::vector<Tensor> ordered(specs.size());
  std::vector<bool> given(specs.size(), false);
  for (const auto& [name, tensor] : named) {
    size_t i = 0;
    while (i < specs.size() && specs[i].name != name) ++i;
    if (i == specs.size()) {
      Fail(ErrorCode::kInvalidArgument, "unknown input '", name, "' (inputs: ", NameList(specs),
           ")");
    }
    if (given[i]) Fail(ErrorCode::kInvalidArgument, "input '", name, "' given twice");
    given[i] = true;
    ordered[i] = tensor;
  }
  for (size_t i = 0; i < specs.size(); ++i) {
    if (!given[i]) Fail(ErrorCode::kInvalidArgument, "missing input '", specs[i].name, "'");
  }
  return ordered;
}

void ValidateInputs(const std::vector<TensorSpec>& specs, const std::vector<Tensor>& inputs,
                    Device device) {
  if (inputs.size() != specs.size()) {
    Fail(ErrorCode::kInvalidArgument, "expected ", specs.size(), " input",
         specs.size() == 1 ? "" : "s", ", got ", inputs.size());
  }
  std::map<std::string, Binding> bound;
  for (size_t i = 0; i < specs.size(); ++i) CheckOne(specs[i], inputs[i], device, &bound);
}

}  // namespace ember

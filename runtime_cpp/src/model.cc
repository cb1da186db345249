#include <ember/runtime.h>
#include <tvm/ffi/container/array.h>
#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/extra/module.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "errors.h"
#include "guards.h"
#include "host_check.h"
#include "manifest.h"
#include "plugin_loader.h"
#include "tensor_access.h"
#include "threads.h"
#include "tvm_runtime_loader.h"
#include "validate.h"
#include "vm_pool.h"

// The build passes the version of pyproject.toml, Ember's one version source.
#ifndef EMBER_VERSION
#error "EMBER_VERSION must be defined by the build (CMakeLists.txt reads pyproject.toml)"
#endif

namespace ember {

struct Model::Impl {
  std::string path;
  std::string manifest_json;
  Manifest manifest;
  Device device;
  int num_threads = 1;
  std::unique_ptr<VmPool> pool;
};

namespace {

tvm::ffi::Module LoadLibrary(const std::string& path) {
  // dlopen searches the library path, not the working directory, for a name without a slash.
  std::string absolute = path;
  if (char* resolved = realpath(path.c_str(), nullptr)) {
    absolute = resolved;
    std::free(resolved);
  }
  return Translate(ErrorCode::kInvalidArtifact, path + ": cannot load the library",
                   [&] { return tvm::ffi::Module::LoadFromFile(absolute); });
}

// Whether explicit strides are exactly the C-order ones. Validation accepts any strides on
// dimensions of extent 1 and on empty tensors (numpy gives (0, 0) for a 0x4 array); TVM's
// kernels check them literally.
bool HasCompactStrides(const DLTensor& t) {
  if (t.strides == nullptr) return true;
  int64_t expected = 1;
  for (int i = t.ndim - 1; i >= 0; --i) {
    if (t.strides[i] != expected) return false;
    expected *= t.shape[i];
  }
  return true;
}

// TVM's kernels assume compact, 64-byte aligned data at offset 0 (numpy gives 16-byte
// alignment): copy the others.
tvm::ffi::Tensor Aligned(const tvm::ffi::Tensor& t) {
  const DLTensor& dl = *t.GetDLTensorPtr();
  if (dl.device.device_type != kDLCPU ||
      (dl.byte_offset == 0 && t.IsAligned(kAlignment) && HasCompactStrides(dl))) {
    return t;
  }
  tvm::ffi::Tensor copy = AllocCpuTensor(t.shape(), dl.dtype);
  std::memcpy(copy.data_ptr(), static_cast<const char*>(dl.data) + dl.byte_offset, NumBytes(dl));
  return copy;
}

std::vector<Tensor> CollectOutputs(const tvm::ffi::Any& result, const std::string& path,
                                   size_t expected) {
  std::vector<tvm::ffi::Tensor> found;
  if (auto single = result.try_cast<tvm::ffi::Tensor>()) {
    found.push_back(*single);
  } else if (auto tuple = result.try_cast<tvm::ffi::Array<tvm::ffi::Any>>()) {
    for (const tvm::ffi::Any& item : *tuple) {
      auto t = item.try_cast<tvm::ffi::Tensor>();
      if (!t) Fail(ErrorCode::kRuntime, path, ": the model returned a non-tensor output");
      found.push_back(*t);
    }
  } else {
    Fail(ErrorCode::kRuntime, path, ": the model returned ", result.GetTypeKey());
  }
  if (found.size() != expected) {
    Fail(ErrorCode::kRuntime, path, ": the model returned ", found.size(),
         " outputs, the manifest lists ", expected);
  }
  std::vector<Tensor> outputs;
  for (tvm::ffi::Tensor& t : found) outputs.push_back(TensorAccess::Wrap(std::move(t)));
  return outputs;
}

// Calls the entry; a failed guard of the model (a shape or index its operators cannot take)
// becomes one kInvalidArgument line, as input validation's errors are.
void CallChecked(const tvm::ffi::Function& entry, const std::vector<tvm::ffi::AnyView>& args,
                 tvm::ffi::Any* result) {
  try {
    entry.CallPacked(args.data(), static_cast<int32_t>(args.size()), result);
  } catch (const tvm::ffi::Error& e) {
    if (e.kind() != kGuardErrorKind) throw;
    throw Error(ErrorCode::kInvalidArgument, FirstLine(e.message()));
  }
}

// The pool's bounds from the options: unset concurrency is the usable cores (more runs at once
// than cores only compete for them, while each holds a workspace).
VmPoolLimits PoolLimits(const LoadOptions& options) {
  if (options.max_concurrency < 0) {
    Fail(ErrorCode::kInvalidArgument, "max_concurrency must be 0 (the usable cores) or more, got ",
         options.max_concurrency);
  }
  if (options.idle_timeout.count() < 0) {
    Fail(ErrorCode::kInvalidArgument, "idle_timeout must not be negative, got ",
         options.idle_timeout.count(), " ms");
  }
  VmPoolLimits limits;
  limits.max_instances = options.max_concurrency > 0 ? options.max_concurrency : AvailableCpus();
  limits.fail_when_busy = options.fail_when_busy;
  // A month is forever to a pool; a longer timeout (x64 for the last quiet-time clear) could
  // overflow the clock's arithmetic.
  limits.idle_timeout =
      std::min<std::chrono::milliseconds>(options.idle_timeout, std::chrono::hours(24 * 30));
  return limits;
}

// Whether some input or output has a symbolic dimension, so buffer sizes change between runs.
bool ShapesVary(const Manifest& manifest) {
  for (const auto* specs : {&manifest.inputs, &manifest.outputs}) {
    for (const TensorSpec& spec : *specs) {
      for (int64_t dim : spec.shape) {
        if (dim < 0) return true;
      }
    }
  }
  return false;
}

// A dimension rounded up to its size class, `classes` per doubling above 16 (exact below, and
// everywhere for classes = 0), as the artifact rounds its run-time-sized allocations (its
// manifest says how finely). Runs whose dimensions stay in their classes ask for blocks of the
// same sizes, which the pool hands back without new memory.
int64_t SizeClass(int64_t dim, int classes) {
  constexpr int64_t kExact = 16;
  if (classes <= 0 || dim <= kExact) return dim;
  int class_bits = 0;
  while ((1 << class_bits) < classes) ++class_bits;
  int highest = 63;
  while (!(static_cast<uint64_t>(dim) >> highest)) --highest;
  const int64_t step = int64_t{1} << std::max(highest - class_bits, 0);
  return (dim + step - 1) / step * step;
}

// A run's input and output shapes one after another, each led by its rank, each dimension
// as its size class (VmPool::AfterRun compares them). Outputs too: a data-dependent output
// (NonZero's) changes size with values.
std::vector<int64_t> ShapeSignature(const std::vector<tvm::ffi::Tensor>& inputs,
                                    const std::vector<Tensor>& outputs, int classes) {
  std::vector<int64_t> shapes;
  for (const tvm::ffi::Tensor& t : inputs) {
    shapes.push_back(t.ndim());
    for (int64_t dim : t.shape()) shapes.push_back(SizeClass(dim, classes));
  }
  for (const Tensor& t : outputs) {
    const std::vector<int64_t> shape = t.shape();
    shapes.push_back(static_cast<int64_t>(shape.size()));
    for (int64_t dim : shape) shapes.push_back(SizeClass(dim, classes));
  }
  return shapes;
}

}  // namespace

Model::Model(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

Model Model::Load(const std::string& path, const LoadOptions& options) {
  return Translate(ErrorCode::kInternal, path, [&] {
    VmPoolLimits limits = PoolLimits(options);
    auto impl = std::make_shared<Impl>();
    impl->path = path;
    impl->device = options.device;
    ArtifactFile file;
    impl->manifest = ReadVerifiedManifest(path, &file);
    impl->manifest_json = std::move(file.manifest_json);
    CheckHost(impl->manifest, file.elf_machine, path);
    CheckDeviceKind(impl->manifest, options.device, path);
    EnsureTvmRuntimeLoaded();
    if (options.device.type == DeviceType::kCUDA) {
      EnsureTvmCudaRuntimeLoaded(path);
      CheckCudaDevice(impl->manifest, options.device, path);
    }
    EnsurePluginsLoaded(impl->manifest.plugins, path);
    impl->num_threads = ResolveNumThreads(options.num_threads);
    limits.shapes_vary = ShapesVary(impl->manifest);
    impl->pool = std::make_unique<VmPool>(LoadLibrary(path), options.device, impl->manifest.entry,
                                          path, limits);
    return Model(std::move(impl));
  });
}

const std::vector<TensorSpec>& Model::inputs() const { return impl_->manifest.inputs; }
const std::vector<TensorSpec>& Model::outputs() const { return impl_->manifest.outputs; }
const std::string& Model::manifest_json() const { return impl_->manifest_json; }
int Model::num_threads() const { return impl_->num_threads; }
Device Model::device() const { return impl_->device; }
int Model::num_vms() const { return impl_->pool->size(); }

std::vector<Tensor> Model::Run(const std::vector<Tensor>& inputs) const {
  ValidateInputs(impl_->manifest.inputs, inputs, impl_->device);
  return Translate(ErrorCode::kRuntime, impl_->path + ": run failed", [&] {
    std::vector<tvm::ffi::Tensor> args;
    args.reserve(inputs.size());
    for (const Tensor& t : inputs) args.push_back(Aligned(TensorAccess::Unwrap(t)));
    std::vector<tvm::ffi::AnyView> packed(args.begin(), args.end());
    ApplyNumThreads(impl_->num_threads);
    tvm::ffi::Any result;
    {
      VmPool::Lease lease = impl_->pool->Acquire();
      CallChecked(lease.entry(), packed, &result);
    }
    std::vector<Tensor> outputs =
        CollectOutputs(result, impl_->path, impl_->manifest.outputs.size());
    // Only a model whose shapes can change pays for collecting them.
    if (impl_->pool->TracksShapes()) {
      impl_->pool->AfterRun(
          ShapeSignature(args, outputs, impl_->manifest.size_classes_per_doubling));
    }
    return outputs;
  });
}

std::vector<Tensor> Model::Run(const std::vector<std::pair<std::string, Tensor>>& named) const {
  return Run(OrderByName(impl_->manifest.inputs, named));
}

std::string ReadManifest(const std::string& path) {
  return Translate(ErrorCode::kInternal, path, [&] {
    ArtifactFile file;
    ReadVerifiedManifest(path, &file);
    return std::move(file.manifest_json);
  });
}

const char* Version() { return EMBER_VERSION; }

}  // namespace ember

#include "vm_pool.h"

#include <string>
#include <utility>

#include "errors.h"

namespace ember {
namespace {

constexpr int kPooledAllocator = 2;  // TVM's AllocatorType: 1 naive, 2 pooled

tvm::ffi::Function GetFunction(const tvm::ffi::Module& module, const std::string& name,
                               const std::string& path) {
  auto fn = module->GetFunction(name);
  if (!fn) Fail(ErrorCode::kInvalidArtifact, path, ": the library has no function '", name, "'");
  return *fn;
}

}  // namespace

VmPool::VmPool(tvm::ffi::Module library, Device device, std::string entry, std::string path)
    : library_(std::move(library)),
      device_(device),
      entry_(std::move(entry)),
      path_(std::move(path)) {
  idle_.push_back(Create());
}

std::unique_ptr<VmInstance> VmPool::Create() const {
  return Translate(ErrorCode::kInvalidArtifact, path_ + ": cannot create the VM", [&] {
    auto vm = GetFunction(library_, "vm_load_executable", path_)().cast<tvm::ffi::Module>();
    tvm::ffi::Function init = GetFunction(vm, "vm_initialization", path_);
    if (device_.type == DeviceType::kCUDA) {
      // The host device holds shape computations and small tensors the VM keeps on the CPU.
      init(static_cast<int>(kDLCUDA), device_.id, kPooledAllocator, static_cast<int>(kDLCPU), 0,
           kPooledAllocator);
    } else {
      init(static_cast<int>(kDLCPU), 0, kPooledAllocator);
    }
    tvm::ffi::Function entry = GetFunction(vm, entry_, path_);
    return std::make_unique<VmInstance>(VmInstance{vm, entry});
  });
}

VmPool::Lease VmPool::Acquire() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!idle_.empty()) {
      std::unique_ptr<VmInstance> vm = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(vm));
    }
  }
  return Lease(this, Create());  // outside the lock: creating a VM takes a while
}

void VmPool::Return(std::unique_ptr<VmInstance> vm) {
  if (!vm) return;
  std::lock_guard<std::mutex> lock(mutex_);
  idle_.push_back(std::move(vm));
}

}  // namespace ember

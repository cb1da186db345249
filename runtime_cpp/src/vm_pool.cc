#include "vm_pool.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <algorithm>
#include <optional>
#include <string>
#include <utility>

#include "errors.h"

namespace ember {
namespace {

// TVM's AllocatorType values.
constexpr int kNaiveAllocator = 1;
constexpr int kPooledAllocator = 2;
// Quiet-time clears after the last run: at idle_timeout x 1, 2, 4, ... 64.
constexpr int kQuietTrims = 7;

tvm::ffi::Function GetFunction(const tvm::ffi::Module& module, const std::string& name,
                               const std::string& path) {
  auto fn = module->GetFunction(name);
  if (!fn) Fail(ErrorCode::kInvalidArtifact, path, ": the library has no function '", name, "'");
  return *fn;
}

// Frees the blocks TVM's pooled allocators cache for reuse (those no run holds) into malloc.
void ClearPooledBlocks() {
  try {
    static const std::optional<tvm::ffi::Function> clear =
        tvm::ffi::Function::GetGlobal("vm.builtin.memory_manager.clear");
    if (clear) (*clear)();
  } catch (...) {
    // Only a cache: if TVM cannot clear it, the memory stays reserved for the next runs.
  }
}

// Gives the memory TVM's pooled allocators cache for reuse (the workspaces of past runs) back
// to the system: the allocators free only the blocks no run holds, and glibc then returns its
// free pages, which it would otherwise keep in the arenas of the threads that ran.
void ReleaseCachedMemory() {
  ClearPooledBlocks();
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

}  // namespace

VmPool::VmPool(tvm::ffi::Module library, Device device, std::string entry, std::string path,
               VmPoolLimits limits)
    : library_(std::move(library)),
      device_(device),
      entry_(std::move(entry)),
      path_(std::move(path)),
      limits_(limits) {
  idle_.push_back(Idle{Create(), std::chrono::steady_clock::now()});
  live_ = 1;
}

VmPool::~VmPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  reaper_wakeup_.notify_all();
  if (reaper_.joinable()) reaper_.join();
}

std::unique_ptr<VmInstance> VmPool::Create() const {
  return Translate(ErrorCode::kInvalidArtifact, path_ + ": cannot create the VM", [&] {
    auto vm = GetFunction(library_, "vm_load_executable", path_)().cast<tvm::ffi::Module>();
    tvm::ffi::Function init = GetFunction(vm, "vm_initialization", path_);
    if (device_.type == DeviceType::kCUDA) {
      const int host = limits_.shapes_vary ? kNaiveAllocator : kPooledAllocator;
      // The host device holds shape computations and small tensors the VM keeps on the CPU.
      // GPU memory stays pooled whatever the shapes: freeing it (cudaFree) waits for the GPU.
      init(static_cast<int>(kDLCUDA), device_.id, kPooledAllocator, static_cast<int>(kDLCPU), 0,
           host);
    } else {
      init(static_cast<int>(kDLCPU), 0, kPooledAllocator);
    }
    tvm::ffi::Function entry = GetFunction(vm, entry_, path_);
    return std::make_unique<VmInstance>(VmInstance{vm, entry});
  });
}

VmPool::Lease VmPool::Acquire() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (idle_.empty() && live_ >= limits_.max_instances) {
    if (limits_.fail_when_busy) {
      Fail(ErrorCode::kBusy, path_, ": busy: ", limits_.max_instances,
           " runs are in flight (max_concurrency) and the model was loaded with fail_when_busy");
    }
    returned_.wait(lock);
  }
  if (!idle_.empty()) {
    std::unique_ptr<VmInstance> vm = std::move(idle_.back().vm);
    idle_.pop_back();
    return Lease(this, std::move(vm));
  }
  ++live_;
  if (live_ > 1 && !reaper_.joinable()) reaper_ = std::thread([this] { ReapIdle(); });
  lock.unlock();
  try {
    return Lease(this, Create());  // outside the lock: creating a VM takes a while
  } catch (...) {
    lock.lock();
    --live_;
    returned_.notify_one();
    throw;
  }
}

bool VmPool::TracksShapes() const {
  return limits_.shapes_vary && device_.type == DeviceType::kCPU;
}

void VmPool::AfterRun(const std::vector<int64_t>& shapes) {
  if (!TracksShapes()) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (shapes == last_shapes_) return;
    const bool first = last_shapes_.empty();
    last_shapes_ = shapes;
    if (first) return;
  }
  // Outside the lock. Blocks of other shapes would only be reused by a run of exactly their
  // sizes; malloc reuses them for any. Not trimmed back to the system (ReleaseCachedMemory):
  // the next run will ask for about as much.
  ClearPooledBlocks();
}

int VmPool::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return live_;
}

void VmPool::Return(std::unique_ptr<VmInstance> vm) {
  if (!vm) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    last_return_ = std::chrono::steady_clock::now();
    idle_.push_back(Idle{std::move(vm), last_return_});
    quiet_trims_left_ = kQuietTrims;
  }
  returned_.notify_one();
  reaper_wakeup_.notify_one();
}

void VmPool::ReapIdle() {
  using Clock = std::chrono::steady_clock;
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    const Clock::time_point now = Clock::now();
    std::vector<std::unique_ptr<VmInstance>> expired;
    while (!idle_.empty() && live_ > 1 && idle_.front().since + limits_.idle_timeout <= now) {
      expired.push_back(std::move(idle_.front().vm));
      idle_.erase(idle_.begin());
      --live_;
    }
    const bool quiet = static_cast<int>(idle_.size()) == live_;  // no run in flight
    const auto trim_due =
        last_return_ + limits_.idle_timeout * (1 << (kQuietTrims - quiet_trims_left_));
    const bool trim = !expired.empty() || (quiet && quiet_trims_left_ > 0 && trim_due <= now);
    if (trim) {
      if (quiet && trim_due <= now && quiet_trims_left_ > 0) --quiet_trims_left_;
      lock.unlock();
      expired.clear();  // outside the lock: runs may start meanwhile
      ReleaseCachedMemory();
      lock.lock();
      continue;
    }
    std::optional<Clock::time_point> next;
    if (!idle_.empty() && live_ > 1) next = idle_.front().since + limits_.idle_timeout;
    if (quiet && quiet_trims_left_ > 0) next = next ? std::min(*next, trim_due) : trim_due;
    if (next) {
      reaper_wakeup_.wait_until(lock, *next);
    } else {
      reaper_wakeup_.wait(lock);
    }
  }
}

}  // namespace ember

#include "threads.h"

#include <sched.h>
#include <tvm/ffi/function.h>
#include <tvm/ffi/reflection/registry.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <string>

#include "env.h"
#include "errors.h"

namespace ember {
namespace {

int PositiveEnv(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return 0;
  char* end = nullptr;
  long n = std::strtol(value, &end, 10);
  if (*end != '\0' || n <= 0 || n > 4096) {
    Fail(ErrorCode::kInvalidArgument, name, "='", value, "' is not a positive thread count");
  }
  return static_cast<int>(n);
}

// The capacity of every TVM pool, fixed once per process. Setting TVM_NUM_THREADS here, under
// a lock and before the first run, is what lets a pool use all cores rather than TVM's guess.
int PoolCapacity() {
  static std::once_flag once;
  static int capacity = 0;
  std::call_once(once, [] {
    capacity = PositiveEnv(env::kTvmNumThreads);
    if (capacity == 0) {
      capacity = AvailableCpus();
      setenv(env::kTvmNumThreads, std::to_string(capacity).c_str(), /*overwrite=*/0);
    }
  });
  return capacity;
}

}  // namespace

int AvailableCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return 1;
  return std::max(1, CPU_COUNT(&set));
}

int ResolveNumThreads(int requested) {
  if (requested < 0) {
    Fail(ErrorCode::kInvalidArgument, "num_threads must be >= 0, got ", requested);
  }
  int n = requested > 0 ? requested : PositiveEnv(env::kNumThreads);
  if (n == 0) n = AvailableCpus();
  return std::min(n, PoolCapacity());
}

namespace {
// The count last applied to the calling thread's pool (0: none yet).
thread_local int applied = 0;
}  // namespace

int AppliedNumThreads() { return applied; }

void ApplyNumThreads(int num_threads) {
  if (applied == num_threads) return;
  static const auto config = tvm::ffi::Function::GetGlobal("runtime.config_threadpool");
  if (!config) Fail(ErrorCode::kInternal, "TVM runtime lacks runtime.config_threadpool");
  constexpr int kModeBigCores = 1;
  Translate(ErrorCode::kRuntime, "configuring TVM's thread pool",
            [&] { (*config)(kModeBigCores, num_threads); });
  applied = num_threads;
}

}  // namespace ember

// The kernel plugins size their tiles by it (a decode step's matmul: one tile per thread).
TVM_FFI_STATIC_INIT_BLOCK() {
  tvm::ffi::reflection::GlobalDef().def("ember.runtime.pool_threads", ember::AppliedNumThreads);
}

#include "parallel_for.h"

#include <dlfcn.h>
#include <tvm/ffi/function.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <stdexcept>
#include <string>

namespace ember {
namespace plugins {
namespace {

// TVM's C backend API (c_backend_api.h is not shipped usable in the wheel; these two
// declarations are its stable ABI).
struct ParallelGroupEnv {
  void* sync_handle;
  int32_t num_task;
};
using ParallelLambda = int (*)(int task_id, ParallelGroupEnv* penv, void* cdata);
using ParallelLaunch = int (*)(ParallelLambda flambda, void* cdata, int num_task);

struct Job {
  int64_t count;
  int64_t min_chunk;
  const std::function<void(int64_t, int64_t)>* body;
  std::atomic<bool> failed{false};
  std::string error;  // written by the one task that sets `failed` first
};

ParallelLaunch FindLaunch() {
  // libtvm_runtime is loaded before any model; find it whether it is global or not.
  void* sym = dlsym(RTLD_DEFAULT, "TVMBackendParallelLaunch");
  if (sym == nullptr) {
    if (void* lib = dlopen("libtvm_runtime.so", RTLD_NOW | RTLD_NOLOAD)) {
      sym = dlsym(lib, "TVMBackendParallelLaunch");
    }
  }
  return reinterpret_cast<ParallelLaunch>(sym);
}

int RunChunk(int task_id, ParallelGroupEnv* penv, void* cdata) {
  Job& job = *static_cast<Job*>(cdata);
  int64_t tasks = std::max<int32_t>(1, penv->num_task);
  int64_t per = (job.count + tasks - 1) / tasks;
  per = std::max(per, job.min_chunk);
  int64_t begin = per * task_id;
  int64_t end = std::min(job.count, begin + per);
  if (begin >= end) return 0;
  try {
    (*job.body)(begin, end);
  } catch (const std::exception& e) {  // never unwind through TVM's C thread pool
    if (!job.failed.exchange(true)) job.error = e.what();
    return -1;
  }
  return 0;
}

int CountTasks(int /*task_id*/, ParallelGroupEnv* penv, void* cdata) {
  static_cast<std::atomic<int>*>(cdata)->store(std::max<int32_t>(1, penv->num_task));
  return 0;
}

}  // namespace

int ParallelThreads() {
  // Ember's runtime knows the count it gave the calling thread's pool; where TVM alone runs
  // the module (the compiler's timing), one empty launch counts the pool's tasks.
  static const auto applied = tvm::ffi::Function::GetGlobal("ember.runtime.pool_threads");
  if (applied) {
    const int threads = (*applied)().cast<int>();
    if (threads > 0) return threads;
  }
  static const ParallelLaunch launch = FindLaunch();
  std::atomic<int> tasks{1};
  if (launch != nullptr) launch(CountTasks, &tasks, 0);
  return tasks.load();
}

void ParallelFor(int64_t count, int64_t min_chunk,
                 const std::function<void(int64_t, int64_t)>& body) {
  static const ParallelLaunch launch = FindLaunch();
  if (count <= 0) return;
  if (launch == nullptr || count <= min_chunk) {
    body(0, count);
    return;
  }
  Job job;
  job.count = count;
  job.min_chunk = std::max<int64_t>(1, min_chunk);
  job.body = &body;
  launch(RunChunk, &job, 0);  // 0: as many tasks as the calling thread's pool has threads
  if (job.failed) throw std::runtime_error(job.error);
}

}  // namespace plugins
}  // namespace ember

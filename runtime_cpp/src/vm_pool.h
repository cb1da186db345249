/*!
 * \file vm_pool.h
 * \brief A bounded pool of Relax virtual machines over one loaded model library.
 *
 * A Relax VM keeps per-call state (registers, frames) and is not thread safe, so each
 * concurrent run leases its own instance. Instances share the library (kernels, constants) and
 * TVM's per-device pooled allocator, which caches the workspace of every run that was ever in
 * flight at once. So the pool caps the instances (a burst queues or fails instead of growing
 * the memory without bound) and, once idle VMs beyond one have waited `idle_timeout`, releases
 * them and hands the allocator's cached blocks back to the system.
 */
#ifndef EMBER_RUNTIME_CPP_SRC_VM_POOL_H_
#define EMBER_RUNTIME_CPP_SRC_VM_POOL_H_

#include <ember/runtime.h>
#include <tvm/ffi/extra/module.h>
#include <tvm/ffi/function.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace ember {

/*! \brief One VM instance and its entry function. */
struct VmInstance {
  tvm::ffi::Module vm;
  tvm::ffi::Function entry;
};

/*! \brief How the pool grows and shrinks (resolved `LoadOptions`). */
struct VmPoolLimits {
  int max_instances = 1;        //!< at least 1
  bool fail_when_busy = false;  //!< throw kBusy instead of waiting for an instance
  std::chrono::milliseconds idle_timeout{0};
  /*!
   * \brief The model's tensors can change size between runs (symbolic dimensions). TVM's
   *        pooled allocator keeps each freed block for a request of exactly its size: a
   *        decoder's caches, one token longer every run, left a block of every length behind
   *        (GPT-2 small: 30 MB more resident per generated token). So on the CPU, a run whose
   *        input or output dimensions leave the previous run's size classes (exact sizes for
   *        an artifact that does not round its allocations to classes; model.cc's
   *        ShapeSignature) hands the blocks cached so far back to malloc (AfterRun), which
   *        reuses freed memory at any size; runs within the classes reuse the blocks. Runs at
   *        one shape keep their blocks and take no page faults (a symbolic-batch ResNet-50 at
   *        batch 16 took 48,578 a run with malloc alone). On CUDA the host buffers (shape
   *        computations) come from TVM's naive allocator instead: clearing the cache would
   *        free the GPU's cached blocks too, and cudaFree waits for the GPU.
   */
  bool shapes_vary = false;
};

class VmPool {
 public:
  /*! \brief Creates the first instance eagerly, so load errors surface in `Model::Load`. */
  VmPool(tvm::ffi::Module library, Device device, std::string entry, std::string path,
         VmPoolLimits limits);
  /*! \brief Stops the reaper; every lease must be gone (a run holds its model alive). */
  ~VmPool();
  VmPool(const VmPool&) = delete;
  VmPool& operator=(const VmPool&) = delete;

  /*! \brief Exclusive use of one instance until it is destroyed. */
  class Lease {
   public:
    Lease(VmPool* pool, std::unique_ptr<VmInstance> vm) : pool_(pool), vm_(std::move(vm)) {}
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease() { pool_->Return(std::move(vm_)); }
    const tvm::ffi::Function& entry() const { return vm_->entry; }

   private:
    VmPool* pool_;
    std::unique_ptr<VmInstance> vm_;
  };

  /*!
   * \brief An idle instance, else a new one while fewer than `max_instances` live, else waits
   *        for one to come back (or throws kBusy with `fail_when_busy`).
   */
  Lease Acquire();

  /*!
   * \brief Whether runs report their shapes (AfterRun): a `shapes_vary` model on the CPU.
   *        Others skip collecting them.
   */
  bool TracksShapes() const;

  /*!
   * \brief Called after each run with its input and output shapes as size classes (when
   *        TracksShapes): when they differ from the previous run's, the blocks TVM's pooled
   *        allocator cached are freed.
   */
  void AfterRun(const std::vector<int64_t>& shapes);

  /*! \brief Instances alive now, busy or idle. */
  int size() const;

 private:
  struct Idle {
    std::unique_ptr<VmInstance> vm;
    std::chrono::steady_clock::time_point since;
  };

  std::unique_ptr<VmInstance> Create() const;
  void Return(std::unique_ptr<VmInstance> vm);
  /*!
   * \brief The reaper thread: releases instances idle past the timeout, keeping one alive,
   *        and gives the cached workspace memory back while no run is in flight.
   */
  void ReapIdle();

  tvm::ffi::Module library_;
  Device device_;
  std::string entry_;
  std::string path_;
  VmPoolLimits limits_;
  mutable std::mutex mutex_;
  std::condition_variable returned_;  // an instance came back or a creation slot freed up
  std::condition_variable reaper_wakeup_;
  std::vector<Idle> idle_;  // oldest first: Acquire takes the most recently returned
  int live_ = 0;            // idle, leased or being created
  // Outputs of past runs go back to TVM's cache when the caller drops them, after their VM
  // came back: so once runs stop, the cache is cleared after idle_timeout and again at
  // doubling intervals, `quiet_trims_left_` times.
  std::chrono::steady_clock::time_point last_return_;
  int quiet_trims_left_ = 0;
  // The input and output shapes of the last run (AfterRun), one after another.
  std::vector<int64_t> last_shapes_;
  bool stopping_ = false;
  std::thread reaper_;  // started with the second instance; one-VM models never need it
};

}  // namespace ember

#endif  // EMBER_RUNTIME_CPP_SRC_VM_POOL_H_

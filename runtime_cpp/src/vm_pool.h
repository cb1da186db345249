/*!
 * \file vm_pool.h
 * \brief A pool of Relax virtual machines over one loaded model library.
 *
 * A Relax VM keeps per-call state (registers, frames) and is not thread safe, so each
 * concurrent run leases its own instance. Instances share the library (kernels, constants)
 * and TVM's per-device memory allocator, so an extra instance costs little.
 */
#ifndef EMBER_RUNTIME_CPP_SRC_VM_POOL_H_
#define EMBER_RUNTIME_CPP_SRC_VM_POOL_H_

#include <ember/runtime.h>
#include <tvm/ffi/extra/module.h>
#include <tvm/ffi/function.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace ember {

/*! \brief One VM instance and its entry function. */
struct VmInstance {
  tvm::ffi::Module vm;
  tvm::ffi::Function entry;
};

class VmPool {
 public:
  /*! \brief Creates the first instance eagerly, so load errors surface in `Model::Load`. */
  VmPool(tvm::ffi::Module library, Device device, std::string entry, std::string path);

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

  /*! \brief An idle instance, or a new one when all are busy. */
  Lease Acquire();

 private:
  std::unique_ptr<VmInstance> Create() const;
  void Return(std::unique_ptr<VmInstance> vm);

  tvm::ffi::Module library_;
  Device device_;
  std::string entry_;
  std::string path_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<VmInstance>> idle_;
};

}  // namespace ember

#endif  // EMBER_RUNTIME_CPP_SRC_VM_POOL_H_

/*!
 * \file ember/runtime.h
 * \brief Ember's C++ runtime: load a compiled `model.so` and run it.
 *
 * \code
 *   ember::Model model = ember::Model::Load("model.so");
 *   std::vector<ember::Tensor> outputs = model.Run({{"input", ember::Tensor::View(dl_tensor)}});
 * \endcode
 *
 * Thread safety: a `Model` may be shared by any number of threads; concurrent `Run` calls
 * each take their own virtual-machine instance from a pool owned by the model, so results are
 * the same as running one at a time. Loading is thread safe too.
 *
 * Memory: a model holds its code and weights once, plus one workspace (the intermediate
 * tensors of a run) per run in flight; `LoadOptions::max_concurrency` bounds how many, and
 * after `LoadOptions::idle_timeout` without runs the pool shrinks to one VM and returns the
 * cached workspace memory to the system. A model with symbolic dimensions keeps its cached
 * workspace while its dimensions stay in their size classes (eight per doubling; its buffers
 * are sized by class); after a run in new classes (a decoder's growing cache, every few
 * dozen tokens) the cache goes back to malloc, so a generation loop stays at about one step's
 * memory.
 *
 * Errors: every failure throws `ember::Error`, whose `code()` is stable across releases and
 * whose `what()` is one line naming the file, input or device at fault.
 */
#ifndef EMBER_RUNTIME_H_
#define EMBER_RUNTIME_H_

#include <dlpack/dlpack.h>
#include <ember/c_api.h>
#include <ember/export.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace ember {

struct TensorAccess;  // the runtime's internal bridge to `Tensor::Impl`

/*! \brief Stable error codes: `ember_status_t` of the C ABI, which documents each. */
enum class ErrorCode : int {
  kOk = EMBER_OK,
  kInvalidArgument = EMBER_INVALID_ARGUMENT,
  kNotFound = EMBER_NOT_FOUND,
  kInvalidArtifact = EMBER_INVALID_ARTIFACT,
  kIncompatible = EMBER_INCOMPATIBLE,
  kDevice = EMBER_DEVICE,
  kRuntime = EMBER_RUNTIME,
  kInternal = EMBER_INTERNAL,
  kCompileFailed = EMBER_COMPILE_FAILED,
  kBusy = EMBER_BUSY,
  kVerifyFailed = EMBER_VERIFY_FAILED,
};

/*! \brief The one exception type the runtime throws. */
class EMBER_API Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  /*! \brief The stable code of this error. */
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

/*! \brief Kind of device a model runs on. */
enum class DeviceType : int { kCPU = kDLCPU, kCUDA = kDLCUDA };

/*! \brief A device: a type and an ordinal. */
struct Device {
  DeviceType type = DeviceType::kCPU;
  int id = 0;
  static Device CPU() { return Device{DeviceType::kCPU, 0}; }
  static Device CUDA(int id = 0) { return Device{DeviceType::kCUDA, id}; }
};

/*!
 * \brief An n-dimensional array shared with the runtime through DLPack.
 *
 * Copying a `Tensor` copies a reference, never the data.
 */
class EMBER_API Tensor {
 public:
  Tensor();
  /*! \brief Take ownership of a DLPack tensor; its deleter runs when the last reference goes. */
  static Tensor FromDLPack(DLManagedTensorVersioned* managed);
  /*! \brief Take ownership of a pre-1.0 DLPack tensor. */
  static Tensor FromDLPackLegacy(DLManagedTensor* managed);
  /*!
   * \brief Borrow memory described by `tensor`; the caller keeps it alive and unchanged until
   *        every `Tensor` made from it (and every `Run` given it) is gone.
   */
  static Tensor View(const DLTensor& tensor);
  /*! \brief Allocate an uninitialised, 64-byte aligned, contiguous tensor. */
  static Tensor Empty(const std::vector<int64_t>& shape, DLDataType dtype,
                      Device device = Device::CPU());

  /*!
   * \brief A contiguous copy of this tensor on `device` (host to GPU, GPU to host, or same
   *        device). Synchronous: the copy is complete when the call returns.
   * \throws Error kDevice when the device cannot allocate or copy.
   */
  Tensor CopyTo(Device device) const;
  /*! \brief A new DLPack reference to the same memory; the caller must call its deleter. */
  DLManagedTensorVersioned* ToDLPack() const;
  /*! \brief The DLPack description of this tensor (valid while this `Tensor` lives). */
  const DLTensor& dl_tensor() const;

  bool defined() const noexcept { return impl_ != nullptr; }
  std::vector<int64_t> shape() const;
  DLDataType dtype() const;
  Device device() const;
  void* data() const;
  /*! \brief Size of the data in bytes (contiguous layout). */
  size_t nbytes() const;

 private:
  struct Impl;
  explicit Tensor(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
  friend class Model;
  friend struct TensorAccess;
};

/*! \brief Name, shape and dtype of one model input or output, as the manifest records them. */
struct TensorSpec {
  std::string name;
  /*! \brief Extent of each dimension; -1 where the dimension is symbolic. */
  std::vector<int64_t> shape;
  /*! \brief Per dimension: the symbol's name (e.g. "batch"), or "" where the extent is fixed. */
  std::vector<std::string> dim_names;
  /*! \brief NumPy-style dtype name: "float32", "int64", ... */
  std::string dtype;
};

/*! \brief Options for `Model::Load`. */
struct LoadOptions {
  Device device = Device::CPU();
  /*!
   * \brief Worker threads per run. 0 uses `EMBER_NUM_THREADS` if set, else every core this
   *        process may run on. Applies to TVM's thread pool of each thread that calls `Run`.
   */
  int num_threads = 0;
  /*!
   * \brief Runs in flight at most, hence virtual machines and workspaces alive at most. 0: the
   *        cores this process may run on (more runs at once than cores only queue for them).
   */
  int max_concurrency = 0;
  /*! \brief When every VM is busy: false, `Run` waits for one; true, it throws `kBusy`. */
  bool fail_when_busy = false;
  /*!
   * \brief Idle VMs beyond one are released, and the workspace memory cached for them given
   *        back to the system, after this long without a run.
   */
  std::chrono::milliseconds idle_timeout{EMBER_DEFAULT_IDLE_TIMEOUT_MS};
};

/*! \brief A loaded, ready-to-run compiled model. Cheap to copy (shared reference). */
class EMBER_API Model {
 public:
  /*!
   * \brief Verify and load an artifact. Checks the manifest, the payload checksum, the CPU
   *        architecture and ISA extensions, and the device before any library code runs.
   * \throws Error with kNotFound, kInvalidArtifact, kIncompatible, kDevice or kInternal.
   */
  static Model Load(const std::string& path, const LoadOptions& options = LoadOptions());

  const std::vector<TensorSpec>& inputs() const;
  const std::vector<TensorSpec>& outputs() const;
  /*! \brief The manifest as JSON text. */
  const std::string& manifest_json() const;
  /*! \brief Threads each run uses (after resolving 0 to the default). */
  int num_threads() const;
  Device device() const;

  /*!
   * \brief Run with inputs in manifest order. Inputs are validated (count, dtype, shape with
   *        symbolic dimensions consistent across inputs, device, contiguity) before any kernel
   *        runs; misaligned inputs are copied, others are used in place.
   * \return Outputs in manifest order.
   */
  std::vector<Tensor> Run(const std::vector<Tensor>& inputs) const;
  /*! \brief Run with inputs given by name, in any order; every input must be named once. */
  std::vector<Tensor> Run(const std::vector<std::pair<std::string, Tensor>>& named_inputs) const;
  /*! \brief Virtual machines alive now (busy or idle): at most `max_concurrency`. */
  int num_vms() const;

 private:
  struct Impl;
  explicit Model(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

/*! \brief Read and verify an artifact's manifest without loading its code. */
EMBER_API std::string ReadManifest(const std::string& path);

/*! \brief The runtime's version, e.g. "0.1.0". */
EMBER_API const char* Version();

/*! \brief The highest manifest schema this runtime reads. */
constexpr int kManifestSchema = 1;

}  // namespace ember

#endif  // EMBER_RUNTIME_H_

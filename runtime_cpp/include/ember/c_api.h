/*!
 * \file ember/c_api.h
 * \brief Ember's C ABI: load a compiled `model.so` and run it from C or any language with a C FFI.
 *
 * \code
 *   ember_load_options_t options = EMBER_LOAD_OPTIONS_INIT;
 *   ember_model_t model = NULL;
 *   if (ember_model_load("model.so", &options, &model) != EMBER_OK) {
 *     fprintf(stderr, "error: %s\n", ember_last_error());
 *   }
 *   DLManagedTensorVersioned* out[1];
 *   const DLTensor* in[1] = {&input};
 *   ember_model_run(model, in, 1, out, 1);
 *   ...use out[0]->dl_tensor...
 *   out[0]->deleter(out[0]);
 *   ember_model_release(model);
 * \endcode
 *
 * Conventions: every function that can fail returns an `ember_status_t` (EMBER_OK on success);
 * on failure `ember_last_error()` gives a one-line message. Output parameters are named `out_`
 * and come last; they are written only on success. Nothing here throws or aborts.
 *
 * Evolution: functions are only ever added, and options structs only grow at their end. Each
 * struct the caller fills starts with `struct_size` (set by its init macro or function to the
 * size the caller was compiled with); the library reads only the fields that size covers and
 * takes the defaults for the rest. So a program built against an older header runs with a newer
 * library: check `ember_abi_version() >= EMBER_ABI_VERSION` at start-up.
 *
 * Thread safety: a model handle may be used by any number of threads at once (each concurrent
 * run uses its own virtual machine, at most `max_concurrency` at once); `ember_model_release`
 * must not race with other uses of the same handle. The last error is per thread.
 *
 * Memory: a loaded model holds its code and weights once, whatever the number of runs, plus
 * one workspace (the run's intermediate tensors) per run in flight, so at most
 * `max_concurrency` workspaces. When the model has been idle for `idle_timeout_ms`, virtual
 * machines beyond one are released and the cached workspace memory is returned to the system.
 */
#ifndef EMBER_C_API_H_
#define EMBER_C_API_H_

#include <dlpack/dlpack.h>
#include <ember/export.h>
#include <stddef.h>
#include <stdint.h>

/*!
 * \brief The ABI this header describes. It grows by one with every addition (a function, an
 *        options field); a library runs callers built against any version up to its own.
 *        1: load options up to `num_threads`; 2: `max_concurrency`, `fail_when_busy`,
 *        `idle_timeout_ms`, `EMBER_BUSY`, `EMBER_COMPILE_FAILED`.
 */
#define EMBER_ABI_VERSION 2

#ifdef __cplusplus
extern "C" {
#endif

/*!
 * \brief Status codes: the one definition of Ember's error codes. `ember::ErrorCode` takes its
 *        values from here; Python's error classes and docs/errors.md are checked against it.
 */
typedef enum {
  EMBER_OK = 0,               /*!< success */
  EMBER_INVALID_ARGUMENT = 1, /*!< wrong input name, count, dtype, shape, layout or option */
  EMBER_NOT_FOUND = 2,        /*!< the artifact file does not exist or cannot be read */
  EMBER_INVALID_ARTIFACT = 3, /*!< truncated, corrupted or not an Ember artifact */
  EMBER_INCOMPATIBLE = 4,     /*!< built for another CPU, ISA, GPU arch or a newer runtime */
  EMBER_DEVICE = 5,           /*!< the requested device is missing or unusable */
  EMBER_RUNTIME = 6,          /*!< a kernel or the virtual machine failed while running */
  EMBER_INTERNAL = 7,         /*!< a bug or a broken installation */
  EMBER_COMPILE_FAILED = 8,   /*!< compiling an accepted model failed (the compiler's only) */
  EMBER_BUSY = 9,             /*!< every VM is busy and the model was loaded to fail fast */
  EMBER_VERIFY_FAILED = 10,   /*!< outputs differ from ONNX Runtime's beyond the tolerance */
} ember_status_t;

/*! \brief Opaque handle to a loaded model. */
typedef struct ember_model_s* ember_model_t;

/*! \brief Default of `ember_load_options_t::idle_timeout_ms`. */
#define EMBER_DEFAULT_IDLE_TIMEOUT_MS 5000

/*!
 * \brief Options for `ember_model_load`; initialise with `EMBER_LOAD_OPTIONS_INIT` or
 *        `ember_load_options_init`, then set what differs from the defaults.
 */
typedef struct {
  size_t struct_size;  /*!< sizeof(ember_load_options_t) as the caller compiled it */
  int32_t device_type; /*!< kDLCPU (1) or kDLCUDA (2) */
  int32_t device_id;   /*!< device ordinal, 0 for the CPU */
  int32_t num_threads; /*!< threads per run; 0: $EMBER_NUM_THREADS, else every allowed core */
  /*! Runs in flight at most (virtual machines alive); 0: the cores this process may use. */
  int32_t max_concurrency;
  /*! When every VM is busy: 0, a run waits for one (default); 1, it returns EMBER_BUSY. */
  int32_t fail_when_busy;
  /*! Idle VMs beyond one are released after this many milliseconds without a run. */
  int32_t idle_timeout_ms;
  /* New fields go here, at the end, with a step of EMBER_ABI_VERSION. */
} ember_load_options_t;

/*! \brief The defaults, as an initialiser: CPU device 0, default threads and pool. */
#define EMBER_LOAD_OPTIONS_INIT \
  { sizeof(ember_load_options_t), kDLCPU, 0, 0, 0, 0, EMBER_DEFAULT_IDLE_TIMEOUT_MS }

/*! \brief Name, dtype and shape of one input or output; the pointers are owned by the model. */
typedef struct {
  const char* name;       /*!< NUL-terminated */
  const char* dtype_name; /*!< NumPy-style: "float32", "int64", "bool", ... */
  DLDataType dtype;       /*!< the same as a DLPack dtype (bool: kDLBool, 8 bits) */
  int32_t ndim;
  const int64_t* shape; /*!< `ndim` extents; -1 where the dimension is symbolic */
} ember_tensor_info_t;

/*! \brief The runtime's version, e.g. "0.1.0" (static storage). */
EMBER_C_API const char* ember_version(void);

/*! \brief The library's `EMBER_ABI_VERSION`; callers need it at least as high as their own. */
EMBER_C_API int32_t ember_abi_version(void);

/*!
 * \brief The message of the last failed call on this thread, "" if none. Valid until the next
 *        failing call on this thread.
 */
EMBER_C_API const char* ember_last_error(void);

/*!
 * \brief Fill the first `struct_size` bytes of `out` with the defaults (`struct_size` included).
 *        Callers use `ember_load_options_init`, which passes their own struct's size.
 * \param out the options to initialise; must not be NULL.
 * \param struct_size at least the size of the first ABI's struct (up to `num_threads`).
 */
EMBER_C_API ember_status_t ember_load_options_init_sized(ember_load_options_t* out,
                                                         size_t struct_size);

/*! \brief Fill `out` with the defaults of this header (see `EMBER_LOAD_OPTIONS_INIT`). */
static inline ember_status_t ember_load_options_init(ember_load_options_t* out) {
  return ember_load_options_init_sized(out, sizeof(ember_load_options_t));
}

/*!
 * \brief Verify and load an artifact (manifest, checksum, CPU, device) before any of its code runs.
 * \param path the artifact file, NUL-terminated.
 * \param options NULL for the defaults; read during the call only. Fields beyond what
 *        `struct_size` covers take their defaults.
 * \param out_model receives the new handle; release it with `ember_model_release`.
 */
EMBER_C_API ember_status_t ember_model_load(const char* path, const ember_load_options_t* options,
                                            ember_model_t* out_model);

/*! \brief Release a model; NULL is allowed and ignored. Outputs already returned stay valid. */
EMBER_C_API void ember_model_release(ember_model_t model);

/*! \brief Number of inputs of `model`, in `*out`. */
EMBER_C_API ember_status_t ember_model_num_inputs(ember_model_t model, size_t* out);

/*! \brief Number of outputs of `model`, in `*out`. */
EMBER_C_API ember_status_t ember_model_num_outputs(ember_model_t model, size_t* out);

/*!
 * \brief Name of input `index` (manifest order).
 * \param out receives a NUL-terminated string owned by the model, valid while it lives.
 */
EMBER_C_API ember_status_t ember_model_input_name(ember_model_t model, size_t index,
                                                  const char** out);

/*! \brief Name of output `index` (manifest order); ownership as `ember_model_input_name`. */
EMBER_C_API ember_status_t ember_model_output_name(ember_model_t model, size_t index,
                                                   const char** out);

/*!
 * \brief Name, dtype and shape of input `index` (manifest order).
 * \param out receives pointers owned by the model, valid while it lives.
 */
EMBER_C_API ember_status_t ember_model_input_info(ember_model_t model, size_t index,
                                                  ember_tensor_info_t* out);

/*! \brief As `ember_model_input_info`, for output `index`; output shapes may be symbolic. */
EMBER_C_API ember_status_t ember_model_output_info(ember_model_t model, size_t index,
                                                   ember_tensor_info_t* out);

/*!
 * \brief The manifest as JSON text.
 * \param out_json receives a NUL-terminated string owned by the model, valid while it lives.
 */
EMBER_C_API ember_status_t ember_model_manifest(ember_model_t model, const char** out_json);

/*!
 * \brief Run the model once.
 * \param model a loaded model; may be used by several threads at once.
 * \param inputs `num_inputs` borrowed tensors in manifest order; the memory must stay valid and
 *        unchanged during the call. Contiguous C order; any alignment (misaligned data is copied).
 * \param num_inputs must equal the model's number of inputs.
 * \param out_outputs array of `num_outputs` slots that receive new DLPack tensors in manifest
 *        order; the caller owns them and must call each one's `deleter` exactly once.
 * \param num_outputs must equal the model's number of outputs.
 */
EMBER_C_API ember_status_t ember_model_run(ember_model_t model, const DLTensor* const* inputs,
                                           size_t num_inputs,
                                           DLManagedTensorVersioned** out_outputs,
                                           size_t num_outputs);

#ifdef __cplusplus
}  // extern "C"
#endif

#endif  // EMBER_C_API_H_

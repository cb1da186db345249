/*!
 * \file ember/c_api.h
 * \brief Ember's C ABI: load a compiled `model.so` and run it from C or any language with a C FFI.
 *
 * \code
 *   ember_model_t model = NULL;
 *   if (ember_model_load("model.so", NULL, &model) != EMBER_OK) {
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
 * Conventions: every function returns an `ember_status_t` (EMBER_OK on success); on failure
 * `ember_last_error()` gives a one-line message. Output parameters are named `out_` and come
 * last; they are written only on success. Nothing here throws or aborts.
 *
 * Thread safety: a model handle may be used by any number of threads at once (each concurrent
 * run uses its own virtual machine); `ember_model_release` must not race with other uses of
 * the same handle. The last error is per thread.
 */
#ifndef EMBER_C_API_H_
#define EMBER_C_API_H_

#include <dlpack/dlpack.h>
#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#define EMBER_C_API __declspec(dllexport)
#else
#define EMBER_C_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/*! \brief Status codes; the same numbers as `ember::ErrorCode` and Python's error classes. */
typedef enum {
  EMBER_OK = 0,
  EMBER_INVALID_ARGUMENT = 1, /*!< wrong input name, count, dtype, shape, layout or option */
  EMBER_NOT_FOUND = 2,        /*!< the artifact file does not exist or cannot be read */
  EMBER_INVALID_ARTIFACT = 3, /*!< truncated, corrupted or not an Ember artifact */
  EMBER_INCOMPATIBLE = 4,     /*!< built for another CPU, ISA, GPU arch or a newer runtime */
  EMBER_DEVICE = 5,           /*!< the requested device is missing or unusable */
  EMBER_RUNTIME = 6,          /*!< a kernel or the virtual machine failed while running */
  EMBER_INTERNAL = 7,         /*!< a bug or a broken installation */
} ember_status_t;

/*! \brief Opaque handle to a loaded model. */
typedef struct ember_model_s* ember_model_t;

/*! \brief Options for `ember_model_load`; initialise with `ember_load_options_init`. */
typedef struct {
  int32_t device_type; /*!< kDLCPU (1) or kDLCUDA (2) */
  int32_t device_id;   /*!< device ordinal, 0 for the CPU */
  int32_t num_threads; /*!< threads per run; 0: $EMBER_NUM_THREADS, else every allowed core */
} ember_load_options_t;

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

/*!
 * \brief The message of the last failed call on this thread, "" if none. Valid until the next
 *        failing call on this thread.
 */
EMBER_C_API const char* ember_last_error(void);

/*!
 * \brief Fill `out` with the defaults: CPU device 0, num_threads 0.
 * \param out the options to initialise; must not be NULL.
 */
EMBER_C_API int ember_load_options_init(ember_load_options_t* out);

/*!
 * \brief Verify and load an artifact (manifest, checksum, CPU, device) before any of its code runs.
 * \param path the artifact file, NUL-terminated.
 * \param options NULL for the defaults; read during the call only.
 * \param out_model receives the new handle; release it with `ember_model_release`.
 */
EMBER_C_API int ember_model_load(const char* path, const ember_load_options_t* options,
                                 ember_model_t* out_model);

/*! \brief Release a model; NULL is allowed and ignored. Outputs already returned stay valid. */
EMBER_C_API void ember_model_release(ember_model_t model);

/*! \brief Number of inputs of `model`, in `*out`. */
EMBER_C_API int ember_model_num_inputs(ember_model_t model, size_t* out);

/*! \brief Number of outputs of `model`, in `*out`. */
EMBER_C_API int ember_model_num_outputs(ember_model_t model, size_t* out);

/*!
 * \brief Name of input `index` (manifest order).
 * \param out receives a NUL-terminated string owned by the model, valid while it lives.
 */
EMBER_C_API int ember_model_input_name(ember_model_t model, size_t index, const char** out);

/*! \brief Name of output `index` (manifest order); ownership as `ember_model_input_name`. */
EMBER_C_API int ember_model_output_name(ember_model_t model, size_t index, const char** out);

/*!
 * \brief Name, dtype and shape of input `index` (manifest order).
 * \param out receives pointers owned by the model, valid while it lives.
 */
EMBER_C_API int ember_model_input_info(ember_model_t model, size_t index, ember_tensor_info_t* out);

/*! \brief As `ember_model_input_info`, for output `index`; output shapes may be symbolic. */
EMBER_C_API int ember_model_output_info(ember_model_t model, size_t index,
                                        ember_tensor_info_t* out);

/*!
 * \brief The manifest as JSON text.
 * \param out_json receives a NUL-terminated string owned by the model, valid while it lives.
 */
EMBER_C_API int ember_model_manifest(ember_model_t model, const char** out_json);

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
EMBER_C_API int ember_model_run(ember_model_t model, const DLTensor* const* inputs,
                                size_t num_inputs, DLManagedTensorVersioned** out_outputs,
                                size_t num_outputs);

#ifdef __cplusplus
}  // extern "C"
#endif

#endif  // EMBER_C_API_H_

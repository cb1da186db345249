/* Helpers of the C tests: a CHECK that names the last error, and zero-filled model inputs.
 * The includer's include path picks the header (tests/cpp/abi1 for the ABI 1 caller). */
#ifndef EMBER_TESTS_CPP_C_TEST_UTIL_H_
#define EMBER_TESTS_CPP_C_TEST_UTIL_H_

#include <ember/c_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                            \
  do {                                                                                         \
    if (!(cond)) {                                                                             \
      fprintf(stderr, "%s:%d: check failed: %s (last error: %s)\n", __FILE__, __LINE__, #cond, \
              ember_last_error());                                                             \
      exit(1);                                                                                 \
    }                                                                                          \
  } while (0)

enum { kMaxInputs = 16, kMaxDims = 8 };

/* Allocates a zero-filled input for `info`, symbolic dimensions set to 1. */
static inline void MakeInput(const ember_tensor_info_t* info, DLTensor* t, int64_t* shape) {
  size_t n = 1;
  CHECK(info->ndim <= kMaxDims);
  for (int i = 0; i < info->ndim; ++i) {
    shape[i] = info->shape[i] < 0 ? 1 : info->shape[i];
    n *= (size_t)shape[i];
  }
  memset(t, 0, sizeof(*t));
  t->data = calloc(n, (info->dtype.bits + 7) / 8);
  t->device.device_type = kDLCPU;
  t->ndim = info->ndim;
  t->dtype = info->dtype;
  t->shape = shape;
}

/* Zero-filled inputs for every input of a model, and the pointers `ember_model_run` takes. */
typedef struct {
  size_t count;
  DLTensor tensors[kMaxInputs];
  int64_t shapes[kMaxInputs][kMaxDims];
  const DLTensor* ptrs[kMaxInputs];
} ZeroInputs;

static inline void MakeInputs(ember_model_t model, ZeroInputs* in) {
  CHECK(ember_model_num_inputs(model, &in->count) == EMBER_OK && in->count <= kMaxInputs);
  for (size_t i = 0; i < in->count; ++i) {
    ember_tensor_info_t info;
    CHECK(ember_model_input_info(model, i, &info) == EMBER_OK);
    MakeInput(&info, &in->tensors[i], in->shapes[i]);
    in->ptrs[i] = &in->tensors[i];
  }
}

static inline void FreeInputs(ZeroInputs* in) {
  for (size_t i = 0; i < in->count; ++i) free(in->tensors[i].data);
}

#endif  // EMBER_TESTS_CPP_C_TEST_UTIL_H_

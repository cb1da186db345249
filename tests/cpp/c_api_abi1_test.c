/* A caller built against an older header (abi1/ember/c_api.h, a frozen copy whose options struct
 * ends at num_threads) loads and runs a model with the current library, which must read only
 * the fields that caller's struct_size covers.
 * Usage: c_api_abi1_test [MODEL.so]  (default: $EMBER_TEST_MODEL) */
#include <ember/c_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if EMBER_ABI_VERSION != 1
#error "this test must compile against tests/cpp/abi1/ember/c_api.h"
#endif

#define CHECK(cond)                                                                            \
  do {                                                                                         \
    if (!(cond)) {                                                                             \
      fprintf(stderr, "%s:%d: check failed: %s (last error: %s)\n", __FILE__, __LINE__, #cond, \
              ember_last_error());                                                             \
      exit(1);                                                                                 \
    }                                                                                          \
  } while (0)

enum { kMaxInputs = 16, kMaxDims = 8 };

int main(int argc, char** argv) {
  const char* path = argc > 1 ? argv[1] : getenv("EMBER_TEST_MODEL");
  CHECK(path != NULL && *path != '\0');
  CHECK(ember_abi_version() >= EMBER_ABI_VERSION);

  /* Whatever follows the caller's struct is not the library's to read: poison it. */
  struct {
    ember_load_options_t options;
    unsigned char after[64];
  } padded;
  memset(&padded, 0xff, sizeof(padded));
  CHECK(ember_load_options_init(&padded.options) == EMBER_OK);
  CHECK(padded.options.struct_size == sizeof(ember_load_options_t));
  CHECK(padded.after[0] == 0xff);
  padded.options.num_threads = 1;
  ember_model_t model = NULL;
  CHECK(ember_model_load(path, &padded.options, &model) == EMBER_OK);

  size_t num_inputs = 0, num_outputs = 0;
  CHECK(ember_model_num_inputs(model, &num_inputs) == EMBER_OK && num_inputs <= kMaxInputs);
  CHECK(ember_model_num_outputs(model, &num_outputs) == EMBER_OK && num_outputs <= kMaxInputs);
  DLTensor inputs[kMaxInputs];
  int64_t shapes[kMaxInputs][kMaxDims];
  const DLTensor* input_ptrs[kMaxInputs];
  for (size_t i = 0; i < num_inputs; ++i) {
    ember_tensor_info_t info;
    CHECK(ember_model_input_info(model, i, &info) == EMBER_OK && info.ndim <= kMaxDims);
    size_t n = 1;
    for (int d = 0; d < info.ndim; ++d) {
      shapes[i][d] = info.shape[d] < 0 ? 1 : info.shape[d];
      n *= (size_t)shapes[i][d];
    }
    memset(&inputs[i], 0, sizeof(inputs[i]));
    inputs[i].data = calloc(n, (info.dtype.bits + 7) / 8);
    inputs[i].device.device_type = kDLCPU;
    inputs[i].ndim = info.ndim;
    inputs[i].dtype = info.dtype;
    inputs[i].shape = shapes[i];
    input_ptrs[i] = &inputs[i];
  }
  DLManagedTensorVersioned* outputs[kMaxInputs];
  CHECK(ember_model_run(model, input_ptrs, num_inputs, outputs, num_outputs) == EMBER_OK);
  for (size_t i = 0; i < num_outputs; ++i) outputs[i]->deleter(outputs[i]);
  for (size_t i = 0; i < num_inputs; ++i) free(inputs[i].data);
  ember_model_release(model);
  printf("c_api_abi1_test: ok (options struct of %zu bytes)\n", sizeof(ember_load_options_t));
  return 0;
}

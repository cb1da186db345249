/* A caller built against an older header (abi1/ember/c_api.h, a frozen copy whose options struct
 * ends at num_threads) loads and runs a model with the current library, which must read only
 * the fields that caller's struct_size covers.
 * Usage: c_api_abi1_test [MODEL.so]  (default: $EMBER_TEST_MODEL) */
#include <ember/c_api.h>

#include "c_test_util.h"

#if EMBER_ABI_VERSION != 1
#error "this test must compile against tests/cpp/abi1/ember/c_api.h"
#endif

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

  ZeroInputs in;
  MakeInputs(model, &in);
  size_t num_outputs = 0;
  CHECK(ember_model_num_outputs(model, &num_outputs) == EMBER_OK && num_outputs <= kMaxInputs);
  DLManagedTensorVersioned* outputs[kMaxInputs];
  CHECK(ember_model_run(model, in.ptrs, in.count, outputs, num_outputs) == EMBER_OK);
  for (size_t i = 0; i < num_outputs; ++i) outputs[i]->deleter(outputs[i]);
  FreeInputs(&in);
  ember_model_release(model);
  printf("c_api_abi1_test: ok (options struct of %zu bytes)\n", sizeof(ember_load_options_t));
  return 0;
}

/* The C ABI end to end: its version, load, inspect, run, release, and a bad call's status and
 * message.
 * Usage: c_api_test [MODEL.so]  (default: $EMBER_TEST_MODEL) */
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
static void MakeInput(const ember_tensor_info_t* info, DLTensor* t, int64_t* shape) {
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

/* Options whose struct_size is too small, or that set fields of a newer ABI, are refused. */
static void TestOptionsSizes(const char* path) {
  ember_model_t model = NULL;
  ember_load_options_t options = EMBER_LOAD_OPTIONS_INIT;
  CHECK(options.struct_size == sizeof(options) && options.device_type == kDLCPU);
  CHECK(options.idle_timeout_ms == EMBER_DEFAULT_IDLE_TIMEOUT_MS);
  options.struct_size = 4;
  CHECK(ember_model_load(path, &options, &model) == EMBER_INVALID_ARGUMENT);
  CHECK(strstr(ember_last_error(), "struct_size") != NULL);
  struct {
    ember_load_options_t options;
    int32_t newer_field;
  } newer;
  CHECK(ember_load_options_init_sized(&newer.options, sizeof(newer)) == EMBER_OK);
  CHECK(newer.options.struct_size == sizeof(newer) && newer.newer_field == 0);
  newer.newer_field = 1;
  CHECK(ember_model_load(path, &newer.options, &model) == EMBER_INCOMPATIBLE);
  CHECK(model == NULL);
  newer.newer_field = 0; /* left at its default: fine */
  CHECK(ember_model_load(path, &newer.options, &model) == EMBER_OK);
  ember_model_release(model);
}

/* With max_concurrency 1 and fail_when_busy, the pool never grows past one VM. */
static void TestPoolOptions(const char* path) {
  ember_load_options_t options = EMBER_LOAD_OPTIONS_INIT;
  options.max_concurrency = -1;
  ember_model_t model = NULL;
  CHECK(ember_model_load(path, &options, &model) == EMBER_INVALID_ARGUMENT);
  CHECK(strstr(ember_last_error(), "max_concurrency") != NULL);
  options.max_concurrency = 1;
  options.fail_when_busy = 1;
  options.idle_timeout_ms = 0;
  CHECK(ember_model_load(path, &options, &model) == EMBER_OK);
  ember_model_release(model);
}

static void TestBadCalls(const char* path) {
  ember_model_t model = NULL;
  CHECK(ember_model_load("/nonexistent/model.so", NULL, &model) == EMBER_NOT_FOUND);
  CHECK(strstr(ember_last_error(), "/nonexistent/model.so") != NULL);
  CHECK(model == NULL);
  CHECK(ember_model_load(path, NULL, &model) == EMBER_OK);
  DLManagedTensorVersioned* out[1];
  CHECK(ember_model_run(model, NULL, 0, out, 0) == EMBER_INVALID_ARGUMENT);
  CHECK(ember_model_num_inputs(NULL, NULL) == EMBER_INVALID_ARGUMENT);
  const char* name = NULL;
  CHECK(ember_model_input_name(model, 999, &name) == EMBER_INVALID_ARGUMENT);
  CHECK(strstr(ember_last_error(), "out of range") != NULL);
  ember_model_release(model);
  ember_model_release(NULL);
}

int main(int argc, char** argv) {
  const char* path = argc > 1 ? argv[1] : getenv("EMBER_TEST_MODEL");
  CHECK(path != NULL && *path != '\0');
  printf("ember %s, ABI %d\n", ember_version(), (int)ember_abi_version());
  CHECK(ember_abi_version() == EMBER_ABI_VERSION);
  ember_load_options_t options;
  CHECK(ember_load_options_init(&options) == EMBER_OK);
  CHECK(options.struct_size == sizeof(options) && options.max_concurrency == 0);
  options.num_threads = 1;
  ember_model_t model = NULL;
  CHECK(ember_model_load(path, &options, &model) == EMBER_OK);

  size_t num_inputs = 0, num_outputs = 0;
  CHECK(ember_model_num_inputs(model, &num_inputs) == EMBER_OK && num_inputs <= kMaxInputs);
  CHECK(ember_model_num_outputs(model, &num_outputs) == EMBER_OK && num_outputs <= kMaxInputs);
  DLTensor inputs[kMaxInputs];
  int64_t shapes[kMaxInputs][kMaxDims];
  const DLTensor* input_ptrs[kMaxInputs];
  for (size_t i = 0; i < num_inputs; ++i) {
    ember_tensor_info_t info;
    CHECK(ember_model_input_info(model, i, &info) == EMBER_OK);
    MakeInput(&info, &inputs[i], shapes[i]);
    input_ptrs[i] = &inputs[i];
  }
  DLManagedTensorVersioned* outputs[kMaxInputs];
  CHECK(ember_model_run(model, input_ptrs, num_inputs, outputs, num_outputs) == EMBER_OK);
  for (size_t i = 0; i < num_outputs; ++i) {
    const char* name = NULL;
    CHECK(ember_model_output_name(model, i, &name) == EMBER_OK);
    printf("output %s: ndim %d\n", name, outputs[i]->dl_tensor.ndim);
    outputs[i]->deleter(outputs[i]);
  }
  /* One input too few: a clear message, no output written. */
  if (num_inputs > 0) {
    CHECK(ember_model_run(model, input_ptrs, num_inputs - 1, outputs, num_outputs) ==
          EMBER_INVALID_ARGUMENT);
    CHECK(strstr(ember_last_error(), "inputs, got") != NULL ||
          strstr(ember_last_error(), "input, got") != NULL);
  }
  for (size_t i = 0; i < num_inputs; ++i) free(inputs[i].data);
  ember_model_release(model);
  TestBadCalls(path);
  TestOptionsSizes(path);
  TestPoolOptions(path);
  printf("c_api_test: ok\n");
  return 0;
}

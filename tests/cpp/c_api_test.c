/* The C ABI end to end: its version, load, inspect, run, release, and a bad call's status and
 * message.
 * Usage: c_api_test [MODEL.so]  (default: $EMBER_TEST_MODEL) */
#include "c_test_util.h"

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

  ZeroInputs in;
  MakeInputs(model, &in);
  size_t num_inputs = in.count, num_outputs = 0;
  CHECK(ember_model_num_outputs(model, &num_outputs) == EMBER_OK && num_outputs <= kMaxInputs);
  DLManagedTensorVersioned* outputs[kMaxInputs];
  CHECK(ember_model_run(model, in.ptrs, num_inputs, outputs, num_outputs) == EMBER_OK);
  for (size_t i = 0; i < num_outputs; ++i) {
    const char* name = NULL;
    CHECK(ember_model_output_name(model, i, &name) == EMBER_OK);
    printf("output %s: ndim %d\n", name, outputs[i]->dl_tensor.ndim);
    outputs[i]->deleter(outputs[i]);
  }
  /* One input too few: a clear message, no output written. */
  if (num_inputs > 0) {
    CHECK(ember_model_run(model, in.ptrs, num_inputs - 1, outputs, num_outputs) ==
          EMBER_INVALID_ARGUMENT);
    CHECK(strstr(ember_last_error(), "inputs, got") != NULL ||
          strstr(ember_last_error(), "input, got") != NULL);
  }
  FreeInputs(&in);
  ember_model_release(model);
  TestBadCalls(path);
  TestOptionsSizes(path);
  TestPoolOptions(path);
  printf("c_api_test: ok\n");
  return 0;
}

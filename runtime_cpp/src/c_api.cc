// The C ABI: every entry point catches everything, stores the message per thread and returns
// the error code, so no C++ exception crosses into C.
#include <ember/c_api.h>
#include <ember/runtime.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <exception>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "tensor_access.h"

struct ember_model_s {
  ember::Model model;
  std::vector<DLDataType> input_dtypes;  // parsed once: ember_tensor_info_t points into specs
  std::vector<DLDataType> output_dtypes;
};

namespace {

thread_local std::string g_last_error;

ember_status_t SetError(ember_status_t code, const std::string& message) {
  g_last_error = message;
  return code;
}

template <typename Fn>
ember_status_t Guard(Fn&& fn) {
  try {
    fn();
    return EMBER_OK;
  } catch (const ember::Error& e) {
    return SetError(static_cast<ember_status_t>(e.code()), e.what());
  } catch (const std::bad_alloc&) {
    return SetError(EMBER_INTERNAL, "out of memory");
  } catch (const std::exception& e) {
    return SetError(EMBER_INTERNAL, e.what());
  } catch (...) {
    return SetError(EMBER_INTERNAL, "unknown error");
  }
}

void Require(bool ok, const char* what) {
  if (!ok) throw ember::Error(ember::ErrorCode::kInvalidArgument, what);
}

const ember::Model& ModelOf(ember_model_t model) {
  Require(model != nullptr, "model handle is NULL");
  return model->model;
}

const ember::TensorSpec& SpecAt(const std::vector<ember::TensorSpec>& specs, size_t index,
                                const char* kind) {
  if (index >= specs.size()) {
    throw ember::Error(ember::ErrorCode::kInvalidArgument,
                       std::string(kind) + " index " + std::to_string(index) + " out of range (" +
                           std::to_string(specs.size()) + " " + kind + "s)");
  }
  return specs[index];
}

std::vector<DLDataType> ParseDtypes(const std::vector<ember::TensorSpec>& specs) {
  std::vector<DLDataType> dtypes;
  for (const ember::TensorSpec& spec : specs) dtypes.push_back(ember::ParseDtype(spec.dtype));
  return dtypes;
}

// The options struct of the first ABI ends with `num_threads`: no caller has a smaller one.
constexpr size_t kMinOptionsSize =
    offsetof(ember_load_options_t, num_threads) + sizeof(ember_load_options_t::num_threads);

// Whether the caller's struct, of `size` bytes, reaches `field` (it was compiled with it).
#define EMBER_HAS_FIELD(size, field) \
  ((size) >= offsetof(ember_load_options_t, field) + sizeof(ember_load_options_t::field))

// Options from a newer header: the fields this library does not know must be left at zero,
// the default, else the caller asks for something this library cannot do.
void RequireUnknownFieldsZero(const ember_load_options_t* options) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(options);
  for (size_t i = sizeof(ember_load_options_t); i < options->struct_size; ++i) {
    if (bytes[i] != 0) {
      throw ember::Error(ember::ErrorCode::kIncompatible,
                         "the load options set fields this runtime (ABI " +
                             std::to_string(EMBER_ABI_VERSION) +
                             ") does not know; they come from a newer Ember header");
    }
  }
}

// Reads only the fields the caller's `struct_size` covers; the others keep their defaults.
ember::LoadOptions ReadOptions(const ember_load_options_t* options) {
  ember::LoadOptions opts;
  if (options == nullptr) return opts;
  const size_t size = options->struct_size;
  if (size < kMinOptionsSize) {
    throw ember::Error(ember::ErrorCode::kInvalidArgument,
                       "load options: struct_size " + std::to_string(size) +
                           " is too small; initialise them with EMBER_LOAD_OPTIONS_INIT");
  }
  RequireUnknownFieldsZero(options);
  Require(options->device_type == kDLCPU || options->device_type == kDLCUDA,
          "device_type must be kDLCPU (1) or kDLCUDA (2)");
  opts.device =
      ember::Device{static_cast<ember::DeviceType>(options->device_type), options->device_id};
  opts.num_threads = options->num_threads;
  if (EMBER_HAS_FIELD(size, max_concurrency)) opts.max_concurrency = options->max_concurrency;
  if (EMBER_HAS_FIELD(size, fail_when_busy)) opts.fail_when_busy = options->fail_when_busy != 0;
  if (EMBER_HAS_FIELD(size, idle_timeout_ms)) {
    opts.idle_timeout = std::chrono::milliseconds(options->idle_timeout_ms);
  }
  return opts;
}

void FillInfo(const ember::TensorSpec& spec, DLDataType dtype, ember_tensor_info_t* out) {
  Require(out != nullptr, "out is NULL");
  out->name = spec.name.c_str();
  out->dtype_name = spec.dtype.c_str();
  out->dtype = dtype;
  out->ndim = static_cast<int32_t>(spec.shape.size());
  out->shape = spec.shape.data();
}

}  // namespace

extern "C" {

const char* ember_version(void) { return ember::Version(); }

int32_t ember_abi_version(void) { return EMBER_ABI_VERSION; }

const char* ember_last_error(void) { return g_last_error.c_str(); }

ember_status_t ember_load_options_init_sized(ember_load_options_t* out, size_t struct_size) {
  return Guard([&] {
    Require(out != nullptr, "options pointer is NULL");
    Require(struct_size >= kMinOptionsSize, "struct_size is smaller than any ember_load_options_t");
    ember_load_options_t defaults = EMBER_LOAD_OPTIONS_INIT;
    defaults.struct_size = struct_size;
    // A caller's struct from a newer header: its fields unknown here default to zero.
    std::memset(out, 0, struct_size);
    std::memcpy(out, &defaults, std::min(struct_size, sizeof(defaults)));
  });
}

ember_status_t ember_model_load(const char* path, const ember_load_options_t* options,
                                ember_model_t* out_model) {
  return Guard([&] {
    Require(path != nullptr && out_model != nullptr, "path and out_model must not be NULL");
    ember::LoadOptions opts = ReadOptions(options);
    ember::Model model = ember::Model::Load(path, opts);
    auto inputs = ParseDtypes(model.inputs());
    auto outputs = ParseDtypes(model.outputs());
    *out_model = new ember_model_s{std::move(model), std::move(inputs), std::move(outputs)};
  });
}

void ember_model_release(ember_model_t model) { delete model; }

ember_status_t ember_model_num_inputs(ember_model_t model, size_t* out) {
  return Guard([&] {
    Require(out != nullptr, "out is NULL");
    *out = ModelOf(model).inputs().size();
  });
}

ember_status_t ember_model_num_outputs(ember_model_t model, size_t* out) {
  return Guard([&] {
    Require(out != nullptr, "out is NULL");
    *out = ModelOf(model).outputs().size();
  });
}

ember_status_t ember_model_input_name(ember_model_t model, size_t index, const char** out) {
  return Guard([&] {
    Require(out != nullptr, "out is NULL");
    *out = SpecAt(ModelOf(model).inputs(), index, "input").name.c_str();
  });
}

ember_status_t ember_model_output_name(ember_model_t model, size_t index, const char** out) {
  return Guard([&] {
    Require(out != nullptr, "out is NULL");
    *out = SpecAt(ModelOf(model).outputs(), index, "output").name.c_str();
  });
}

ember_status_t ember_model_input_info(ember_model_t model, size_t index, ember_tensor_info_t* out) {
  return Guard([&] {
    const ember::TensorSpec& spec = SpecAt(ModelOf(model).inputs(), index, "input");
    FillInfo(spec, model->input_dtypes[index], out);
  });
}

ember_status_t ember_model_output_info(ember_model_t model, size_t index,
                                       ember_tensor_info_t* out) {
  return Guard([&] {
    const ember::TensorSpec& spec = SpecAt(ModelOf(model).outputs(), index, "output");
    FillInfo(spec, model->output_dtypes[index], out);
  });
}

ember_status_t ember_model_manifest(ember_model_t model, const char** out_json) {
  return Guard([&] {
    Require(out_json != nullptr, "out_json is NULL");
    *out_json = ModelOf(model).manifest_json().c_str();
  });
}

ember_status_t ember_model_run(ember_model_t model, const DLTensor* const* inputs,
                               size_t num_inputs, DLManagedTensorVersioned** out_outputs,
                               size_t num_outputs) {
  return Guard([&] {
    const ember::Model& m = ModelOf(model);
    Require(inputs != nullptr || num_inputs == 0, "inputs is NULL");
    Require(out_outputs != nullptr, "out_outputs is NULL");
    if (num_outputs != m.outputs().size()) {
      throw ember::Error(ember::ErrorCode::kInvalidArgument,
                         "expected room for " + std::to_string(m.outputs().size()) +
                             " outputs, got " + std::to_string(num_outputs));
    }
    std::vector<ember::Tensor> views;
    for (size_t i = 0; i < num_inputs; ++i) {
      Require(inputs[i] != nullptr, "an input tensor is NULL");
      Require(inputs[i]->ndim >= 0 && (inputs[i]->ndim == 0 || inputs[i]->shape != nullptr),
              "an input tensor has a negative ndim or a NULL shape");
      views.push_back(ember::Tensor::View(*inputs[i]));
    }
    std::vector<ember::Tensor> outputs = m.Run(views);
    // Export all first so that a failure leaves no half-written, leaking out_outputs.
    std::vector<DLManagedTensorVersioned*> exported;
    for (const ember::Tensor& t : outputs) exported.push_back(t.ToDLPack());
    for (size_t i = 0; i < exported.size(); ++i) out_outputs[i] = exported[i];
  });
}

}  // extern "C"

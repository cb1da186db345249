// The C ABI: every entry point catches everything, stores the message per thread and returns
// the error code, so no C++ exception crosses into C.
#include <ember/c_api.h>
#include <ember/runtime.h>

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

int SetError(int code, const std::string& message) {
  g_last_error = message;
  return code;
}

template <typename Fn>
int Guard(Fn&& fn) {
  try {
    fn();
    return EMBER_OK;
  } catch (const ember::Error& e) {
    return SetError(static_cast<int>(e.code()), e.what());
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

const char* ember_last_error(void) { return g_last_error.c_str(); }

int ember_load_options_init(ember_load_options_t* out) {
  return Guard([&] {
    Require(out != nullptr, "options pointer is NULL");
    *out = ember_load_options_t{kDLCPU, 0, 0};
  });
}

int ember_model_load(const char* path, const ember_load_options_t* options,
                     ember_model_t* out_model) {
  return Guard([&] {
    Require(path != nullptr && out_model != nullptr, "path and out_model must not be NULL");
    ember::LoadOptions opts;
    if (options != nullptr) {
      Require(options->device_type == kDLCPU || options->device_type == kDLCUDA,
              "device_type must be kDLCPU (1) or kDLCUDA (2)");
      opts.device =
          ember::Device{static_cast<ember::DeviceType>(options->device_type), options->device_id};
      opts.num_threads = options->num_threads;
    }
    ember::Model model = ember::Model::Load(path, opts);
    auto inputs = ParseDtypes(model.inputs());
    auto outputs = ParseDtypes(model.outputs());
    *out_model = new ember_model_s{std::move(model), std::move(inputs), std::move(outputs)};
  });
}

void ember_model_release(ember_model_t model) { delete model; }

int ember_model_num_inputs(ember_model_t model, size_t* out) {
  return Guard([&] {
    Require(out != nullptr, "out is NULL");
    *out = ModelOf(model).inputs().size();
  });
}

int ember_model_num_outputs(ember_model_t model, size_t* out) {
  return Guard([&] {
    Require(out != nullptr, "out is NULL");
    *out = ModelOf(model).outputs().size();
  });
}

int ember_model_input_name(ember_model_t model, size_t index, const char** out) {
  return Guard([&] {
    Require(out != nullptr, "out is NULL");
    *out = SpecAt(ModelOf(model).inputs(), index, "input").name.c_str();
  });
}

int ember_model_output_name(ember_model_t model, size_t index, const char** out) {
  return Guard([&] {
    Require(out != nullptr, "out is NULL");
    *out = SpecAt(ModelOf(model).outputs(), index, "output").name.c_str();
  });
}

int ember_model_input_info(ember_model_t model, size_t index, ember_tensor_info_t* out) {
  return Guard([&] {
    const ember::TensorSpec& spec = SpecAt(ModelOf(model).inputs(), index, "input");
    FillInfo(spec, model->input_dtypes[index], out);
  });
}

int ember_model_output_info(ember_model_t model, size_t index, ember_tensor_info_t* out) {
  return Guard([&] {
    const ember::TensorSpec& spec = SpecAt(ModelOf(model).outputs(), index, "output");
    FillInfo(spec, model->output_dtypes[index], out);
  });
}

int ember_model_manifest(ember_model_t model, const char** out_json) {
  return Guard([&] {
    Require(out_json != nullptr, "out_json is NULL");
    *out_json = ModelOf(model).manifest_json().c_str();
  });
}

int ember_model_run(ember_model_t model, const DLTensor* const* inputs, size_t num_inputs,
                    DLManagedTensorVersioned** out_outputs, size_t num_outputs) {
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

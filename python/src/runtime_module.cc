// ember._runtime: the pybind11 binding over ember/runtime.h, used by the Python facade
// (python/ember/runtime.py). Inputs come in as DLPack capsules; CPU outputs leave as numpy
// arrays that share the runtime's memory; GPU outputs are copied to numpy or leave as DLPack.
#include <Python.h>
#include <dlpack/dlpack.h>
#include <ember/runtime.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <chrono>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace py = pybind11;

namespace {

using Dim = std::variant<int64_t, std::string>;
using SpecTuple = std::tuple<std::string, std::vector<Dim>, std::string>;

std::vector<SpecTuple> SpecList(const std::vector<ember::TensorSpec>& specs) {
  std::vector<SpecTuple> out;
  for (const ember::TensorSpec& s : specs) {
    std::vector<Dim> shape;
    for (size_t i = 0; i < s.shape.size(); ++i) {
      shape.push_back(s.dim_names[i].empty() ? Dim(s.shape[i]) : Dim(s.dim_names[i]));
    }
    out.emplace_back(s.name, std::move(shape), s.dtype);
  }
  return out;
}

// Takes ownership of a DLPack capsule and marks it used, as the DLPack protocol asks.
ember::Tensor FromCapsule(const std::string& name, const py::object& obj) {
  PyObject* capsule = obj.ptr();
  if (PyCapsule_IsValid(capsule, "dltensor_versioned")) {
    auto* managed =
        static_cast<DLManagedTensorVersioned*>(PyCapsule_GetPointer(capsule, "dltensor_versioned"));
    ember::Tensor t = ember::Tensor::FromDLPack(managed);
    PyCapsule_SetName(capsule, "used_dltensor_versioned");
    return t;
  }
  if (PyCapsule_IsValid(capsule, "dltensor")) {
    auto* managed = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(capsule, "dltensor"));
    ember::Tensor t = ember::Tensor::FromDLPackLegacy(managed);
    PyCapsule_SetName(capsule, "used_dltensor");
    return t;
  }
  throw ember::Error(ember::ErrorCode::kInvalidArgument,
                     "input '" + name + "': expected an unused DLPack capsule");
}

py::dtype NumpyDtype(DLDataType t) {
  const char* kinds[] = {"int", "uint", "float"};  // kDLInt, kDLUInt, kDLFloat
  if (t.lanes == 1 && t.code == kDLBool && t.bits == 8) return py::dtype("bool");
  if (t.lanes == 1 && t.code <= kDLFloat && t.bits >= 8 && t.bits <= 64 &&
      (t.code != kDLFloat || t.bits >= 16)) {
    return py::dtype(std::string(kinds[t.code]) + std::to_string(t.bits));
  }
  throw ember::Error(ember::ErrorCode::kRuntime, "an output has a dtype numpy cannot hold (code " +
                                                     std::to_string(t.code) + ", bits " +
                                                     std::to_string(t.bits) + ")");
}

// A numpy array over the output's memory; the array's base owns the ember::Tensor.
py::array ToNumpy(const ember::Tensor& tensor) {
  auto* owner = new ember::Tensor(tensor);
  py::capsule base(owner, [](void* p) { delete static_cast<ember::Tensor*>(p); });
  return py::array(NumpyDtype(tensor.dtype()), tensor.shape(), tensor.data(), base);
}

// A "dltensor_versioned" capsule; an unused one frees the tensor when Python drops it.
py::object ToCapsule(const ember::Tensor& tensor) {
  DLManagedTensorVersioned* managed = tensor.ToDLPack();
  PyObject* capsule = PyCapsule_New(managed, "dltensor_versioned", [](PyObject* self) {
    if (PyCapsule_IsValid(self, "dltensor_versioned")) {
      auto* m =
          static_cast<DLManagedTensorVersioned*>(PyCapsule_GetPointer(self, "dltensor_versioned"));
      if (m->deleter != nullptr) m->deleter(m);
    }
  });
  if (capsule == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(capsule);
}

// CPU tensors become numpy arrays; GPU tensors are copied to the host when `to_host`, else
// handed out as DLPack capsules (the facade wraps them), so GPU-in, GPU-out costs no copy.
py::object ToPython(const ember::Tensor& tensor, bool to_host) {
  if (tensor.device().type == ember::DeviceType::kCPU) return ToNumpy(tensor);
  if (!to_host) return ToCapsule(tensor);
  ember::Tensor host;
  {
    py::gil_scoped_release release;
    host = tensor.CopyTo(ember::Device::CPU());
  }
  return ToNumpy(host);
}

// Host inputs of a GPU model are copied to its device; inputs already there are used as is.
ember::Tensor OnDevice(const ember::Tensor& tensor, ember::Device device) {
  if (device.type == ember::DeviceType::kCPU || tensor.device().type != ember::DeviceType::kCPU) {
    return tensor;
  }
  return tensor.CopyTo(device);
}

std::vector<py::object> Run(const ember::Model& model,
                            const std::vector<std::pair<std::string, py::object>>& named,
                            bool outputs_to_host) {
  // Inputs (and their producers' deleters, which take the GIL) die with the GIL held.
  std::vector<std::pair<std::string, ember::Tensor>> inputs;
  for (const auto& [name, obj] : named) inputs.emplace_back(name, FromCapsule(name, obj));
  std::vector<ember::Tensor> outputs;
  {
    py::gil_scoped_release release;
    for (auto& [name, tensor] : inputs) tensor = OnDevice(tensor, model.device());
    outputs = model.Run(inputs);
  }
  std::vector<py::object> results;
  for (const ember::Tensor& t : outputs) results.push_back(ToPython(t, outputs_to_host));
  return results;
}

// A copy of a DLPack tensor on another device (tests reach TVM's device API through it).
py::object CopyTensor(const py::object& capsule, int device_type, int device_id) {
  ember::Tensor tensor = FromCapsule("tensor", capsule);
  ember::Tensor copy;
  {
    py::gil_scoped_release release;
    copy = tensor.CopyTo(ember::Device{static_cast<ember::DeviceType>(device_type), device_id});
  }
  return ToPython(copy, false);
}

ember::Model Load(const std::string& path, int device_type, int device_id, int num_threads,
                  int max_concurrency, bool fail_when_busy, int64_t idle_timeout_ms) {
  if (device_type != kDLCPU && device_type != kDLCUDA) {
    throw ember::Error(
        ember::ErrorCode::kInvalidArgument,
        "device_type must be 1 (cpu) or 2 (cuda), got " + std::to_string(device_type));
  }
  ember::LoadOptions options;
  options.device = ember::Device{static_cast<ember::DeviceType>(device_type), device_id};
  options.num_threads = num_threads;
  options.max_concurrency = max_concurrency;
  options.fail_when_busy = fail_when_busy;
  options.idle_timeout = std::chrono::milliseconds(idle_timeout_ms);
  py::gil_scoped_release release;
  return ember::Model::Load(path, options);
}

// ember::Error -> ember.errors.RUNTIME_ERROR_CLASSES[code]; imported lazily so that importing
// this module stays cheap and ember.errors stays the one place that defines the classes.
void TranslateError(std::exception_ptr p) {
  try {
    if (p) std::rethrow_exception(p);
  } catch (const ember::Error& e) {
    py::object classes = py::module_::import("ember.errors").attr("RUNTIME_ERROR_CLASSES");
    py::object cls = classes[py::int_(static_cast<int>(e.code()))];
    PyErr_SetString(cls.ptr(), e.what());
  }
}

}  // namespace

PYBIND11_MODULE(_runtime, m) {
  m.doc() = "Ember's C++ runtime (private: use the ember package).";
  py::register_exception_translator(&TranslateError);

  py::class_<ember::Model>(m, "Model")
      .def_property_readonly("inputs", [](const ember::Model& s) { return SpecList(s.inputs()); })
      .def_property_readonly("outputs", [](const ember::Model& s) { return SpecList(s.outputs()); })
      .def_property_readonly("manifest_json", &ember::Model::manifest_json)
      .def_property_readonly("num_threads", &ember::Model::num_threads)
      .def_property_readonly(
          "device_type", [](const ember::Model& s) { return static_cast<int>(s.device().type); })
      .def_property_readonly("device_id", [](const ember::Model& s) { return s.device().id; })
      .def_property_readonly("num_vms", &ember::Model::num_vms)
      .def("run", &Run, py::arg("named_inputs"), py::arg("outputs_to_host") = true,
           "Run with [(name, DLPack capsule), ...]; returns the outputs in manifest order: "
           "numpy arrays, or DLPack capsules for GPU outputs when outputs_to_host is false.");

  m.def("load", &Load, py::arg("path"), py::arg("device_type") = 1, py::arg("device_id") = 0,
        py::arg("num_threads") = 0, py::arg("max_concurrency") = 0,
        py::arg("fail_when_busy") = false,
        py::arg("idle_timeout_ms") = static_cast<int64_t>(EMBER_DEFAULT_IDLE_TIMEOUT_MS),
        "Verify and load an artifact.");
  m.def(
      "read_manifest",
      [](const std::string& path) {
        py::gil_scoped_release release;
        return ember::ReadManifest(path);
      },
      py::arg("path"), "Read and verify an artifact's manifest without loading its code.");
  m.def("copy_tensor", &CopyTensor, py::arg("capsule"), py::arg("device_type"),
        py::arg("device_id") = 0, "Copy a DLPack tensor to a device (numpy for the CPU).");
  m.def("version", [] { return std::string(ember::Version()); });
}

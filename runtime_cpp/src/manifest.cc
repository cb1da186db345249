#include "manifest.h"

#include <tvm/ffi/extra/json.h>

#include <cstdio>
#include <string>
#include <vector>

#include "errors.h"
#include "tensor_access.h"

namespace ember {
namespace {

namespace json = tvm::ffi::json;
using tvm::ffi::Any;

[[noreturn]] void Corrupted(const std::string& path, const std::string& why) {
  Fail(ErrorCode::kInvalidArtifact, path, ": corrupted manifest (", why,
       "); rebuild it with `ember compile`");
}

// A JSON object member, or None when absent.
Any Member(const json::Object& obj, const char* key) {
  auto it = obj.find(tvm::ffi::String(key));
  return it == obj.end() ? Any(nullptr) : (*it).second;
}

json::Object AsObject(const Any& v, const std::string& what, const std::string& path) {
  if (auto o = v.try_cast<json::Object>()) return *o;
  Corrupted(path, what + " is not an object");
}

std::string AsString(const Any& v, const std::string& what, const std::string& path) {
  if (auto s = v.try_cast<tvm::ffi::String>()) return std::string(*s);
  Corrupted(path, what + " is not a string");
}

std::string OptionalString(const json::Object& obj, const char* key, const std::string& path) {
  Any v = Member(obj, key);
  return v == nullptr ? std::string() : AsString(v, key, path);
}

json::Array AsArray(const Any& v, const std::string& what, const std::string& path) {
  if (auto a = v.try_cast<json::Array>()) return *a;
  Corrupted(path, what + " is not an array");
}

TensorSpec ParseSpec(const Any& v, const std::string& what, const std::string& path) {
  json::Object obj = AsObject(v, what, path);
  TensorSpec spec;
  spec.name = AsString(Member(obj, "name"), what + ".name", path);
  spec.dtype = AsString(Member(obj, "dtype"), what + ".dtype", path);
  try {
    ParseDtype(spec.dtype);
  } catch (const Error&) {
    Corrupted(path, Concat(what, ".dtype '", spec.dtype, "' is not a dtype this runtime knows"));
  }
  for (const Any& dim : AsArray(Member(obj, "shape"), what + ".shape", path)) {
    if (auto s = dim.try_cast<tvm::ffi::String>()) {
      spec.shape.push_back(-1);
      spec.dim_names.emplace_back(*s);
    } else if (dim.type_index() == TVMFFITypeIndex::kTVMFFIInt) {
      spec.shape.push_back(dim.cast<int64_t>());
      spec.dim_names.emplace_back();
    } else {
      Corrupted(path, what + ".shape has a dimension that is neither an integer nor a name");
    }
  }
  return spec;
}

std::vector<TensorSpec> ParseSpecs(const json::Object& root, const char* key,
                                   const std::string& path) {
  std::vector<TensorSpec> specs;
  json::Array items = AsArray(Member(root, key), key, path);
  for (size_t i = 0; i < items.size(); ++i) {
    specs.push_back(ParseSpec(items[i], Concat(key, "[", i, "]"), path));
  }
  return specs;
}

void ParseTarget(const json::Object& root, const std::string& path, Manifest* m) {
  json::Object target = AsObject(Member(root, "target"), "target", path);
  m->device = OptionalString(target, "device", path);
  if (m->device.empty()) m->device = "cpu";
  m->arch = AsString(Member(target, "arch"), "target.arch", path);
  m->cuda_arch = OptionalString(target, "cuda_arch", path);
  Any features = Member(target, "cpu_features");
  if (features == nullptr) return;
  for (const Any& f : AsArray(features, "target.cpu_features", path)) {
    m->cpu_features.push_back(AsString(f, "target.cpu_features[]", path));
  }
}

// Optional: the compile's options; the runtime reads the precision (absent: fp32).
void ParseOptions(const json::Object& root, const std::string& path, Manifest* m) {
  Any options = Member(root, "options");
  if (options == nullptr) return;
  const std::string precision =
      OptionalString(AsObject(options, "options", path), "precision", path);
  if (!precision.empty()) m->precision = precision;
}

// Optional: kernel plugins the artifact calls into ("cpu_blas" -> libember_cpu_blas.so).
void ParsePlugins(const json::Object& root, const std::string& path, Manifest* m) {
  Any plugins = Member(root, "plugins");
  if (plugins == nullptr) return;
  for (const Any& p : AsArray(plugins, "plugins", path)) {
    m->plugins.push_back(AsString(p, "plugins[]", path));
  }
}

// Optional: how the artifact sizes its run-time-sized allocations.
void ParseMemory(const json::Object& root, const std::string& path, Manifest* m) {
  Any memory = Member(root, "memory");
  if (memory == nullptr) return;
  Any classes = Member(AsObject(memory, "memory", path), "size_classes_per_doubling");
  if (classes == nullptr) return;
  if (classes.type_index() != TVMFFITypeIndex::kTVMFFIInt || classes.cast<int64_t>() < 0 ||
      classes.cast<int64_t>() > 64) {
    Corrupted(path, "memory.size_classes_per_doubling");
  }
  m->size_classes_per_doubling = static_cast<int>(classes.cast<int64_t>());
}

void ParsePayload(const json::Object& root, const std::string& path, Manifest* m) {
  json::Object payload = AsObject(Member(root, "payload"), "payload", path);
  Any size = Member(payload, "size");
  if (size.type_index() != TVMFFITypeIndex::kTVMFFIInt) Corrupted(path, "payload.size");
  m->payload_size = static_cast<uint64_t>(size.cast<int64_t>());
  m->payload_crc32 = AsString(Member(payload, "crc32"), "payload.crc32", path);
}

Manifest ParseManifestUnchecked(const std::string& text, const std::string& path) {
  tvm::ffi::String error;
  Any parsed = json::Parse(tvm::ffi::String(text), &error);
  if (!error.empty()) Corrupted(path, FirstLine(std::string(error)));
  json::Object root = AsObject(parsed, "the manifest", path);
  Any schema = Member(root, "schema");
  if (schema.type_index() != TVMFFITypeIndex::kTVMFFIInt) Corrupted(path, "no schema");
  Manifest m;
  m.schema = schema.cast<int64_t>();
  if (m.schema > kManifestSchema) {
    Fail(ErrorCode::kIncompatible, path, ": built by a newer Ember (manifest schema ", m.schema,
         ", this runtime reads up to ", kManifestSchema, "); upgrade the runtime");
  }
  Any entry = Member(root, "entry");
  if (entry != nullptr) m.entry = AsString(entry, "entry", path);
  ParseTarget(root, path, &m);
  m.inputs = ParseSpecs(root, "inputs", path);
  m.outputs = ParseSpecs(root, "outputs", path);
  ParsePlugins(root, path, &m);
  ParseOptions(root, path, &m);
  ParseMemory(root, path, &m);
  ParsePayload(root, path, &m);
  return m;
}

}  // namespace

Manifest ParseManifest(const std::string& text, const std::string& path) {
  // Anything the checks below miss (a bad cast deep in the JSON) is still a corrupted manifest.
  return Translate(ErrorCode::kInvalidArtifact, path + ": corrupted manifest",
                   [&] { return ParseManifestUnchecked(text, path); });
}

Manifest ReadVerifiedManifest(const std::string& path, ArtifactFile* out_file) {
  ArtifactFile file = ReadArtifactFile(path);
  Manifest m = ParseManifest(file.manifest_json, path);
  char crc[9];
  std::snprintf(crc, sizeof(crc), "%08x", file.payload_crc32);
  if (m.payload_size != file.payload_size || m.payload_crc32 != crc) {
    Fail(ErrorCode::kInvalidArtifact, path,
         ": corrupted (checksum mismatch); rebuild it with `ember compile` or copy it again");
  }
  if (out_file != nullptr) *out_file = std::move(file);
  return m;
}

}  // namespace ember

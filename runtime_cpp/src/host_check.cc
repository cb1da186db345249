#include "host_check.h"

#include <tvm/ffi/function.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include <cstdlib>
#include <string>
#include <vector>

#include "artifact_file.h"
#include "env.h"
#include "errors.h"

namespace ember {
namespace {

struct Feature {
  const char* name;
  bool (*supported)();
};

#if defined(__x86_64__)
// clang's __builtin_cpu_supports does not know "f16c" (gcc's does): ask CPUID leaf 1.
bool HasF16c() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  return __get_cpuid(1, &eax, &ebx, &ecx, &edx) != 0 && (ecx & bit_F16C) != 0;
}

// CPUID leaf 7: AVX512-BF16 is sub-leaf 1's EAX bit 5, AMX-BF16 sub-leaf 0's EDX bit 22 (older
// compilers' __builtin_cpu_supports know neither).
bool HasAvx512Bf16() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  return __get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx) != 0 && (eax & (1u << 5)) != 0;
}
bool HasAmxBf16() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  return __get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) != 0 && (edx & (1u << 22)) != 0;
}

// __builtin_cpu_supports needs literal names, hence one lambda per feature. Manifest names
// follow LLVM ("sse4.2"); /proc/cpuinfo spellings ("sse4_2") are accepted too.
const Feature kFeatures[] = {
    {"sse4.1", [] { return __builtin_cpu_supports("sse4.1") != 0; }},
    {"sse4.2", [] { return __builtin_cpu_supports("sse4.2") != 0; }},
    {"popcnt", [] { return __builtin_cpu_supports("popcnt") != 0; }},
    {"avx", [] { return __builtin_cpu_supports("avx") != 0; }},
    {"avx2", [] { return __builtin_cpu_supports("avx2") != 0; }},
    {"fma", [] { return __builtin_cpu_supports("fma") != 0; }},
    {"f16c", HasF16c},
    {"bmi", [] { return __builtin_cpu_supports("bmi") != 0; }},
    {"bmi2", [] { return __builtin_cpu_supports("bmi2") != 0; }},
    {"avx512f", [] { return __builtin_cpu_supports("avx512f") != 0; }},
    {"avx512bw", [] { return __builtin_cpu_supports("avx512bw") != 0; }},
    {"avx512vl", [] { return __builtin_cpu_supports("avx512vl") != 0; }},
    {"avx512dq", [] { return __builtin_cpu_supports("avx512dq") != 0; }},
    {"avx512cd", [] { return __builtin_cpu_supports("avx512cd") != 0; }},
    {"avx512vnni", [] { return __builtin_cpu_supports("avx512vnni") != 0; }},
    {"avx512bf16", HasAvx512Bf16},
    {"amx-bf16", HasAmxBf16},
};
#else
// No runtime test on other architectures yet: their baseline features (NEON) are implied.
const Feature kFeatures[] = {{"", [] { return true; }}};
#endif

std::string Normalize(std::string name) {
  for (char& c : name) {
    if (c == '_') c = '.';
  }
  if (name == "avx512.vnni") return "avx512vnni";
  if (name == "avx512.bf16") return "avx512bf16";
  if (name == "amx.bf16") return "amx-bf16";
  return name;
}

// The feature's test, or nullptr when the runtime cannot test it.
const Feature* FindFeature(const std::string& name) {
  std::string key = Normalize(name);
  for (const Feature& f : kFeatures) {
    if (key == f.name) return &f;
  }
  return nullptr;
}

bool HiddenByEnv(const std::string& name) {
  const char* hidden = std::getenv(env::kHideCpuFeatures);
  if (hidden == nullptr) return false;
  std::string list = Concat(",", hidden, ",");
  for (char& c : list) {
    if (c == '_') c = '.';
  }
  return list.find("," + Normalize(name) + ",") != std::string::npos;
}

bool Supported(const char* name) {
  const Feature* f = FindFeature(name);
  return f != nullptr && f->supported() && !HiddenByEnv(name);
}

// bf16 artifacts multiply in oneDNN's bf16 kernels, which emulate bf16 (slower than fp32) on
// x86 CPUs without either extension: refuse those rather than run slowly.
void CheckPrecision(const Manifest& m, const std::string& path) {
  if (m.precision != "bf16" || m.arch != "x86_64") return;
  if (Supported("avx512bf16") || Supported("amx-bf16")) return;
  Fail(ErrorCode::kIncompatible, path,
       ": computes in bf16, and this CPU has neither AVX512-BF16 nor AMX-BF16; compile the "
       "model without --precision bf16 for it");
}

}  // namespace

const char* HostArch() {
#if defined(__x86_64__)
  return "x86_64";
#elif defined(__aarch64__)
  return "aarch64";
#else
  return "unknown";
#endif
}

void CheckHost(const Manifest& m, uint16_t elf_machine, const std::string& path) {
  if (m.arch != HostArch()) {
    Fail(ErrorCode::kIncompatible, path, ": built for ", m.arch, ", this machine is ", HostArch(),
         "; compile the model for this machine's target");
  }
  if (ElfMachineName(elf_machine) != m.arch) {
    Fail(ErrorCode::kInvalidArtifact, path, ": manifest says ", m.arch, " but the library is ",
         ElfMachineName(elf_machine), "; rebuild it with `ember compile`");
  }
  CheckPrecision(m, path);
  std::vector<std::string> missing;
  for (const std::string& name : m.cpu_features) {
    const Feature* f = FindFeature(name);
    if ((f != nullptr && !f->supported()) || HiddenByEnv(name)) missing.push_back(name);
  }
  if (missing.empty()) return;
  std::string list;
  for (const std::string& name : missing) list += (list.empty() ? "" : ", ") + name;
  Fail(ErrorCode::kIncompatible, path, ": built for ", m.arch, " with ", list, ", this machine is ",
       HostArch(), " without ", list, "; compile it with `--target x86` (this CPU)");
}

void CheckDeviceKind(const Manifest& m, Device device, const std::string& path) {
  const char* wanted = device.type == DeviceType::kCUDA ? "cuda" : "cpu";
  if (m.device != wanted) {
    Fail(ErrorCode::kIncompatible, path, ": built for device '", m.device, "', cannot run on '",
         wanted, "'");
  }
}

void CheckCudaDevice(const Manifest& m, Device device, const std::string& path) {
  auto get_attr = tvm::ffi::Function::GetGlobal("runtime.GetDeviceAttr");
  if (!get_attr) Fail(ErrorCode::kInternal, "TVM runtime lacks runtime.GetDeviceAttr");
  constexpr int kExist = 0, kComputeVersion = 4;  // TVM's DeviceAttrKind
  auto device_type = static_cast<int>(DeviceType::kCUDA);
  bool exists = Translate(ErrorCode::kDevice, path, [&] {
    return (*get_attr)(device_type, device.id, kExist).cast<int64_t>() != 0;
  });
  if (!exists) Fail(ErrorCode::kDevice, path, ": no CUDA device ", device.id, " is visible");
  if (m.cuda_arch.rfind("sm_", 0) != 0) return;
  std::string version = Translate(ErrorCode::kDevice, path, [&] {
    return std::string(
        (*get_attr)(device_type, device.id, kComputeVersion).cast<tvm::ffi::String>());
  });
  // "8.6" -> 86, compared with "sm_86".
  int have = std::atoi(version.c_str()) * 10;
  size_t dot = version.find('.');
  if (dot != std::string::npos) have += std::atoi(version.c_str() + dot + 1);
  int need = std::atoi(m.cuda_arch.c_str() + 3);
  if (have < need) {
    Fail(ErrorCode::kIncompatible, path, ": built for ", m.cuda_arch, ", this GPU is sm_", have);
  }
}

}  // namespace ember

#include "plugin_loader.h"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>
#include <set>
#include <string>

#include "env.h"
#include "errors.h"
#include "tvm_runtime_loader.h"

namespace ember {
namespace {

// OpenBLAS chooses its kernels once, when it loads, from OPENBLAS_CORETYPE or else the CPU.
// The plugins' OpenBLAS is a private copy (prefixed symbols), so a value set for the system's
// OpenBLAS does not choose for it: an older family (Haswell on an AVX-512 CPU) halves GEMM
// speed. EMBER_BLAS_CORETYPE chooses instead; the caller's value is restored after the load.
class PluginBlasCore {
 public:
  PluginBlasCore() {
    const char* inherited = std::getenv(env::kOpenBlasCoreType);
    if (inherited != nullptr) saved_ = inherited;
    had_value_ = inherited != nullptr;
    const char* chosen = std::getenv(env::kBlasCoreType);
    if (chosen != nullptr && *chosen != '\0') {
      setenv(env::kOpenBlasCoreType, chosen, /*overwrite=*/1);
    } else {
      unsetenv(env::kOpenBlasCoreType);
    }
  }
  ~PluginBlasCore() {
    if (had_value_) {
      setenv(env::kOpenBlasCoreType, saved_.c_str(), /*overwrite=*/1);
    } else {
      unsetenv(env::kOpenBlasCoreType);
    }
  }
  PluginBlasCore(const PluginBlasCore&) = delete;
  PluginBlasCore& operator=(const PluginBlasCore&) = delete;

 private:
  std::string saved_;
  bool had_value_ = false;
};

bool IsPluginName(const std::string& name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

void LoadOne(const std::string& name, const std::string& artifact) {
  if (!IsPluginName(name)) {
    Fail(ErrorCode::kInvalidArtifact, artifact, ": corrupted manifest (plugin name '", name, "')");
  }
  std::string path = RuntimeLibraryDir() + "/libember_" + name + ".so";
  // OpenBLAS starts its own thread pool when it loads; plugins run it on TVM's pool instead.
  setenv(env::kOpenBlasNumThreads, "1", /*overwrite=*/0);
  PluginBlasCore blas_core;
  if (dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL) == nullptr) {
    const char* why = dlerror();
    Fail(ErrorCode::kIncompatible, artifact, ": needs the kernel plugin '", name,
         "', which this runtime cannot load (", why ? why : path, "); reinstall Ember");
  }
}

}  // namespace

void EnsurePluginsLoaded(const std::vector<std::string>& names, const std::string& artifact) {
  static std::mutex mutex;
  static std::set<std::string> loaded;
  std::lock_guard<std::mutex> lock(mutex);
  for (const std::string& name : names) {
    if (loaded.count(name) != 0) continue;
    LoadOne(name, artifact);
    loaded.insert(name);
  }
}

}  // namespace ember

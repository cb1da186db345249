#include "plugin_loader.h"

#include <dlfcn.h>

#include <cstdio>
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

// A plugin another one can stand in for: `stand_in` registers `plugin`'s names on its own
// kernels when its exported `entry` is called.
struct StandIn {
  const char* plugin;
  const char* library;  // what the user knows the plugin as, for the message
  const char* stand_in;
  const char* stand_in_library;
  const char* entry;
};
constexpr StandIn kStandIns[] = {
    {"cpu_dnnl", "oneDNN", "cpu_blas", "OpenBLAS", "ember_cpu_blas_stand_in_for_onednn"},
};

const StandIn* StandInFor(const std::string& name) {
  for (const StandIn& s : kStandIns) {
    if (name == s.plugin) return &s;
  }
  return nullptr;
}

// Why `name` is not to be loaded, or empty.
std::string TurnedOff(const std::string& name) {
  const char* onednn = std::getenv(env::kOneDnn);
  if (name == "cpu_dnnl" && onednn != nullptr && std::string(onednn) == "0") {
    return std::string(env::kOneDnn) + "=0";
  }
  return "";
}

// Load `libember_<name>.so`: its handle, or null with the reason in `why`.
void* TryLoad(const std::string& name, std::string* why) {
  std::string path = RuntimeLibraryDir() + "/libember_" + name + ".so";
  // OpenBLAS starts its own thread pool when it loads; plugins run it on TVM's pool instead.
  setenv(env::kOpenBlasNumThreads, "1", /*overwrite=*/0);
  PluginBlasCore blas_core;
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL);
  if (handle == nullptr) {
    const char* error = dlerror();
    *why = error ? error : path;
  }
  return handle;
}

void LoadOne(const std::string& name, const std::string& artifact) {
  if (!IsPluginName(name)) {
    Fail(ErrorCode::kInvalidArtifact, artifact, ": corrupted manifest (plugin name '", name, "')");
  }
  std::string why = TurnedOff(name);
  if (why.empty() && TryLoad(name, &why) != nullptr) return;
  const StandIn* stand_in = StandInFor(name);
  if (stand_in == nullptr) {
    Fail(ErrorCode::kIncompatible, artifact, ": needs the kernel plugin '", name,
         "', which this runtime cannot load (", why, "); reinstall Ember");
  }
  std::string stand_in_why;
  void* handle = TryLoad(stand_in->stand_in, &stand_in_why);
  using Entry = int (*)();
  auto entry = handle ? reinterpret_cast<Entry>(dlsym(handle, stand_in->entry)) : nullptr;
  if (entry == nullptr) {
    Fail(ErrorCode::kIncompatible, artifact, ": needs the kernel plugin '", name,
         "', which this runtime cannot load (", why, "), nor its stand-in '", stand_in->stand_in,
         "' (", handle ? "it has no entry point" : stand_in_why, "); reinstall Ember");
  }
  // 1: the plugin's own kernels are registered already (loaded earlier in this process, before
  // EMBER_ONEDNN=0 was set), so they run and there is nothing to warn about.
  if (entry() != 0) return;
  std::fprintf(stderr, "warning: %s: %s is unavailable (%s); its calls run on %s instead, slower\n",
               artifact.c_str(), stand_in->library, why.c_str(), stand_in->stand_in_library);
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

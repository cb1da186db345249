#include "tvm_runtime_loader.h"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

#include "env.h"
#include "errors.h"
#include "tensor_view.h"

namespace ember {
namespace {

constexpr const char* kRuntimeName = "libtvm_runtime.so";
constexpr const char* kCudaRuntimeName = "libtvm_runtime_cuda.so";
constexpr const char* kDriverName = "libcuda.so.1";

std::mutex g_mutex;
bool g_loaded = false;
std::string g_runtime_dir;  // folder of the libtvm_runtime.so in use, "" when unknown

std::string DirName(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string(".") : path.substr(0, slash);
}

}  // namespace

std::string RuntimeLibraryDir() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&EnsureTvmRuntimeLoaded), &info) == 0 ||
      info.dli_fname == nullptr) {
    return "";
  }
  return DirName(info.dli_fname);
}

namespace {

// The folder a loaded library lives in, found through one of its symbols.
std::string LoadedLibraryDir(void* handle) {
  void* sym = dlsym(handle, "TVMBackendParallelLaunch");
  Dl_info info{};
  if (sym == nullptr || dladdr(sym, &info) == 0 || info.dli_fname == nullptr) return "";
  return DirName(info.dli_fname);
}

std::vector<std::string> Candidates() {
  std::vector<std::string> paths;
  if (const char* env_path = std::getenv(env::kTvmRuntimeLibrary)) paths.emplace_back(env_path);
  std::string here = RuntimeLibraryDir();
  if (!here.empty()) paths.push_back(here + "/../../tvm/lib/" + kRuntimeName);
  paths.emplace_back(kRuntimeName);  // LD_LIBRARY_PATH, rpath, system folders
  return paths;
}

void LoadLocked() {
  // A copy loaded by `import tvm` must be reused: a second copy would register every global
  // function twice. RTLD_NOLOAD matches by soname and promotes the copy to the global scope.
  void* handle = dlopen(kRuntimeName, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD);
  std::string tried;
  for (const std::string& path : Candidates()) {
    if (handle != nullptr) break;
    handle = dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL);
    if (handle == nullptr) {
      const char* why = dlerror();
      tried += Concat(tried.empty() ? "" : "; ", path, " (", why ? FirstLine(why) : "?", ")");
    }
  }
  if (handle == nullptr) {
    Fail(ErrorCode::kInternal, "cannot load ", kRuntimeName, "; set ", env::kTvmRuntimeLibrary,
         " to its path. Tried: ", tried);
  }
  g_runtime_dir = LoadedLibraryDir(handle);
  UseOffsetFreeViews();
  g_loaded = true;
}

}  // namespace

void EnsureTvmRuntimeLoaded() {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (!g_loaded) LoadLocked();
}

void EnsureTvmCudaRuntimeLoaded(const std::string& artifact) {
  EnsureTvmRuntimeLoaded();
  std::lock_guard<std::mutex> lock(g_mutex);
  // Checked first so that a machine without a GPU gets this line, not a loader message.
  if (dlopen(kDriverName, RTLD_NOW | RTLD_GLOBAL) == nullptr) {
    Fail(ErrorCode::kDevice, artifact, ": built for CUDA, but this machine has no NVIDIA driver (",
         kDriverName, " not found), so no GPU is usable");
  }
  std::string path =
      g_runtime_dir.empty() ? kCudaRuntimeName : g_runtime_dir + "/" + kCudaRuntimeName;
  if (dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL) == nullptr) {
    const char* why = dlerror();
    Fail(ErrorCode::kDevice, artifact, ": cannot load TVM's CUDA runtime ", path, ": ",
         why ? FirstLine(why) : "?");
  }
}

}  // namespace ember

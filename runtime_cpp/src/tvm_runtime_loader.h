/*!
 * \file tvm_runtime_loader.h
 * \brief Find and load TVM's runtime libraries once per process.
 *
 * A model library needs `libtvm_runtime.so` (it registers the VM executable loader and the
 * thread pool) in the global symbol scope before `Module::LoadFromFile`, although the runtime
 * references none of its symbols; so it is dlopen'ed here rather than linked.
 */
#ifndef EMBER_RUNTIME_CPP_SRC_TVM_RUNTIME_LOADER_H_
#define EMBER_RUNTIME_CPP_SRC_TVM_RUNTIME_LOADER_H_

#include <string>

namespace ember {

/*! \brief The folder libember_runtime.so was loaded from ("" when unknown). */
std::string RuntimeLibraryDir();

/*!
 * \brief Load `libtvm_runtime.so` with RTLD_GLOBAL unless already loaded. Tries, in order: an
 *        already loaded copy (e.g. by `import tvm`), `$EMBER_TVM_RUNTIME_LIBRARY`,
 *        `<this library>/../../tvm/lib/` (the installed wheel layout), the loader's search path.
 * \throws Error kInternal naming every place tried.
 */
void EnsureTvmRuntimeLoaded();

/*!
 * \brief Load `libtvm_runtime_cuda.so` from the folder `libtvm_runtime.so` came from.
 * \throws Error kDevice naming `artifact` when there is no NVIDIA driver (`libcuda.so.1`), or
 *         when the library or the CUDA runtime it needs cannot be loaded.
 */
void EnsureTvmCudaRuntimeLoaded(const std::string& artifact);

}  // namespace ember

#endif  // EMBER_RUNTIME_CPP_SRC_TVM_RUNTIME_LOADER_H_

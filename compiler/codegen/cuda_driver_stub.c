/* A stand-in for the NVIDIA driver (libcuda.so.1) on machines without a GPU.
 *
 * TVM's CUDA runtime (libtvm_runtime_cuda.so) links against libcuda.so.1. Unless it loads,
 * TVM's code generator cannot create CUDA modules and the exported library holds CUDA source
 * instead of a compiled fatbin. Compiling never calls the driver, so every function here only
 * reports CUDA_ERROR_NO_DEVICE. The symbol list is what `nm -D --undefined-only
 * libtvm_runtime_cuda.so` shows for apache-tvm 0.27. Ember builds this file on demand and puts
 * it on the library path of its compile subprocess only, never of a process that runs models.
 */
#include <stddef.h>

#define EMBER_CUDA_ERROR_NO_DEVICE 100

typedef int CUresult;

static const char kMessage[] = "no NVIDIA driver (Ember's compile-time stub libcuda.so.1)";

CUresult cuGetErrorName(CUresult error, const char** name) {
  (void)error;
  if (name != NULL) *name = "CUDA_ERROR_NO_DEVICE";
  return 0;
}

CUresult cuGetErrorString(CUresult error, const char** text) {
  (void)error;
  if (text != NULL) *text = kMessage;
  return 0;
}

/* The remaining imports: their arguments are never read. */
#define EMBER_STUB(name) \
  CUresult name(void) { return EMBER_CUDA_ERROR_NO_DEVICE; }

EMBER_STUB(cuInit)
EMBER_STUB(cuDriverGetVersion)
EMBER_STUB(cuDeviceGetName)
EMBER_STUB(cuFuncSetAttribute)
EMBER_STUB(cuLaunchKernelEx)
EMBER_STUB(cuModuleGetFunction)
EMBER_STUB(cuModuleLoadData)
EMBER_STUB(cuModuleUnload)
EMBER_STUB(cuTensorMapEncodeTiled)

/*!
 * \file host_check.h
 * \brief Check that this machine can run an artifact: CPU architecture, ISA extensions, device.
 */
#ifndef EMBER_RUNTIME_CPP_SRC_HOST_CHECK_H_
#define EMBER_RUNTIME_CPP_SRC_HOST_CHECK_H_

#include <ember/runtime.h>

#include <cstdint>
#include <string>

#include "manifest.h"

namespace ember {

/*! \brief This process's architecture as `target.arch` spells it. */
const char* HostArch();

/*!
 * \brief Check `target.arch` against the host and the payload's ELF machine, and every CPU
 *        feature of `target.cpu_features` the runtime knows how to test (others are ignored).
 * \throws Error kIncompatible: "built for ..., this machine is ...".
 */
void CheckHost(const Manifest& manifest, uint16_t elf_machine, const std::string& path);

/*!
 * \brief Check that the requested device matches the artifact's `target.device`.
 * \throws Error kIncompatible or kDevice.
 */
void CheckDeviceKind(const Manifest& manifest, Device device, const std::string& path);

/*!
 * \brief Check that a CUDA device exists and is recent enough for `target.cuda_arch`; needs
 *        TVM's CUDA runtime to be loaded.
 * \throws Error kDevice or kIncompatible.
 */
void CheckCudaDevice(const Manifest& manifest, Device device, const std::string& path);

}  // namespace ember

#endif  // EMBER_RUNTIME_CPP_SRC_HOST_CHECK_H_

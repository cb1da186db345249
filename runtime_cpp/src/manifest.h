/*!
 * \file manifest.h
 * \brief The fields of an artifact's JSON manifest the runtime acts on (docs/artifact.md).
 */
#ifndef EMBER_RUNTIME_CPP_SRC_MANIFEST_H_
#define EMBER_RUNTIME_CPP_SRC_MANIFEST_H_

#include <ember/runtime.h>

#include <cstdint>
#include <string>
#include <vector>

#include "artifact_file.h"

namespace ember {

/*! \brief A parsed manifest; fields the runtime does not use stay in the JSON text. */
struct Manifest {
  int64_t schema = 0;
  std::string device;  //!< "cpu" or "cuda"
  std::string arch;    //!< "x86_64", "aarch64"
  std::vector<std::string> cpu_features;
  std::string cuda_arch;           //!< "sm_80", or "" when absent
  std::string precision = "fp32";  //!< what matmuls and convolutions compute in (`--precision`)
  std::string entry = "main";
  std::vector<TensorSpec> inputs;
  std::vector<TensorSpec> outputs;
  std::vector<std::string> plugins;  //!< kernel plugins to load first, e.g. "cpu_blas"
  //! Run-time-sized allocations are rounded up to this many size classes per doubling
  //! (`memory.size_classes_per_doubling`); 0 (absent, older artifacts): exact sizes.
  int size_classes_per_doubling = 0;
  uint64_t payload_size = 0;
  std::string payload_crc32;  //!< 8 lowercase hex digits
};

/*!
 * \brief Parse `json`; `path` names the file in messages.
 * \throws Error kInvalidArtifact ("corrupted manifest") or kIncompatible (a newer schema).
 */
Manifest ParseManifest(const std::string& json, const std::string& path);

/*!
 * \brief Read `path`, parse its manifest and check the payload's size and CRC-32 against it.
 * \param file receives the raw file facts when not null.
 */
Manifest ReadVerifiedManifest(const std::string& path, ArtifactFile* file = nullptr);

}  // namespace ember

#endif  // EMBER_RUNTIME_CPP_SRC_MANIFEST_H_

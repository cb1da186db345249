/*!
 * \file artifact_file.h
 * \brief Read an artifact's trailer, manifest text, payload checksum and ELF machine, without
 *        mapping any of its code (see docs/artifact.md).
 */
#ifndef EMBER_RUNTIME_CPP_SRC_ARTIFACT_FILE_H_
#define EMBER_RUNTIME_CPP_SRC_ARTIFACT_FILE_H_

#include <cstdint>
#include <string>

namespace ember {

/*! \brief What the raw bytes of an artifact say. */
struct ArtifactFile {
  std::string manifest_json;
  uint64_t payload_size = 0;
  uint32_t payload_crc32 = 0;  //!< computed over the payload, zlib's polynomial
  uint16_t elf_machine = 0;    //!< e_machine of the payload's ELF header
};

/*!
 * \brief Read `path`.
 * \throws Error kNotFound (missing, unreadable, a directory) or kInvalidArtifact (too short,
 *         no trailer magic, sizes that do not add up, a payload that is not a 64-bit ELF).
 */
ArtifactFile ReadArtifactFile(const std::string& path);

/*! \brief e_machine values the runtime knows, and their `target.arch` names. */
constexpr uint16_t kElfMachineX86_64 = 62;
constexpr uint16_t kElfMachineAarch64 = 183;

/*! \brief "x86_64", "aarch64", or "machine <n>". */
std::string ElfMachineName(uint16_t machine);

}  // namespace ember

#endif  // EMBER_RUNTIME_CPP_SRC_ARTIFACT_FILE_H_

#include "artifact_file.h"

#include <sys/stat.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <vector>

#include "crc32.h"
#include "errors.h"

namespace ember {
namespace {

// payload size (u64), manifest size (u64), manifest CRC-32 (u32), version (u32), magic.
constexpr uint64_t kTrailerSize = 32;
constexpr uint32_t kTrailerVersion = 2;
constexpr char kMagic[8] = {'E', 'M', 'B', 'E', 'R', 'A', 'R', 'T'};
constexpr const char* kRebuild = "rebuild it with `ember compile` or copy it again";
constexpr uint64_t kElfHeaderSize = 64;
// A manifest is a few kilobytes; a bound keeps a hostile trailer from allocating gigabytes.
constexpr uint64_t kMaxManifestSize = 64ull << 20;

uint64_t LoadLE(const unsigned char* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

uint64_t FileSize(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    Fail(ErrorCode::kNotFound, path, ": cannot open artifact (", std::strerror(errno), ")");
  }
  if (S_ISDIR(st.st_mode)) Fail(ErrorCode::kNotFound, path, ": is a directory, not an artifact");
  return static_cast<uint64_t>(st.st_size);
}

void ReadAt(std::ifstream& in, uint64_t offset, char* out, uint64_t size, const std::string& path) {
  in.seekg(static_cast<std::streamoff>(offset));
  in.read(out, static_cast<std::streamsize>(size));
  if (!in) Fail(ErrorCode::kNotFound, path, ": read error");
}

[[noreturn]] void NotAnArtifact(const std::string& path, const std::string& why) {
  Fail(ErrorCode::kInvalidArtifact, path, ": truncated or not an Ember artifact (", why, "); ",
       kRebuild);
}

uint16_t ReadElfMachine(std::ifstream& in, const std::string& path) {
  std::array<unsigned char, kElfHeaderSize> h{};
  ReadAt(in, 0, reinterpret_cast<char*>(h.data()), h.size(), path);
  if (std::memcmp(h.data(),
                  "\x7f"
                  "ELF",
                  4) != 0)
    NotAnArtifact(path, "payload is not ELF");
  if (h[4] != 2 || h[5] != 1) NotAnArtifact(path, "payload is not a 64-bit little-endian ELF");
  return static_cast<uint16_t>(h[18] | (h[19] << 8));
}

uint32_t Crc32(std::ifstream& in, uint64_t size, const std::string& path) {
  std::vector<char> buf(1 << 20);
  uint32_t crc = 0;
  in.seekg(0);
  for (uint64_t done = 0; done < size;) {
    uint64_t n = std::min<uint64_t>(buf.size(), size - done);
    in.read(buf.data(), static_cast<std::streamsize>(n));
    if (!in) Fail(ErrorCode::kNotFound, path, ": read error");
    crc = Crc32Update(crc, buf.data(), n);
    done += n;
  }
  return crc;
}

}  // namespace

std::string ElfMachineName(uint16_t machine) {
  if (machine == kElfMachineX86_64) return "x86_64";
  if (machine == kElfMachineAarch64) return "aarch64";
  return Concat("ELF machine ", machine);
}

ArtifactFile ReadArtifactFile(const std::string& path) {
  uint64_t size = FileSize(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) Fail(ErrorCode::kNotFound, path, ": cannot open artifact");
  if (size < kTrailerSize + kElfHeaderSize) NotAnArtifact(path, Concat(size, " bytes"));
  std::array<unsigned char, kTrailerSize> t{};
  ReadAt(in, size - kTrailerSize, reinterpret_cast<char*>(t.data()), t.size(), path);
  if (std::memcmp(t.data() + 24, kMagic, sizeof(kMagic)) != 0) NotAnArtifact(path, "no trailer");
  ArtifactFile file;
  file.payload_size = LoadLE(t.data(), 8);
  uint64_t manifest_size = LoadLE(t.data() + 8, 8);
  auto manifest_crc = static_cast<uint32_t>(LoadLE(t.data() + 16, 4));
  auto version = static_cast<uint32_t>(LoadLE(t.data() + 20, 4));
  if (version != kTrailerVersion) {
    NotAnArtifact(path,
                  Concat("trailer version ", version, ", this runtime reads ", kTrailerVersion));
  }
  if (manifest_size > kMaxManifestSize || file.payload_size > size ||
      file.payload_size + manifest_size + kTrailerSize != size ||
      file.payload_size < kElfHeaderSize) {
    NotAnArtifact(path, "sizes in the trailer do not match the file size");
  }
  file.manifest_json.resize(manifest_size);
  ReadAt(in, file.payload_size, file.manifest_json.data(), manifest_size, path);
  if (Crc32Update(0, file.manifest_json.data(), manifest_size) != manifest_crc) {
    Fail(ErrorCode::kInvalidArtifact, path, ": corrupted manifest (checksum mismatch); ", kRebuild);
  }
  file.elf_machine = ReadElfMachine(in, path);
  file.payload_crc32 = Crc32(in, file.payload_size, path);
  return file;
}

}  // namespace ember

#ifndef EMBER_RUNTIME_CPP_SRC_CRC32_H_
#define EMBER_RUNTIME_CPP_SRC_CRC32_H_

#include <cstddef>
#include <cstdint>

namespace ember {

/*!
 * \brief Continue a CRC-32 (zlib's polynomial; Python's `zlib.crc32`) over `size` bytes.
 *
 * Written here rather than taken from zlib so that building the runtime (and `pip install`)
 * needs no system development package, and so the aarch64 cross build needs no sysroot zlib.
 */
uint32_t Crc32Update(uint32_t crc, const void* data, size_t size);

}  // namespace ember

#endif  // EMBER_RUNTIME_CPP_SRC_CRC32_H_

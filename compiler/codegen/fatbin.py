"""Find the GPU code inside a built library: NVIDIA fatbins and the architectures they hold.

A CUDA artifact must carry compiled code, never CUDA source that needs NVRTC at load time.
TVM embeds nvcc's fatbin as raw bytes in the library's `__tvm_ffi__library_bin` blob. A fatbin
starts with the header `<u32 magic 0xBA55ED50, u16 version, u16 header size, u64 body size>`;
its body is a list of entries `<u16 kind (1 PTX, 2 ELF cubin), u16 version, u32 header size,
u64 payload size, ...>` whose u32 at offset 28 is the SM version (90 for sm_90). The layout
is the one `cuobjdump` reads; it is not formally documented, so a failed parse means "no
fatbin found", never a crash.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

FATBIN_MAGIC = 0xBA55ED50
_HEADER = struct.Struct("<IHHQ")
_ENTRY = struct.Struct("<HHIQ")
_SM_OFFSET = 28
_KINDS = {1: "ptx", 2: "cubin"}


@dataclass(frozen=True)
class GpuCode:
    """What GPU code a library carries."""

    #: (kind, "sm_XY") for each entry of each fatbin found, e.g. ("cubin", "sm_90").
    entries: tuple[tuple[str, str], ...]
    #: Total bytes of the fatbins.
    fatbin_bytes: int
    #: Whether CUDA C++ kernel source text (`__global__`) is embedded.
    has_cuda_source: bool

    @property
    def arches(self) -> set[str]:
        """The SM architectures with compiled (cubin) code."""
        return {arch for kind, arch in self.entries if kind == "cubin"}


def inspect_library(path: Path) -> GpuCode:
    """Scan the library at `path` for fatbins and CUDA source."""
    data = path.read_bytes()
    entries: list[tuple[str, str]] = []
    total = 0
    start = data.find(struct.pack("<I", FATBIN_MAGIC))
    while start >= 0:
        size = _parse_fatbin(data, start, entries)
        total += size
        start = data.find(struct.pack("<I", FATBIN_MAGIC), start + max(size, 4))
    return GpuCode(tuple(entries), total, b"__global__" in data)


def _parse_fatbin(data: bytes, start: int, entries: list[tuple[str, str]]) -> int:
    """Append the entries of the fatbin at `start`; return its size (0 if it is not one)."""
    if start + _HEADER.size > len(data):
        return 0
    _, _, header_size, body_size = _HEADER.unpack_from(data, start)
    end = start + header_size + body_size
    if header_size < _HEADER.size or end > len(data):
        return 0
    at = start + header_size
    while at + _SM_OFFSET + 4 <= end:
        kind, _, entry_header, payload = _ENTRY.unpack_from(data, at)
        if entry_header == 0 or kind not in _KINDS:
            break
        (sm,) = struct.unpack_from("<I", data, at + _SM_OFFSET)
        entries.append((_KINDS[kind], f"sm_{sm}"))
        at += entry_header + payload
    return end - start

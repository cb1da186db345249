"""Write the one-file artifact: shared library, manifest, trailer (see docs/artifact.md)."""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path
from typing import Any

MAGIC = b"EMBERART"
SCHEMA = 1
#: The trailer's layout version; the runtime refuses any other.
TRAILER_VERSION = 2
#: payload size, manifest size, CRC-32 of the manifest, trailer version, magic (32 bytes).
_TRAILER = struct.Struct("<QQII8s")
_CHUNK = 1 << 20


def payload_crc32(path: Path) -> int:
    """CRC-32 of a file, read in chunks (weights can be gigabytes)."""
    crc = 0
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            crc = zlib.crc32(chunk, crc)
    return crc


def write_artifact(payload: Path, manifest: dict[str, Any], output: Path) -> None:
    """Append `manifest` and the trailer to `payload`, then move it to `output` atomically.

    `payload` must live on the same file system as `output` (a temporary file beside it), so
    the final rename either publishes a complete artifact or leaves nothing.
    """
    size = payload.stat().st_size
    manifest = dict(manifest, schema=SCHEMA, format="ember-artifact")
    manifest["payload"] = {"size": size, "crc32": f"{payload_crc32(payload):08x}"}
    text = json.dumps(manifest, indent=1, sort_keys=True).encode("utf-8")
    with payload.open("ab") as f:
        f.write(text)
        f.write(_TRAILER.pack(size, len(text), zlib.crc32(text), TRAILER_VERSION, MAGIC))
        f.flush()
        os.fsync(f.fileno())
    os.replace(payload, output)

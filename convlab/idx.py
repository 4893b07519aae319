"""The IDX file format of MNIST and Fashion-MNIST: gzip or plain, header checked against length.

An IDX file is a 4-byte magic number (0x000008NN: unsigned bytes, NN dimensions), NN big-endian
32-bit sizes, then the bytes themselves. ``convlab.data`` finds, downloads and verifies the files
(checksums per dataset); this module only turns bytes into arrays, refusing anything malformed
with a ``DataFileError`` that names the file.
"""
from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

__all__ = ["MAGIC_IMAGES", "MAGIC_LABELS", "DataFileError", "decompress", "parse_idx"]

MAGIC_IMAGES = 2051  # 0x00000803: unsigned bytes, 3 dimensions (N, rows, cols)
MAGIC_LABELS = 2049  # 0x00000801: unsigned bytes, 1 dimension (N,)
_IDX_UBYTE = 0x08


class DataFileError(ValueError):
    """An IDX file is truncated, corrupt, or not the file it claims to be. Names the file."""


def decompress(path: Path, raw: bytes) -> bytes:
    """The IDX payload of ``raw``: gunzipped when it starts with the gzip magic 1f 8b."""
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except EOFError as e:
        raise DataFileError(f"file {path} is truncated: its gzip stream ends early ({e}); "
                            f"delete it and download it again") from None
    except (OSError, zlib.error) as e:  # gzip.BadGzipFile is an OSError (bad CRC, bad header)
        raise DataFileError(f"file {path} is corrupt: it starts like gzip but cannot be "
                            f"decompressed ({e}); delete it and download it again") from None


def parse_idx(path: Path, data: bytes, expected_magic: int | None) -> np.ndarray:
    """Validate the IDX header of ``data`` against its length and return the uint8 array
    (read-only view of ``data``)."""
    if len(data) < 4:
        raise DataFileError(f"file {path} is truncated: {len(data)} bytes, too short to hold "
                            f"the 4-byte IDX magic number")
    (magic,) = struct.unpack(">I", data[:4])
    if expected_magic is not None and magic != expected_magic:
        kinds = {MAGIC_IMAGES: "an images file", MAGIC_LABELS: "a labels file"}
        what = kinds.get(magic, "not an MNIST IDX file")
        raise DataFileError(f"file {path} has magic number {magic} (0x{magic:08x}, {what}); "
                            f"expected {expected_magic} (0x{expected_magic:08x}, "
                            f"{kinds[expected_magic]})")
    if magic >> 16 != 0 or (magic >> 8) & 0xFF != _IDX_UBYTE or not 1 <= magic & 0xFF <= 4:
        raise DataFileError(f"file {path} has magic number {magic} (0x{magic:08x}); expected "
                            f"an IDX file of unsigned bytes (0x000008NN, NN = number of dimensions)")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataFileError(f"file {path} is truncated: its IDX header needs {header} bytes "
                            f"but the file has only {len(data)}")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    expected = int(np.prod(dims, dtype=np.int64))
    body = len(data) - header
    if body != expected:
        if ndim == 3:
            said = f"{dims[0]} images of {dims[1]}x{dims[2]}"
        elif ndim == 1:
            said = f"{dims[0]} labels"
        else:
            said = "shape " + "x".join(map(str, dims))
        problem = "is truncated" if body < expected else "has extra bytes"
        raise DataFileError(f"file {path} {problem}: header says {said} ({expected} bytes) "
                            f"but {body} bytes follow")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)

"""The IDX file format of MNIST and Fashion-MNIST: gzip or plain, header checked against length.

An IDX file is a 4-byte magic number (0x000008NN: unsigned bytes, NN dimensions), NN big-endian
32-bit sizes, then the bytes themselves. ``convlab.data`` finds, downloads and verifies the files
(checksums per dataset); this module only turns bytes into arrays, refusing anything malformed
with a ``DataFileError`` that names the file.

A file is read as a stream and never further than its header says (plus one byte, to tell a file
with extra bytes from an exact one), so a small gzip file that decompresses to gigabytes is
refused after reading what its header promised, not after decompressing it all.
"""
from __future__ import annotations

import contextlib
import gzip
import hashlib
import struct
import zlib
from pathlib import Path

import numpy as np

__all__ = ["MAGIC_IMAGES", "MAGIC_LABELS", "MAX_BYTES", "DataFileError", "read", "payload_sha256"]

MAGIC_IMAGES = 2051  # 0x00000803: unsigned bytes, 3 dimensions (N, rows, cols)
MAGIC_LABELS = 2049  # 0x00000801: unsigned bytes, 1 dimension (N,)
_IDX_UBYTE = 0x08
MAX_BYTES = 1 << 30  # the most an IDX file may hold (MNIST's largest holds 47,040,016 bytes)
_CHUNK = 1 << 20


class DataFileError(ValueError):
    """An IDX file is truncated, corrupt, or not the file it claims to be. Names the file."""


@contextlib.contextmanager
def _open(path: Path):
    """``path`` open for reading its IDX payload: through gzip when it starts with 1f 8b. Errors
    of the gzip stream, wherever they happen while reading, become DataFileErrors."""
    with open(path, "rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        if not gzipped:
            yield raw
            return
        try:
            with gzip.GzipFile(fileobj=raw) as f:
                yield f
        except EOFError as e:
            raise DataFileError(f"file {path} is truncated: its gzip stream ends early ({e}); "
                                f"delete it and download it again") from None
        except (OSError, zlib.error) as e:  # gzip.BadGzipFile is an OSError (bad CRC, bad header)
            raise DataFileError(f"file {path} is corrupt: it starts like gzip but cannot be "
                                f"decompressed ({e}); delete it and download it again") from None


def _read_upto(f, n: int) -> bytearray:
    """At most ``n`` bytes of ``f`` (fewer at its end), read in chunks: memory grows only with
    the bytes that really arrive, whatever ``n`` is."""
    out = bytearray()
    while len(out) < n:
        chunk = f.read(min(_CHUNK, n - len(out)))
        if not chunk:
            break
        out += chunk
    return out


def read(path: Path, expected_magic: int | None) -> tuple[np.ndarray, str]:
    """The uint8 array of the IDX file at ``path`` (gzip or plain) and the sha256 of its
    decompressed bytes. The header is checked (magic number, dimensions no larger than
    ``MAX_BYTES``) before the data is read, and the data is read only as far as the header says."""
    with _open(path) as f:
        head = bytes(_read_upto(f, 4))
        if len(head) < 4:
            raise DataFileError(f"file {path} is truncated: {len(head)} bytes, too short to hold "
                                f"the 4-byte IDX magic number")
        (magic,) = struct.unpack(">I", head)
        if expected_magic is not None and magic != expected_magic:
            kinds = {MAGIC_IMAGES: "an images file", MAGIC_LABELS: "a labels file"}
            what = kinds.get(magic, "not an MNIST IDX file")
            raise DataFileError(f"file {path} has magic number {magic} (0x{magic:08x}, {what}); "
                                f"expected {expected_magic} (0x{expected_magic:08x}, "
                                f"{kinds[expected_magic]})")
        if magic >> 16 != 0 or (magic >> 8) & 0xFF != _IDX_UBYTE or not 1 <= magic & 0xFF <= 4:
            raise DataFileError(f"file {path} has magic number {magic} (0x{magic:08x}); expected "
                                f"an IDX file of unsigned bytes (0x000008NN, NN = number of "
                                f"dimensions)")
        ndim = magic & 0xFF
        sizes = bytes(_read_upto(f, 4 * ndim))
        if len(sizes) < 4 * ndim:
            raise DataFileError(f"file {path} is truncated: its IDX header needs {4 + 4 * ndim} "
                                f"bytes but the file has only {4 + len(sizes)}")
        dims = struct.unpack(f">{ndim}I", sizes)     # unsigned: never negative
        expected = int(np.prod(dims, dtype=object))
        if ndim == 3:
            said = f"{dims[0]} images of {dims[1]}x{dims[2]}"
        elif ndim == 1:
            said = f"{dims[0]} labels"
        else:
            said = "shape " + "x".join(map(str, dims))
        if expected > MAX_BYTES:
            raise DataFileError(f"file {path} has a header that says {said} ({expected:,} bytes), "
                                f"more than the {MAX_BYTES:,} bytes an IDX file may hold")
        body = _read_upto(f, expected + 1)               # one more: are there extra bytes?
    if len(body) < expected:
        raise DataFileError(f"file {path} is truncated: header says {said} ({expected} bytes) "
                            f"but {len(body)} bytes follow")
    if len(body) > expected:
        raise DataFileError(f"file {path} has extra bytes: header says {said} ({expected} bytes) "
                            f"but more follow")
    digest = hashlib.sha256(head + sizes)
    digest.update(body)
    return np.frombuffer(body, dtype=np.uint8).reshape(dims), digest.hexdigest()


def payload_sha256(path: Path) -> str | None:
    """The sha256 of the decompressed bytes of ``path``, read in chunks; None when they are more
    than ``MAX_BYTES`` (reading stops there)."""
    digest, total = hashlib.sha256(), 0
    with _open(path) as f:
        while total <= MAX_BYTES:
            chunk = f.read(_CHUNK)
            if not chunk:
                return digest.hexdigest()
            digest.update(chunk)
            total += len(chunk)
    return None

"""Decompression bombs built on the fly (small on disk, huge once decompressed) and a meter of the
bytes a reader decompresses (issue 20, item 4). The meter counts what zlib produces, so it
measures any reader (gzip, zipfile, numpy's loader), whatever its own buffering; it measures
bytes, not time, so a loaded machine cannot change the result."""
from __future__ import annotations

import gzip
import io
import zipfile
import zlib

import numpy as np

MB = 1 << 20


class _Metered:
    """A zlib decompressor that adds the length of everything it produces to ``total[0]``."""

    def __init__(self, inner, total):
        self._inner, self._total = inner, total

    def decompress(self, data, max_length=0):
        out = self._inner.decompress(data, max_length)
        self._total[0] += len(out)
        return out

    def flush(self, *args):
        out = self._inner.flush(*args)
        self._total[0] += len(out)
        return out

    def __getattr__(self, name):          # eof, unused_data, unconsumed_tail
        return getattr(self._inner, name)


def meter_decompression(monkeypatch):
    """From now on (for one test), count every byte zlib decompresses: gzip and zipfile both
    decompress through ``zlib.decompressobj``. Returns a list whose only item is the count."""
    total = [0]
    real = zlib.decompressobj
    monkeypatch.setattr(zlib, "decompressobj", lambda *a, **k: _Metered(real(*a, **k), total))
    return total


def gzip_zeros(megabytes: int) -> bytes:
    """``megabytes`` MB of zeros as gzip: that many gzip members of 1 MB each, about 1 kB apiece
    on disk (a gzip reader decompresses concatenated members as one stream)."""
    return gzip.compress(bytes(MB)) * megabytes


def npy_header(shape, descr="<f4") -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False,
                                               "shape": tuple(shape)})
    return buf.getvalue()


def add_member(path, name: str, head: bytes, zero_bytes: int) -> None:
    """Append to the zip archive ``path`` a deflated member ``name``: ``head`` then ``zero_bytes``
    zeros (about 1 kB on disk per MB of zeros)."""
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as zf:
        with zf.open(name, "w", force_zip64=True) as f:
            f.write(head)
            for start in range(0, zero_bytes, MB):
                f.write(bytes(min(MB, zero_bytes - start)))

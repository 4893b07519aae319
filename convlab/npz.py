"""Reading .npz files safely: plain arrays only (never pickle), and nothing decompressed that the
zip directory and the .npy headers do not account for. Used for params files (``convlab.nets``)
and training state (``convlab.train``).

An .npz is a zip archive of .npy members. ``NpzArchive`` opens one in three steps, each refusing
a crafted file before the next reads anything:

* its ``names`` come from the zip directory alone (nothing is decompressed): a caller can refuse
  an unknown member before reading a byte of it;
* ``header(name)`` reads one member's .npy header (a few hundred bytes) and refuses pickled
  objects, and a member whose declared size in the zip directory is not exactly what the header's
  shape needs (the zip reader never decompresses more than that declared size);
* ``read(name)`` reads the array.
"""
from __future__ import annotations

import contextlib
import os
import zipfile
import zlib

import numpy as np

__all__ = ["NpzArchive", "read_npz"]

# What can go wrong opening a crafted archive or reading a member: a bad CRC or local header
# (BadZipFile), a stream cut short (EOFError, read_array's ValueError), corrupt deflate data
# (zlib.error), encryption (RuntimeError), an unknown compression method or zip version
# (NotImplementedError).
_ERRORS = (ValueError, OSError, EOFError, RuntimeError, NotImplementedError, zipfile.BadZipFile,
           zlib.error)


def read_npz(file_name):
    """Read an .npz of plain arrays into a dict; ValueError naming the file for anything else.
    Every member's header is checked before any array is read."""
    with NpzArchive(file_name) as z:
        for name in z.names:
            z.header(name)
        return {name: z.read(name) for name in z.names}


class NpzArchive:
    """An .npz archive open for checked reading (see the module's docstring); a context manager.
    Every failure is a ValueError naming the file (FileNotFoundError when there is no file)."""

    def __init__(self, file_name):
        self.where = (f"file_name {os.fspath(file_name)!r}"
                      if isinstance(file_name, (str, os.PathLike)) else "file_name")
        try:
            self._zf = zipfile.ZipFile(file_name)
        except FileNotFoundError:
            raise
        except _ERRORS as e:
            raise _not_an_npz(file_name, self.where, e) from None
        self._members, self._headers = {}, {}
        try:
            for info in self._zf.infolist():
                if not info.filename.endswith(".npy"):
                    raise ValueError(f"{self.where} holds {info.filename!r}, which is not a .npy "
                                     f"array")
                name = info.filename[:-4]
                if name in self._members:
                    raise ValueError(f"{self.where} holds two arrays named {name!r}")
                self._members[name] = info
        except BaseException:
            self._zf.close()
            raise

    @property
    def names(self):
        """The arrays' names, from the zip directory (nothing decompressed)."""
        return list(self._members)

    def header(self, name):
        """(shape, dtype) of array ``name``, from its .npy header alone."""
        if name not in self._headers:
            info = self._members[name]
            with self._reading(name), self._zf.open(info) as f:
                self._headers[name] = _check_header(f, info, name, self.where)
        return self._headers[name]

    def read(self, name):
        """Array ``name``, its header checked first."""
        self.header(name)
        with self._reading(name), self._zf.open(self._members[name]) as f:
            return np.lib.format.read_array(f, allow_pickle=False)

    @contextlib.contextmanager
    def _reading(self, name):
        try:
            yield
        except _ERRORS as e:
            if str(e).startswith(self.where):
                raise
            raise ValueError(f"{self.where}: array {name!r} cannot be read ({e})") from None

    def close(self):
        self._zf.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _check_header(f, info, name, where):
    """(shape, dtype) from the .npy header at the start of member ``f``: plain numbers, and
    exactly as many bytes declared for the member as the header and its shape need."""
    try:
        read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                       (2, 0): np.lib.format.read_array_header_2_0}.get(np.lib.format.read_magic(f))
        if read_header is None:
            raise ValueError("unsupported .npy format version")
        shape, _, dtype = read_header(f)
    except ValueError as e:
        raise ValueError(f"{where}: array {name!r} has no valid .npy header ({e})") from None
    if dtype.hasobject:
        raise ValueError(f"{where}: array {name!r} holds pickled objects; convlab loads parameters "
                         f"only from .npz files of plain arrays (pickle can run code)")
    needed = f.tell() + int(np.prod(shape, dtype=object)) * dtype.itemsize
    if needed > info.file_size:
        raise ValueError(f"{where}: array {name!r} claims shape {shape} ({dtype}), more data than "
                         f"its {info.file_size} bytes hold")
    if needed < info.file_size:
        raise ValueError(f"{where}: array {name!r} declares {info.file_size:,} bytes in the zip "
                         f"directory, more than the {needed:,} its shape {shape} ({dtype}) needs")
    return shape, dtype


def _not_an_npz(file_name, where, e):
    """The ValueError for a file that zipfile cannot open: a pickle, a single .npy or other bytes."""
    is_pickle = False
    if isinstance(file_name, (str, bytes, os.PathLike)) and os.path.isfile(file_name):
        with open(file_name, "rb") as f:
            head = f.read(6)
        is_pickle = head[:1] == b"\x80"   # every pickle protocol >= 2 starts so
        if head == b"\x93NUMPY":
            return ValueError(f"{where} is a single .npy array, not an .npz archive of named "
                              f"parameters")
    if is_pickle:
        return ValueError(f"{where} holds pickled data; convlab loads parameters only from .npz "
                          f"files of plain arrays (pickle can run code)")
    return ValueError(f"{where} is not an .npz archive of named arrays (unrecognised content: "
                      f"{e})")

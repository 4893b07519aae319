"""Reading .npz files safely: plain arrays only (never pickle), and every member's header read
before its data, so that a file claiming more data than it holds is refused before anything is
allocated. Used for params files (``convlab.nets``) and training state (``convlab.train``)."""
from __future__ import annotations

import os
import zipfile

import numpy as np

__all__ = ["read_npz"]


def read_npz(file_name):
    """Read an .npz of plain arrays into a dict; ValueError naming the file for anything else.
    Each member's header is read first, so a header that claims more data than the member holds
    is refused before anything is allocated."""
    where = f"file_name {os.fspath(file_name)!r}" if isinstance(file_name, (str, os.PathLike)) else "file_name"
    try:
        with zipfile.ZipFile(file_name) as zf:
            for info in zf.infolist():
                _check_member(zf, info, where)
        z = np.load(file_name, allow_pickle=False)
        with z:
            return {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise
    except (ValueError, OSError, zipfile.BadZipFile, EOFError, KeyError) as e:
        if str(e).startswith(where):
            raise
        is_pickle = "Object arrays" in str(e)
        if isinstance(file_name, (str, bytes, os.PathLike)):
            with open(file_name, "rb") as f:
                head = f.read(6)
            is_pickle = is_pickle or head[:1] == b"\x80"   # every pickle protocol >= 2 starts so
            if head == b"\x93NUMPY":
                raise ValueError(f"{where} is a single .npy array, not an .npz archive of named "
                                 f"parameters") from None
        if is_pickle:
            raise ValueError(f"{where} holds pickled data; convlab loads parameters only from .npz "
                             f"files of plain arrays (pickle can run code)") from None
        raise ValueError(f"{where} is not an .npz archive of named arrays (unrecognised content: "
                         f"{e})") from None


def _check_member(zf, info, where):
    """One member of an .npz: a .npy array of plain numbers no larger than the member itself."""
    if not info.filename.endswith(".npy"):
        raise ValueError(f"{where} holds {info.filename!r}, which is not a .npy array")
    name = info.filename[:-4]
    with zf.open(info) as f:
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
    if int(np.prod(shape, dtype=object)) * dtype.itemsize > info.file_size:
        raise ValueError(f"{where}: array {name!r} claims shape {shape} ({dtype}), more data than "
                         f"its {info.file_size} bytes hold")

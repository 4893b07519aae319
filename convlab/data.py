"""MNIST: find, download, verify and parse the four IDX files.

Used in ``notebooks/06_training.ipynb`` (training SimpleConvNet on the real data).

``load_mnist()`` returns the book's forms::

    (x_train, t_train), (x_test, t_test) = load_mnist(normalize=True, flatten=True,
                                                      one_hot_label=False)

Where the files are looked for (the first that applies is the one directory used):

1. the ``data_dir`` argument;
2. the environment variable ``CONVLAB_MNIST_DIR``;
3. ``<repo>/data/mnist/`` (``<repo>`` is the folder that holds the ``convlab`` package).

Each of the four files may be gzip-compressed (``name.gz``) or plain (``name``); the format is
told by the first two bytes (gzip starts with 1f 8b), not by the name. Files that are missing
are downloaded into that directory from the mirrors in ``MIRRORS`` (or the ``mirrors`` argument,
or ``CONVLAB_MNIST_MIRRORS``: base URLs separated by spaces or commas), tried in turn. A download
is written to a temporary file next to its final name and renamed into place only after the
sha256 of its decompressed bytes matches ``SHA256``; a partial or wrong file never sits under the
final name. Files already present are never overwritten or deleted: a corrupt one is refused
with an error that names it.
"""
from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import struct
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zlib
from pathlib import Path

import numpy as np

__all__ = ["load_mnist", "read_idx", "download_mnist", "find_mnist_dir", "default_data_dir",
           "MNISTUnavailableError", "MNISTFileError", "FILES", "SHA256", "MIRRORS"]

ENV_DIR = "CONVLAB_MNIST_DIR"
ENV_MIRRORS = "CONVLAB_MNIST_MIRRORS"

# Order matters: (train images, train labels, test images, test labels).
FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

# sha256 of the *decompressed* IDX bytes, as published for the original MNIST files. Different
# gzip wrappers of the same data differ byte for byte, so the .gz bytes are never hashed.
SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

# Public mirrors of the original files (the first host, yann.lecun.com, now answers 403).
MIRRORS = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
]

TIMEOUT = 30.0  # seconds allowed for connecting and for each read from a mirror

MAGIC_IMAGES = 2051  # 0x00000803: unsigned bytes, 3 dimensions (N, rows, cols)
MAGIC_LABELS = 2049  # 0x00000801: unsigned bytes, 1 dimension (N,)
_IDX_UBYTE = 0x08

_CHUNK = 1 << 16


class MNISTUnavailableError(RuntimeError):
    """The MNIST files are not on disk and could not be downloaded (offline, or every mirror
    failed). The message says which mirrors failed and where to put the four files."""


class MNISTFileError(ValueError):
    """An MNIST/IDX file is truncated, corrupt, or not the file it claims to be. Names the file."""


# ---------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------

def _decompress(path: Path, raw: bytes) -> bytes:
    """The IDX payload of ``raw``: gunzipped when it starts with the gzip magic 1f 8b."""
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except EOFError as e:
        raise MNISTFileError(f"file {path} is truncated: its gzip stream ends early ({e}); "
                             f"delete it and download it again") from None
    except (OSError, zlib.error) as e:  # gzip.BadGzipFile is an OSError (bad CRC, bad header)
        raise MNISTFileError(f"file {path} is corrupt: it starts like gzip but cannot be "
                             f"decompressed ({e}); delete it and download it again") from None


def _parse_idx(path: Path, data: bytes, expected_magic: int | None) -> np.ndarray:
    """Validate the IDX header of ``data`` against its length and return the uint8 array
    (read-only view of ``data``)."""
    if len(data) < 4:
        raise MNISTFileError(f"file {path} is truncated: {len(data)} bytes, too short to hold "
                             f"the 4-byte IDX magic number")
    (magic,) = struct.unpack(">I", data[:4])
    if expected_magic is not None and magic != expected_magic:
        kinds = {MAGIC_IMAGES: "an images file", MAGIC_LABELS: "a labels file"}
        what = kinds.get(magic, "not an MNIST IDX file")
        raise MNISTFileError(f"file {path} has magic number {magic} (0x{magic:08x}, {what}); "
                             f"expected {expected_magic} (0x{expected_magic:08x}, "
                             f"{kinds[expected_magic]})")
    if magic >> 16 != 0 or (magic >> 8) & 0xFF != _IDX_UBYTE or not 1 <= magic & 0xFF <= 4:
        raise MNISTFileError(f"file {path} has magic number {magic} (0x{magic:08x}); expected "
                             f"an IDX file of unsigned bytes (0x000008NN, NN = number of dimensions)")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(data) < header:
        raise MNISTFileError(f"file {path} is truncated: its IDX header needs {header} bytes "
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
        raise MNISTFileError(f"file {path} {problem}: header says {said} ({expected} bytes) "
                             f"but {body} bytes follow")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def read_idx(path, expected_magic: int | None = None, sha256: str | None = None) -> np.ndarray:
    """Read one IDX file of unsigned bytes (gzip or plain) and return it as a uint8 array.

    Checks, in this order, each failure raising ``MNISTFileError`` (a ValueError) naming the file:
    that gzip data decompresses; the magic number (``expected_magic``, e.g. 2051 for images,
    2049 for labels); that the header's dimensions match the number of bytes; and, when
    ``sha256`` is given, the sha256 of the decompressed bytes.
    Parsing is one ``np.frombuffer``: no Python loop over pixels.
    """
    path = Path(path)
    data = _decompress(path, path.read_bytes())
    array = _parse_idx(path, data, expected_magic)
    if sha256 is not None:
        digest = hashlib.sha256(data).hexdigest()
        if digest != sha256:
            raise MNISTFileError(f"file {path} is corrupt or not the original MNIST file: the "
                                 f"sha256 of its decompressed bytes is {digest}, expected {sha256}; "
                                 f"delete it and download it again")
    return array.copy()  # writable, and independent of the bytes object


# ---------------------------------------------------------------------------------------------
# Finding the files
# ---------------------------------------------------------------------------------------------

def default_data_dir() -> Path:
    """``<repo>/data/mnist``, where ``<repo>`` is the folder that holds the ``convlab`` package."""
    return Path(__file__).resolve().parent.parent / "data" / "mnist"


def find_mnist_dir(data_dir=None) -> Path:
    """The one directory MNIST is read from (and downloaded into): ``data_dir`` if given, else
    ``$CONVLAB_MNIST_DIR`` if set and not empty, else ``default_data_dir()``."""
    if data_dir is not None:
        if not isinstance(data_dir, (str, os.PathLike)):
            raise TypeError(f"data_dir must be a path (str or os.PathLike) or None, got "
                            f"{data_dir!r} ({type(data_dir).__name__})")
        return Path(data_dir).expanduser()
    env = os.environ.get(ENV_DIR, "").strip()
    if env:
        return Path(env).expanduser()
    return default_data_dir()


def _existing(directory: Path, name: str) -> Path | None:
    """``name.gz`` or plain ``name`` inside ``directory``, whichever exists (.gz first)."""
    for candidate in (directory / f"{name}.gz", directory / name):
        if candidate.is_file():
            return candidate
    return None


def _mirror_list(mirrors) -> list[str]:
    """The mirrors to try: the argument, else ``$CONVLAB_MNIST_MIRRORS``, else ``MIRRORS``."""
    if mirrors is None:
        env = os.environ.get(ENV_MIRRORS, "").strip()
        mirrors = env.replace(",", " ").split() if env else list(MIRRORS)
    elif isinstance(mirrors, str):
        mirrors = mirrors.replace(",", " ").split()
    elif isinstance(mirrors, (list, tuple)):
        mirrors = list(mirrors)
    else:
        raise TypeError(f"mirrors must be None, a string or a list of base URLs, got "
                        f"{mirrors!r} ({type(mirrors).__name__})")
    for m in mirrors:
        if not isinstance(m, str) or urllib.parse.urlparse(m).scheme not in ("http", "https", "file"):
            raise ValueError(f"mirrors must be http(s):// or file:// base URLs, got {m!r}")
    return mirrors


def _where_to_put(directory: Path) -> str:
    names = "\n".join(f"    {n}.gz" for n in FILES)
    return (f"To fix this, put the four MNIST files (gzip-compressed .gz, or uncompressed without "
            f".gz) into\n    {directory}\n{names}\nor set the environment variable {ENV_DIR} to "
            f"a directory that holds them (or pass data_dir=...).")


# ---------------------------------------------------------------------------------------------
# Downloading
# ---------------------------------------------------------------------------------------------

def _fetch(url: str, tmp, name: str, timeout: float, progress: bool) -> None:
    """Stream ``url`` into the open binary file ``tmp`` with a progress bar; raise OSError if the
    server closes the connection before sending the Content-Length it announced."""
    from tqdm.auto import tqdm

    with urllib.request.urlopen(url, timeout=timeout) as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        received = 0
        with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=name,
                  leave=False, disable=not progress) as bar:
            while True:
                chunk = response.read(_CHUNK)
                if not chunk:
                    break
                tmp.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
    if total is not None and received != total:
        raise OSError(f"connection closed after {received} of {total} bytes")


def _check_download(path: Path, name: str) -> None:
    """Raise MNISTFileError unless ``path`` decompresses and its sha256 matches ``SHA256[name]``."""
    try:
        data = _decompress(path, path.read_bytes())
    except MNISTFileError:
        raise MNISTFileError("downloaded bytes are not a complete gzip file") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHA256[name]:
        raise MNISTFileError(f"downloaded file has sha256 {digest} (of its decompressed bytes), "
                             f"expected {SHA256[name]}")


def _download_one(name: str, directory: Path, mirrors: list[str], timeout: float,
                  progress: bool, failures: list[str]) -> bool:
    """Try each mirror in turn for ``name.gz``; on success the verified file is renamed to
    ``directory/name.gz``. Failures are appended to ``failures``. A KeyboardInterrupt (or any
    other unexpected exception) removes the temporary file and propagates."""
    final = directory / f"{name}.gz"
    for mirror in mirrors:
        url = mirror.rstrip("/") + f"/{name}.gz"
        try:
            fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.gz.", suffix=".part", dir=directory)
        except OSError as e:
            failures.append(f"cannot write a temporary file in {directory}: {e}")
            return False
        tmp_path = Path(tmp_name)
        try:
            try:
                with os.fdopen(fd, "wb") as tmp:
                    _fetch(url, tmp, name, timeout, progress)
                _check_download(tmp_path, name)
            except urllib.error.HTTPError as e:
                e.close()
                failures.append(f"{url}: HTTP {e.code} {e.reason}")
                continue
            except (OSError, ValueError, http.client.HTTPException) as e:
                # URLError, timeouts, resets, short reads (OSError, IncompleteRead), bad bytes
                reason = getattr(e, "reason", None) or e
                failures.append(f"{url}: {type(e).__name__}: {reason}")
                continue
            os.replace(tmp_path, final)  # atomic: the final name only ever holds a verified file
            return True
        finally:
            if tmp_path.exists():
                tmp_path.unlink()
    return False


def download_mnist(data_dir=None, mirrors=None, timeout: float | None = None,
                   progress: bool = True) -> Path:
    """Download whichever of the four MNIST files are missing from ``find_mnist_dir(data_dir)``.

    Each file is fetched from the mirrors in turn (``timeout`` seconds per connect/read, default
    ``TIMEOUT``), with a tqdm progress bar, into a temporary file that is renamed to
    ``<name>.gz`` only after its checksum passes. Files already present are left alone.
    Raises ``MNISTUnavailableError`` when a file cannot be had from any mirror. Returns the directory.
    """
    directory = find_mnist_dir(data_dir)
    mirror_list = _mirror_list(mirrors)
    timeout = TIMEOUT if timeout is None else timeout
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    missing = [n for n in FILES if _existing(directory, n) is None]
    if not missing:
        return directory
    failures: list[str] = []
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        failures.append(f"cannot create {directory}: {e}")
    else:
        for name in missing:
            if not mirror_list or not _download_one(name, directory, mirror_list, timeout,
                                                    progress, failures):
                break  # every mirror failed for this file: the others would fail the same way
    still = [n for n in FILES if _existing(directory, n) is None]
    if still:
        tried = "\n".join(f"  {f}" for f in failures) or "  (no mirrors given)"
        raise MNISTUnavailableError(
            f"MNIST is not available: {len(still)} of 4 files are missing from {directory} "
            f"({', '.join(still)}) and could not be downloaded.\nMirrors tried:\n{tried}\n"
            + _where_to_put(directory))
    return directory


# ---------------------------------------------------------------------------------------------
# The book's interface
# ---------------------------------------------------------------------------------------------

def _check_flag(name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r} ({type(value).__name__})")
    return bool(value)


def load_mnist(normalize=True, flatten=True, one_hot_label=False, data_dir=None, download=True,
               mirrors=None):
    """Load MNIST as ``((x_train, t_train), (x_test, t_test))`` in the book's forms.

    Taught in ``notebooks/06_training.ipynb``.

    - ``flatten=True``: images (N, 784); ``flatten=False``: (N, 1, 28, 28) (C = 1 channel).
    - ``normalize=True``: float32 in [0, 1] (pixel / 255); ``normalize=False``: uint8 0..255.
    - ``one_hot_label=False``: labels int64 (N,); ``True``: float32 (N, 10) with a single 1 per row.

    N is 60,000 for train and 10,000 for test. Files are read from ``data_dir``, else
    ``$CONVLAB_MNIST_DIR``, else ``<repo>/data/mnist``; missing ones are downloaded there when
    ``download=True`` (mirrors: ``mirrors`` argument, else ``$CONVLAB_MNIST_MIRRORS``, else
    ``MIRRORS``). Every file's decompressed sha256 is checked on every load.
    Raises ``MNISTUnavailableError`` (a RuntimeError) when the files are missing and cannot be
    downloaded, and ``MNISTFileError`` (a ValueError) naming a file that is truncated or corrupt.
    """
    normalize = _check_flag("normalize", normalize)
    flatten = _check_flag("flatten", flatten)
    one_hot_label = _check_flag("one_hot_label", one_hot_label)
    download = _check_flag("download", download)
    directory = find_mnist_dir(data_dir)
    if download:
        download_mnist(directory, mirrors=mirrors)
    else:
        _mirror_list(mirrors)  # still validate the argument
        still = [n for n in FILES if _existing(directory, n) is None]
        if still:
            raise MNISTUnavailableError(
                f"MNIST is not available: {len(still)} of 4 files are missing from {directory} "
                f"({', '.join(still)}) and download=False.\n" + _where_to_put(directory))

    arrays = {}
    for name in FILES:
        magic = MAGIC_IMAGES if "images" in name else MAGIC_LABELS
        arrays[name] = read_idx(_existing(directory, name), magic, SHA256[name])

    out = []
    for images_name, labels_name in ((FILES[0], FILES[1]), (FILES[2], FILES[3])):
        images, labels = arrays[images_name], arrays[labels_name]  # (N, 28, 28) and (N,) uint8
        images_path, labels_path = _existing(directory, images_name), _existing(directory, labels_name)
        if images.shape[1:] != (28, 28):
            raise MNISTFileError(f"file {images_path} holds images of {images.shape[1]}x"
                                 f"{images.shape[2]} pixels; expected 28x28")
        if images.shape[0] != labels.shape[0]:
            raise MNISTFileError(f"file {images_path} holds {images.shape[0]} images but "
                                 f"{labels_path} holds {labels.shape[0]} labels; expected equal counts")
        if labels.size and labels.max() > 9:
            raise MNISTFileError(f"file {labels_path} holds label {int(labels.max())}; "
                                 f"expected digits 0..9")
        N = images.shape[0]
        if flatten:
            x = images.reshape(N, 28 * 28)  # (N, 784)
        else:
            x = images.reshape(N, 1, 28, 28)  # (N, C=1, H, W)
        if normalize:
            x = x.astype(np.float32)
            x /= np.float32(255.0)
        t = labels.astype(np.int64)  # (N,)
        if one_hot_label:
            one_hot = np.zeros((N, 10), dtype=np.float32)  # (N, 10)
            one_hot[np.arange(N), t] = 1.0
            t = one_hot
        out.append((x, t))
    return tuple(out)

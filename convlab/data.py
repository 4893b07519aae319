"""MNIST and Fashion-MNIST: find, download, verify and parse the four IDX files.

Used in ``notebooks/06_training.ipynb`` (training SimpleConvNet on the real data) and after it.

``load_mnist()`` returns the book's forms; ``load_dataset(name)`` does the same for any dataset
in ``DATASETS`` ("mnist", "fashion-mnist"), which share the file format, names and sizes::

    (x_train, t_train), (x_test, t_test) = load_mnist(normalize=True, flatten=True,
                                                      one_hot_label=False)
    (x_train, t_train), (x_test, t_test) = load_dataset("fashion-mnist", flatten=False)
    DATASETS["fashion-mnist"].class_names[t_train[0]]     # 'Ankle boot'

Where the files are looked for (``data_dir``, then ``CONVLAB_<NAME>_DIR``, then ``data/<name>/``,
then a system folder such as Debian's ``/usr/share/datasets/fashion-mnist``), how they are
downloaded (mirrors tried in turn, written under a temporary name, renamed only after the sha256
of the decompressed bytes matches) and checked: ``data/README.md``. Files already present are
never overwritten or deleted; a corrupt one is refused with an error that names it. The format
itself is parsed by ``convlab.idx``.

``available(name)`` tells whether the files are on disk without downloading anything;
``require(name)`` (for the top of a lesson) downloads them if needed or fails with one message
that says how to get them. ``python -m convlab.data NAME`` does the same from a shell.
"""
from __future__ import annotations

import http.client
import os
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

import numpy as np

from . import idx, platform
from .idx import MAGIC_IMAGES, MAGIC_LABELS, DataFileError

__all__ = ["load_dataset", "load_mnist", "available", "require", "how_to_get",
           "download_dataset", "find_data_dir", "find_mnist_dir", "read_idx", "Dataset",
           "DATASETS", "DataUnavailableError", "DataFileError", "MNISTUnavailableError",
           "MNISTFileError", "FILES", "SHA256", "MIRRORS"]

# Order matters: (train images, train labels, test images, test labels). Both datasets use these
# names, 28x28 images and labels 0..9.
FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
H = W = 28

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Dataset:
    """One dataset of four IDX files: where it lives, how to check it, what its labels mean."""

    name: str                      # key in DATASETS and folder name under data/
    title: str                     # how messages write it
    sha256: Mapping[str, str]      # FILES name -> sha256 of the *decompressed* IDX bytes
    mirrors: tuple[str, ...]       # base URLs; "<mirror>/<file>.gz" is fetched
    class_names: tuple[str, ...]   # class_names[label]
    system_dirs: tuple[str, ...] = ()  # read-only folders a system package fills

    @property
    def env_dir(self) -> str:
        return "CONVLAB_" + self.name.upper().replace("-", "_") + "_DIR"

    @property
    def env_mirrors(self) -> str:
        return "CONVLAB_" + self.name.upper().replace("-", "_") + "_MIRRORS"

    @property
    def default_dir(self) -> Path:
        return REPO / "data" / self.name


# sha256 of the *decompressed* IDX bytes, as published for the original files. Different gzip
# wrappers of the same data differ byte for byte, so the .gz bytes are never hashed.
MNIST = Dataset(
    name="mnist",
    title="MNIST",
    sha256=MappingProxyType({
        "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    }),
    # Public mirrors of the original files (the first host, yann.lecun.com, now answers 403).
    mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/",
             "https://storage.googleapis.com/cvdf-datasets/mnist/"),
    class_names=tuple(str(d) for d in range(10)),
)

FASHION_MNIST = Dataset(
    name="fashion-mnist",
    title="Fashion-MNIST",
    sha256=MappingProxyType({
        "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    }),
    mirrors=("https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
             "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"),
    class_names=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                 "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    system_dirs=("/usr/share/datasets/fashion-mnist",),
)

DATASETS: dict[str, Dataset] = {d.name: d for d in (MNIST, FASHION_MNIST)}

# MNIST's tables under their earlier names (read-only).
SHA256 = MNIST.sha256
MIRRORS = MNIST.mirrors

TIMEOUT = 30.0  # seconds allowed for connecting and for each read from a mirror

_CHUNK = 1 << 16


class DataUnavailableError(RuntimeError):
    """The files are not on disk and could not be downloaded (offline, every mirror failed, or
    download=False). The message says where to put them and how to get them."""


# The names the MNIST-only loader used; the same classes.
MNISTUnavailableError = DataUnavailableError
MNISTFileError = DataFileError


def get_dataset(name) -> Dataset:
    """``DATASETS[name]``, or a ValueError that lists the known names."""
    if not isinstance(name, str) or name not in DATASETS:
        known = ", ".join(repr(n) for n in DATASETS)
        raise ValueError(f"name must be one of {known}, got {name!r}")
    return DATASETS[name]


# ---------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------

def _whose(digest: str) -> str:
    """What to do about a file whose payload has sha256 ``digest``: if it is a known file of
    some dataset, say which and how to load it; otherwise advise a fresh download."""
    for ds in DATASETS.values():
        for name, sha in ds.sha256.items():
            if sha == digest:
                return (f"it is {ds.title}'s {name} (load it with "
                        f"load_dataset({ds.name!r}, ...))")
    return "delete it and download it again"


def read_idx(path, expected_magic: int | None = None, sha256: str | None = None) -> np.ndarray:
    """Read one IDX file of unsigned bytes (gzip or plain) and return it as a uint8 array.

    Checks, in this order, each failure raising ``DataFileError`` (a ValueError) naming the file:
    the magic number (``expected_magic``, e.g. 2051 for images, 2049 for labels); that the
    header's dimensions are at most ``convlab.idx.MAX_BYTES``; that the bytes after the header are
    exactly as many as it says (the file is read no further than that, plus one byte); that gzip
    data decompresses; and, when ``sha256`` is given, the sha256 of the decompressed bytes.
    Parsing is one ``np.frombuffer``: no Python loop over pixels.
    """
    path = Path(path)
    array, digest = idx.read(path, expected_magic)
    if sha256 is not None:
        if digest != sha256:
            raise DataFileError(f"file {path} is corrupt or not the expected file: the sha256 of "
                                f"its decompressed bytes is {digest}, expected {sha256}; "
                                + _whose(digest))
    return array  # writable: a view of bytes nothing else holds


# ---------------------------------------------------------------------------------------------
# Finding the files
# ---------------------------------------------------------------------------------------------

def _existing(directory: Path, name: str) -> Path | None:
    """``name.gz`` or plain ``name`` inside ``directory``, whichever exists (.gz first)."""
    for candidate in (directory / f"{name}.gz", directory / name):
        if candidate.is_file():
            return candidate
    return None


def _missing(directory: Path) -> list[str]:
    """The names of FILES that ``directory`` lacks (in either form)."""
    return [n for n in FILES if _existing(directory, n) is None]


def _check_folder(path: Path, source: str, ds: Dataset) -> Path:
    """``path`` unless it, or the nearest of its parents that exists, is not a folder."""
    for p in (path, *path.parents):
        if p.exists():
            if not p.is_dir():
                where = "which is not a folder" if p == path else f"but {p} is not a folder"
                raise ValueError(f"{source} must be a folder for the four {ds.title} files, got "
                                 f"'{path}', {where}")
            break
    return path


def find_data_dir(name, data_dir=None) -> Path:
    """The one folder dataset ``name`` is read from (and downloaded into): ``data_dir`` if
    given, else ``$CONVLAB_<NAME>_DIR`` if set and not empty, else (in the browser only) the
    site's ``data/<name>`` when it holds all four files, else ``data/<name>`` in the
    project when it does, else the first of ``system_dirs`` that does, else
    ``data/<name>``. Raises ValueError if the folder chosen is a file (or lies under one)."""
    ds = get_dataset(name)
    if data_dir is not None:
        if not isinstance(data_dir, (str, os.PathLike)):
            raise TypeError(f"data_dir must be a path (str or os.PathLike) or None, got "
                            f"{data_dir!r} ({type(data_dir).__name__})")
        return _check_folder(Path(data_dir).expanduser(), "data_dir", ds)
    env = os.environ.get(ds.env_dir, "").strip()
    if env:
        return _check_folder(Path(env).expanduser(), ds.env_dir, ds)
    site = (platform.SITE_DATA_DIR / ds.name,) if platform.in_browser() else ()
    for candidate in (*site, ds.default_dir, *map(Path, ds.system_dirs)):
        if candidate.is_dir() and not _missing(candidate):
            return candidate
    return _check_folder(ds.default_dir, "the default data folder", ds)


def find_mnist_dir(data_dir=None) -> Path:
    """``find_data_dir("mnist", data_dir)`` (used by lesson 0)."""
    return find_data_dir("mnist", data_dir)


def available(name, data_dir=None) -> bool:
    """True when all four files of dataset ``name`` are in ``find_data_dir(name, data_dir)``.
    Downloads nothing and reads no file (the checksums are checked when the data is loaded)."""
    return not _missing(find_data_dir(name, data_dir))


def _mirror_list(ds: Dataset, mirrors) -> list[str]:
    """The mirrors to try: the argument, else ``$CONVLAB_<NAME>_MIRRORS``, else ``ds.mirrors``."""
    if mirrors is None:
        env = os.environ.get(ds.env_mirrors, "").strip()
        mirrors = env.replace(",", " ").split() if env else list(ds.mirrors)
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


def _where_to_put(ds: Dataset, directory: Path) -> str:
    names = "\n".join(f"    {n}.gz" for n in FILES)
    return (f"To fix this, put the four {ds.title} files (gzip-compressed .gz, or uncompressed "
            f"without .gz) into\n    {directory}\n{names}\nor set the environment variable "
            f"{ds.env_dir} to a folder that holds them (or pass data_dir=...), or run "
            f"`python -m convlab.data {ds.name}` where the network is reachable.")


def how_to_get(name, python: str = "python") -> str:
    """One line saying where dataset ``name`` was looked for and how to get it (``python``: how
    to call the Python that has convlab, e.g. ``.venv/bin/python``)."""
    ds = get_dataset(name)
    return (f"{ds.title} is not in {find_data_dir(name)}: run `{python} -m convlab.data "
            f"{ds.name}` (downloads it) or set {ds.env_dir} to a folder holding its four files")


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
                if received > idx.MAX_BYTES:
                    raise OSError(f"the server sent more than {idx.MAX_BYTES:,} bytes, more "
                                  f"than an IDX file may hold")
    if total is not None and received != total:
        raise OSError(f"connection closed after {received} of {total} bytes")


def _check_download(path: Path, sha256: str) -> None:
    """Raise DataFileError unless ``path`` decompresses to bytes whose sha256 is ``sha256`` (read
    in chunks, and no more than ``convlab.idx.MAX_BYTES`` of them)."""
    try:
        digest = idx.payload_sha256(path)
    except DataFileError:
        raise DataFileError("downloaded bytes are not a complete gzip file") from None
    if digest is None:
        raise DataFileError(f"downloaded bytes decompress to more than {idx.MAX_BYTES:,} bytes")
    if digest != sha256:
        raise DataFileError(f"downloaded file has sha256 {digest} (of its decompressed bytes), "
                            f"expected {sha256}")


def _download_one(ds: Dataset, name: str, directory: Path, mirrors: list[str], timeout: float,
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
                _check_download(tmp_path, ds.sha256[name])
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


def _new_folders(directory: Path) -> list[Path]:
    """``directory`` and those of its parents that do not exist yet, deepest first."""
    out = []
    for p in (directory, *directory.parents):
        if p.exists():
            break
        out.append(p)
    return out


def download_dataset(name, data_dir=None, mirrors=None, timeout: float | None = None,
                     progress: bool = True) -> Path:
    """Download whichever of the four files of dataset ``name`` are missing from
    ``find_data_dir(name, data_dir)``.

    Each file is fetched from the mirrors in turn (``timeout`` seconds per connect/read, default
    ``TIMEOUT``), with a tqdm progress bar, into a temporary file that is renamed to
    ``<file>.gz`` only after its checksum passes. Files already present are left alone; folders
    this call created are removed again if they end up empty (a failed or interrupted download).
    Raises ``DataUnavailableError`` when a file cannot be had from any mirror. Returns the folder.
    """
    ds = get_dataset(name)
    directory = find_data_dir(name, data_dir)
    mirror_list = _mirror_list(ds, mirrors)
    timeout = TIMEOUT if timeout is None else timeout
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    missing = _missing(directory)
    if not missing:
        return directory
    failures: list[str] = []
    created = _new_folders(directory)
    try:
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            failures.append(f"cannot create {directory}: {e}")
        else:
            for file in missing:
                if not mirror_list or not _download_one(ds, file, directory, mirror_list, timeout,
                                                        progress, failures):
                    break  # every mirror failed for this file: the others would fail the same way
    finally:
        for folder in created:  # deepest first; stops at the first that is not empty
            try:
                folder.rmdir()
            except OSError:
                break
    still = _missing(directory)
    if still:
        tried = "\n".join(f"  {f}" for f in failures) or "  (no mirrors given)"
        raise DataUnavailableError(
            f"{ds.title} is not available: {len(still)} of 4 files are missing from {directory} "
            f"({', '.join(still)}) and could not be downloaded.\nMirrors tried:\n{tried}\n"
            + _where_to_put(ds, directory))
    return directory


def require(name, data_dir=None, download=True, mirrors=None) -> Path:
    """Make sure dataset ``name`` is on disk and return its folder; for the top of a lesson.

    Missing files are downloaded when ``download=True``. When they cannot be had, raises
    ``DataUnavailableError`` with one message that says where they were looked for and how to
    get them. (The checksums are checked by ``load_dataset``.)
    """
    download = _check_flag("download", download)
    ds = get_dataset(name)
    directory = find_data_dir(name, data_dir)
    if download:
        return download_dataset(name, directory, mirrors=mirrors)
    _mirror_list(ds, mirrors)  # still validate the argument
    still = _missing(directory)
    if still:
        raise DataUnavailableError(
            f"{ds.title} is not available: {len(still)} of 4 files are missing from {directory} "
            f"({', '.join(still)}) and download=False.\n" + _where_to_put(ds, directory))
    return directory


# ---------------------------------------------------------------------------------------------
# Loading, in the book's forms
# ---------------------------------------------------------------------------------------------

def _check_flag(name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r} ({type(value).__name__})")
    return bool(value)


def load_dataset(name, normalize=True, flatten=True, one_hot_label=False, data_dir=None,
                 download=True, mirrors=None):
    """Load dataset ``name`` ("mnist" or "fashion-mnist") as ``((x_train, t_train), (x_test,
    t_test))`` in the book's forms.

    - ``flatten=True``: images (N, 784); ``flatten=False``: (N, 1, 28, 28) (C = 1 channel).
    - ``normalize=True``: float32 in [0, 1] (pixel / 255); ``normalize=False``: uint8 0..255.
    - ``one_hot_label=False``: labels int64 (N,); ``True``: float32 (N, 10) with a single 1 per row.
      ``DATASETS[name].class_names[label]`` is a label's name.

    N is 60,000 for train and 10,000 for test. The folder is ``find_data_dir(name, data_dir)``;
    missing files are downloaded there when ``download=True`` (mirrors: ``mirrors`` argument,
    else ``$CONVLAB_<NAME>_MIRRORS``, else ``DATASETS[name].mirrors``). Every file's
    decompressed sha256 is checked on every load.
    Raises ``DataUnavailableError`` (a RuntimeError) when the files are missing and cannot be
    downloaded, and ``DataFileError`` (a ValueError) naming a file that is truncated or corrupt.
    """
    ds = get_dataset(name)
    normalize = _check_flag("normalize", normalize)
    flatten = _check_flag("flatten", flatten)
    one_hot_label = _check_flag("one_hot_label", one_hot_label)
    directory = require(name, data_dir, download=download, mirrors=mirrors)

    n_classes = len(ds.class_names)
    paths = {n: _existing(directory, n) for n in FILES}
    arrays = {n: read_idx(paths[n], MAGIC_IMAGES if "images" in n else MAGIC_LABELS, ds.sha256[n])
              for n in FILES}
    out = []
    for images_name, labels_name in ((FILES[0], FILES[1]), (FILES[2], FILES[3])):
        images, labels = arrays[images_name], arrays[labels_name]  # (N, 28, 28) and (N,) uint8
        images_path, labels_path = paths[images_name], paths[labels_name]
        if images.shape[1:] != (H, W):
            raise DataFileError(f"file {images_path} holds images of {images.shape[1]}x"
                                f"{images.shape[2]} pixels; expected {H}x{W}")
        if images.shape[0] != labels.shape[0]:
            raise DataFileError(f"file {images_path} holds {images.shape[0]} images but "
                                f"{labels_path} holds {labels.shape[0]} labels; expected equal counts")
        if labels.size and labels.max() >= n_classes:
            raise DataFileError(f"file {labels_path} holds label {int(labels.max())}; "
                                f"expected class indices 0..{n_classes - 1}")
        N = images.shape[0]
        if flatten:
            x = images.reshape(N, H * W)  # (N, 784)
        else:
            x = images.reshape(N, 1, H, W)  # (N, C=1, H, W)
        if normalize:
            x = x.astype(np.float32)
            x /= np.float32(255.0)
        t = labels.astype(np.int64)  # (N,)
        if one_hot_label:
            one_hot = np.zeros((N, n_classes), dtype=np.float32)  # (N, 10)
            one_hot[np.arange(N), t] = 1.0
            t = one_hot
        out.append((x, t))
    return tuple(out)


def load_mnist(normalize=True, flatten=True, one_hot_label=False, data_dir=None, download=True,
               mirrors=None):
    """The book's ``load_mnist``: ``load_dataset("mnist", ...)`` with the same arguments.

    Taught in ``notebooks/06_training.ipynb``. Returns ``((x_train, t_train), (x_test, t_test))``:
    images (N, 784) or, with ``flatten=False``, (N, 1, 28, 28); float32 in [0, 1] or, with
    ``normalize=False``, uint8; labels int64 (N,) or, with ``one_hot_label=True``, float32 (N, 10).
    """
    return load_dataset("mnist", normalize=normalize, flatten=flatten,
                        one_hot_label=one_hot_label, data_dir=data_dir, download=download,
                        mirrors=mirrors)


def main(argv=None) -> int:
    """``python -m convlab.data NAME [NAME ...]``: download the named datasets where missing and
    print their folders. Exit 0 when all are on disk, 1 when one cannot be had, 2 for a bad name."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m convlab.data",
        description="Download datasets for convlab (only the files that are missing) and print "
                    "the folder each is read from.")
    parser.add_argument("names", nargs="+", metavar="NAME", choices=list(DATASETS),
                        help="dataset: " + ", ".join(DATASETS))
    args = parser.parse_args(argv)
    status = 0
    for name in args.names:
        try:
            print(f"{name}: {require(name)}")
        except (DataUnavailableError, ValueError) as e:
            print(f"error: {e}", file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
